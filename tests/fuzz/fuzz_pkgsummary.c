/* fuzz_pkgsummary.c — libFuzzer harness for a package repository's
 * catalogue: each input is a pkg_summary text (also fed in chunks, as it
 * streams out of the decompressor), parsed, then resolved for a few
 * patterns taken from its own records, so a hostile repository reaches
 * pattern matching and the dependency resolver. Nothing may crash, leak,
 * or take more than the run's timeout.
 * Build: make build/fuzz/fuzz_pkgsummary; run: tests/fuzz/run.sh. */
#include "pkg_resolve.h"
#include "pkg_summary.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct error *err = NULL;
	struct pkg_summary_parser *p = pkg_summary_parser_new("fuzz");
	size_t step = size ? 1 + data[0] % 64 : 1;
	for (size_t off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;
		if (pkg_summary_parser_feed(p, (const char *)data + off, n, &err) < 0) {
			error_clear(&err);
			pkg_summary_parser_free(p);
			return 0;
		}
	}
	struct pkg_summary *s = pkg_summary_parser_finish(p, &err);
	if (!s) {
		error_clear(&err);
		return 0;
	}
	/* ask for the first few packages by name, and one dependency pattern */
	const char *pats[4];
	size_t np = 0;
	for (size_t i = 0; i < s->n && np < 3; i++)
		pats[np++] = s->pkgs[i].name;
	if (s->n && s->pkgs[0].n_depends)
		pats[np++] = s->pkgs[0].depends[0];
	if (np) {
		struct pkg_resolution *r = NULL;
		if (pkg_resolve(s, pats, np, "fuzz", &r, &err) == 0)
			pkg_resolution_free(r);
		else
			error_clear(&err);
	}
	pkg_summary_free(s);
	return 0;
}
