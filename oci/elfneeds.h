/* elfneeds.h — what a dynamically linked ELF program needs to start: its
 * interpreter (PT_INTERP) and the transitive closure of its DT_NEEDED
 * libraries, read with libelf (the program is never run; no ldd).
 *
 * Libraries are found as the dynamic loader finds them when there is no
 * ld.so.cache: the DT_RUNPATH/DT_RPATH of the object that needs them
 * ($ORIGIN expanded), then the multiarch and plain system directories
 * (/lib/<triplet>, /usr/lib/<triplet>, /lib64, /usr/lib64, /lib, /usr/lib).
 *
 * Bounded: at most 512 objects, each ELF read by libelf (no section read
 * is larger than the file).
 *
 * Errors: 0 or -1 with *err (one line naming the file and what is
 * missing; caller frees). Ownership: the result's strings are the
 * caller's (elfdeps_free). */
#ifndef SMOLC_ELFNEEDS_H
#define SMOLC_ELFNEEDS_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>

struct elfdeps_obj {
	char *path;       /* where the loader looks for it (e.g. /lib64/ld-linux-x86-64.so.2,
			     /usr/lib/x86_64-linux-gnu/libz.so.1) */
	char *real;       /* the file it resolves to on this host (realpath) */
};

struct elfdeps {
	struct elfdeps_obj *v;   /* sorted by path, no duplicates */
	size_t n;
	bool is_static;          /* the root program has no PT_INTERP and no DT_NEEDED */
};

/* Add `prog` and everything it needs to *out (which may already hold the
 * closure of another program: shared objects are listed once). The
 * program itself is listed too. */
int elfdeps_add(struct elfdeps *out, const char *prog, struct error **err);
void elfdeps_free(struct elfdeps *d);

#endif
