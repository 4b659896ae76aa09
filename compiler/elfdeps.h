/* elfdeps.h — what the dynamic loader reads from an ELF file: its
 * interpreter (PT_INTERP), the libraries it needs (DT_NEEDED) and where it
 * says to look for them (DT_RPATH, DT_RUNPATH). Read with libelf (gelf),
 * so both ELF classes and both byte orders work whatever the host is.
 *
 * Only the program headers are used, as the loader does: PT_DYNAMIC gives
 * the dynamic entries, DT_STRTAB/DT_STRSZ (virtual addresses, mapped to
 * file offsets through the PT_LOAD segments) their strings. A file whose
 * section headers were stripped is read the same. Every offset and size is
 * checked against the file: a malformed or truncated file is an error
 * (never a crash), with a one-line reason.
 *
 * Ownership: struct elf_facts owns its strings; elf_facts_free frees them. */
#ifndef SMOLC_ELFDEPS_H
#define SMOLC_ELFDEPS_H

#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elf_facts {
	bool is_elf;          /* the file starts with \177ELF */
	unsigned cls;         /* ELFCLASS32 or ELFCLASS64 */
	unsigned data;        /* ELFDATA2LSB or ELFDATA2MSB */
	unsigned machine;     /* e_machine (EM_X86_64, EM_386, EM_AARCH64 …) */
	unsigned type;        /* e_type (ET_EXEC, ET_DYN …) */
	char *interp;         /* PT_INTERP, or NULL */
	struct strvec needed; /* DT_NEEDED, in order */
	char *rpath;          /* DT_RPATH, or NULL */
	char *runpath;        /* DT_RUNPATH, or NULL */
};

/* Read the facts of the `len` bytes at buf (not modified). A buffer that
 * does not start with \177ELF is not an error: is_elf stays false.
 * Returns 0, or -1 with *err (malloc'd, e.g. "truncated: PT_DYNAMIC at
 * offset 12345 is past the end of the file"). */
int elfdeps_read_mem(const void *buf, size_t len, struct elf_facts *f, struct error **err);

/* The same for `size` bytes at offset `off` of the open file fd (mapped
 * read-only; a layer's data file holds many files). */
int elfdeps_read_fd(int fd, uint64_t off, uint64_t size, struct elf_facts *f, struct error **err);

void elf_facts_free(struct elf_facts *f); /* frees contents, not f; NULL-safe */

#endif
