/* backend.h — libsmolc-backend.so, the part of smolc that links the heavy
 * libraries (libcurl, libarchive, libext2fs, libfdisk, libelf, zlib, libzstd,
 * liblzma and the ~40 shared objects they pull in).
 *
 * ./smolc links libc, libcrypto, libyaml and jansson only, so that check,
 * plan, run, ps and stop start in a few milliseconds. The backend objects
 * (the Makefile's BACKEND_SRCS: the modules that include those libraries'
 * headers) are linked, normally, into libsmolc-backend.so, installed beside
 * the binary. Code in ./smolc that calls a backend function calls a
 * generated stub of the same name (build/gen/backend_tramp.c, written by
 * cli/backend-gen.pl from the objects' symbols and the project's headers);
 * the first such call dlopen()s the backend, once, and checks it is the one
 * this binary was built with. No foreign symbol is shadowed: the boundary is
 * our own functions, and the compiler checks both sides of it.
 *
 * Where the backend is looked for: $SMOLC_BACKEND (a path), else beside the
 * running binary, else ../lib/smolc/ from it (`make install`). */
#ifndef SMOLC_BACKEND_H
#define SMOLC_BACKEND_H

#include "backend_abi.h" /* generated: SMOLC_BACKEND_ABI, a digest of backend_gen.h */
#include "backend_gen.h" /* generated: struct smolc_backend_v1 */

/* The backend, loaded on first use. A backend that is missing, cannot be
 * loaded (a library it needs is not installed) or is from another build is
 * a message saying what to do, and exit 1. */
const struct smolc_backend_v1 *backend_get(void);

/* The same, without exiting: 0, or -1 with *err. */
int backend_load(const struct smolc_backend_v1 **out, struct error **err);

/* The file the backend is (or would be) loaded from; NULL when /proc/self/exe
 * is unreadable. Borrowed, until the next call. */
const char *backend_path(void);

#endif
