/* elfdeps.c — see elfdeps.h. */
#include "elfdeps.h"

#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void elf_facts_free(struct elf_facts *f)
{
	if (!f)
		return;
	free(f->interp);
	free(f->rpath);
	free(f->runpath);
	sv_free(&f->needed);
	memset(f, 0, sizeof(*f));
}

/* The file offset of virtual address va (a PT_LOAD segment's file part). */
static bool va_to_off(Elf *e, size_t nph, uint64_t va, uint64_t *off)
{
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (va >= ph.p_vaddr && va - ph.p_vaddr < ph.p_filesz) {
			*off = ph.p_offset + (va - ph.p_vaddr);
			return true;
		}
	}
	return false;
}

/* A NUL-terminated string at strtab[i] (strsz bytes), or NULL. */
static const char *str_at(const char *strtab, uint64_t strsz, uint64_t i)
{
	if (i >= strsz || !memchr(strtab + i, 0, strsz - i))
		return NULL;
	return strtab + i;
}

static int read_elf(Elf *e, size_t len, struct elf_facts *f, struct error **err)
{
	GElf_Ehdr eh;
	if (!gelf_getehdr(e, &eh)) {
		error_set(err, "bad ELF header (%s)", elf_errmsg(-1));
		return -1;
	}
	f->cls = eh.e_ident[EI_CLASS];
	f->data = eh.e_ident[EI_DATA];
	f->machine = eh.e_machine;
	f->type = eh.e_type;
	size_t nph = 0;
	if (elf_getphdrnum(e, &nph) < 0) {
		error_set(err, "bad program header count (%s)", elf_errmsg(-1));
		return -1;
	}
	if (nph > 65535) {
		error_set(err, "%zu program headers", nph);
		return -1;
	}
	uint64_t dyn_off = 0, dyn_size = 0;
	bool have_dyn = false;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(e, (int)i, &ph)) {
			error_set(err, "program header %zu is unreadable (%s)", i, elf_errmsg(-1));
			return -1;
		}
		if ((ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC) &&
		    (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)) {
			error_set(err, "truncated: %s at offset %llu (%llu bytes) is past the end of the file (%zu bytes)",
					 ph.p_type == PT_INTERP ? "PT_INTERP" : "PT_DYNAMIC", (unsigned long long)ph.p_offset,
					 (unsigned long long)ph.p_filesz, len);
			return -1;
		}
		if (ph.p_type == PT_INTERP && !f->interp) {
			Elf_Data *d = elf_getdata_rawchunk(e, (int64_t)ph.p_offset, ph.p_filesz, ELF_T_BYTE);
			if (!d || !d->d_buf || !d->d_size || !memchr(d->d_buf, 0, d->d_size)) {
				error_set(err, "PT_INTERP at offset %llu is not a string", (unsigned long long)ph.p_offset);
				return -1;
			}
			f->interp = xstrdup(d->d_buf);
		} else if (ph.p_type == PT_DYNAMIC && !have_dyn) {
			dyn_off = ph.p_offset;
			dyn_size = ph.p_filesz;
			have_dyn = true;
		}
	}
	if (!have_dyn || !dyn_size)
		return 0; /* static */
	Elf_Data *dd = elf_getdata_rawchunk(e, (int64_t)dyn_off, dyn_size, ELF_T_DYN);
	if (!dd) {
		error_set(err, "PT_DYNAMIC is unreadable (%s)", elf_errmsg(-1));
		return -1;
	}
	size_t entsz = gelf_fsize(e, ELF_T_DYN, 1, EV_CURRENT);
	size_t ndyn = entsz ? dyn_size / entsz : 0;
	uint64_t strtab = 0, strsz = 0;
	bool have_strtab = false, have_strsz = false;
	/* two passes: the string table first, then the names in it */
	for (size_t i = 0; i < ndyn; i++) {
		GElf_Dyn dy;
		if (!gelf_getdyn(dd, (int)i, &dy))
			break;
		if (dy.d_tag == DT_NULL)
			break;
		if (dy.d_tag == DT_STRTAB) {
			strtab = dy.d_un.d_ptr;
			have_strtab = true;
		} else if (dy.d_tag == DT_STRSZ) {
			strsz = dy.d_un.d_val;
			have_strsz = true;
		}
	}
	if (!have_strtab || !have_strsz)
		return 0; /* no names */
	uint64_t stroff;
	if (!va_to_off(e, nph, strtab, &stroff) || stroff > len || strsz > len - stroff) {
		error_set(err, "truncated: the dynamic string table (address 0x%llx, %llu bytes) is not in the file",
				 (unsigned long long)strtab, (unsigned long long)strsz);
		return -1;
	}
	Elf_Data *sd = elf_getdata_rawchunk(e, (int64_t)stroff, strsz, ELF_T_BYTE);
	if (!sd || !sd->d_buf) {
		error_set(err, "the dynamic string table is unreadable (%s)", elf_errmsg(-1));
		return -1;
	}
	const char *st = sd->d_buf;
	for (size_t i = 0; i < ndyn; i++) {
		GElf_Dyn dy;
		if (!gelf_getdyn(dd, (int)i, &dy) || dy.d_tag == DT_NULL)
			break;
		if (dy.d_tag != DT_NEEDED && dy.d_tag != DT_RPATH && dy.d_tag != DT_RUNPATH)
			continue;
		const char *s = str_at(st, strsz, dy.d_un.d_val);
		if (!s) {
			error_set(err, "dynamic entry %zu points outside the string table", i);
			return -1;
		}
		if (dy.d_tag == DT_NEEDED) {
			if (f->needed.n >= 4096) {
				error_set(err, "more than 4096 DT_NEEDED entries");
				return -1;
			}
			sv_pushdup(&f->needed, s);
		} else if (dy.d_tag == DT_RPATH && !f->rpath) {
			f->rpath = xstrdup(s);
		} else if (dy.d_tag == DT_RUNPATH && !f->runpath) {
			f->runpath = xstrdup(s);
		}
	}
	return 0;
}

