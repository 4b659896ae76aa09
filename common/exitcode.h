/* exitcode.h — the process exit codes every command returns (SPEC.md §7).
 * The bottom layer: compiler/, runtime/ and cli/ all use them. */
#ifndef SMOLC_EXITCODE_H
#define SMOLC_EXITCODE_H

#define EXIT_OK 0    /* success */
#define EXIT_FAIL 1  /* a download, the build, QEMU, an I/O error */
#define EXIT_USAGE 2 /* bad usage or a bad recipe */

#endif
