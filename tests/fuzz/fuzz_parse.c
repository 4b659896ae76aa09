/* fuzz_parse.c — libFuzzer harness for the smolc front end.
 *
 * Each input is an in-memory Smolfile: it is scanned, parsed, lowered
 * (variables expanded, arguments typed) and checked, then the diagnostics
 * are rendered (to /dev/null) so the caret/column code runs too. The
 * recipe's build context is a directory that does not exist, so relative
 * names (RC <file>, COPY, INCLUDE, FROM <recipe>) fail fast; absolute
 * ones may be looked up, and the front end only reads regular files, so
 * nothing can block. A --build-arg is passed so that path is exercised.
 * The same bytes also go through rcscan (MINIMIZE's scan of shell text)
 * and elfdeps (its ELF reader), which read untrusted scripts and files.
 * Build: make build/fuzz/fuzz_parse; run: tests/fuzz/run.sh [SECONDS]. */
#include "check.h"
#include "diag.h"
#include "elfdeps.h"
#include "rcscan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	sink = fopen("/dev/null", "w");
	if (!sink)
		abort();
	/* FROM <name> must not find recipes outside the fake context */
	unsetenv("SMOLC_PATH");
	unsetenv("SMOLC_DATADIR");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_ctx d;
	diag_init(&d);
	d.color = size & 1; /* both renderings */
	struct strvec ba = {0};
	sv_pushdup(&ba, "FUZZ=value");
	struct recipe *r = recipe_load_buffer(&d, "/nonexistent-smolc-fuzz/Smolfile", (const char *)data, size, &ba);
	diag_print(&d, sink);
	recipe_free(r);
	sv_free(&ba);
	diag_fini(&d);
	struct rcscan sc = {0};
	rcscan_text((const char *)data, size, &sc);
	rcscan_free(&sc);
	struct elf_facts f;
	struct error *err = NULL;
	if (size > 4 && data[0] == 0x7f) { /* as ELF: "\177ELF" + the rest */
		uint8_t *buf = malloc(size);
		if (!buf)
			abort();
		memcpy(buf, "\177ELF", 4);
		memcpy(buf + 4, data + 4, size - 4);
		if (elfdeps_read_mem(buf, size, &f, &err) == 0)
			elf_facts_free(&f);
		error_clear(&err);
		free(buf);
	}
	return 0;
}