int elfdeps_read_mem(const void *buf, size_t len, struct elf_facts *f, struct error **err)
{
	memset(f, 0, sizeof(*f));
	if (len < 4 || memcmp(buf, ELFMAG, SELFMAG))
		return 0;
	f->is_elf = true;
	size_t ehsz = len > EI_CLASS && buf && ((const unsigned char *)buf)[EI_CLASS] == ELFCLASS64 ? sizeof(Elf64_Ehdr)
												     : sizeof(Elf32_Ehdr);
	if (len < ehsz) {
		error_set(err, "truncated: %zu bytes, shorter than an ELF header", len);
		return -1;
	}
	if (elf_version(EV_CURRENT) == EV_NONE) {
		error_set(err, "libelf: %s", elf_errmsg(-1));
		return -1;
	}
	/* libelf reads the image in place (ELF_C_READ_MMAP semantics); the
	 * cast drops const only for its prototype */
	Elf *e = elf_memory((char *)(uintptr_t)buf, len);
	if (!e) {
		error_set(err, "not a readable ELF file (%s)", elf_errmsg(-1));
		return -1;
	}
	int rc = 0;
	if (elf_kind(e) != ELF_K_ELF) {
		error_set(err, "not a readable ELF file");
		rc = -1;
	} else {
		rc = read_elf(e, len, f, err);
	}
	elf_end(e);
	if (rc < 0) {
		elf_facts_free(f);
		f->is_elf = true;
	}
	return rc;
}

int elfdeps_read_fd(int fd, uint64_t off, uint64_t size, struct elf_facts *f, struct error **err)
{
	memset(f, 0, sizeof(*f));
	if (size < 4)
		return 0;
	if (size > (uint64_t)SIZE_MAX / 2) {
		error_set(err, "too large to map");
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < off || (uint64_t)st.st_size - off < size) {
		error_set(err, "its data is shorter than its recorded size");
		return -1;
	}
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t base = off - off % (uint64_t)(pg > 0 ? pg : 4096);
	size_t maplen = (size_t)(size + (off - base));
	/* MAP_PRIVATE: libelf may convert in place; nothing reaches the file */
	void *m = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, (off_t)base);
	if (m == MAP_FAILED) {
		error_set(err, "cannot map it: %s", strerror(errno));
		return -1;
	}
	int rc = elfdeps_read_mem((char *)m + (off - base), (size_t)size, f, err);
	munmap(m, maplen);
	return rc;
}
