/* loc.h — a place in a source file (file index, byte offset, length).
 *
 * The diag context (compiler/diag.h) owns the files the index refers to;
 * common/ only carries locations around (an error record's loc). */
#ifndef SMOLC_LOC_H
#define SMOLC_LOC_H

#include <stdint.h>

struct loc {
	uint32_t file;   /* index into diag_ctx.files; 0 = no location */
	uint32_t off;    /* byte offset of the first byte */
	uint32_t len;    /* length in bytes (0 = a point) */
};

#endif
