/* pkgbench.c — time pkg_summary parsing and dependency resolution.
 *
 * usage: pkgbench SUMMARY [PATTERN...]
 * SUMMARY is plain or compressed pkg_summary(5) (bench/gen_pkg_summary.py
 * makes a 20,000-package one). Without patterns, the 20 packages with the
 * longest DEPENDS closure among the last 200 of the catalogue are requested.
 * Prints parse and resolve times (best of 5 runs each).
 * Build: cc -std=c11 -D_GNU_SOURCE -O2 -Icommon -Icompiler -o build/pkgbench \
 *          bench/pkgbench.c build/libsmolc.a $(pkg-config --libs ...) -lcom_err */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkg_resolve.h"
#include "util.h"

#define RUNS 5

/* CPU time of this process: on a shared machine wall time is noisy. */
static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: pkgbench SUMMARY [PATTERN...]\n");
		return 2;
	}
	struct error *err = NULL;
	double best_parse = 1e9, cpu_parse = 1e9;
	struct pkg_summary *s = NULL;
	for (int i = 0; i < RUNS; i++) {
		double t0 = now_monotonic(), c0 = cpu_now();
		struct pkg_summary *x = pkg_summary_parse_file(argv[1], &err);
		double dt = now_monotonic() - t0, dc = cpu_now() - c0;
		if (x && dc < cpu_parse)
			cpu_parse = dc;
		if (!x) {
			fprintf(stderr, "pkgbench: %s\n", error_msg(err));
			error_clear(&err);
			pkg_summary_free(s);
			return 1;
		}
		if (dt < best_parse)
			best_parse = dt;
		pkg_summary_free(s);
		s = x;
	}

	const char **pats = NULL;
	size_t npats = 0;
	if (argc > 2) {
		pats = (const char **)(argv + 2);
		npats = (size_t)(argc - 2);
	} else {
		/* pick 20 names from the tail of the catalogue with deep closures */
		size_t cand = s->n < 200 ? s->n : 200;
		struct { const char *name; size_t closure; } *c = xcalloc(cand ? cand : 1, sizeof(*c));
		for (size_t i = 0; i < cand; i++) {
			const struct pkg_entry *e = &s->pkgs[s->n - 1 - i];
			const char *one[] = { e->name };
			struct pkg_resolution *r = NULL;
			c[i].name = e->name;
			if (pkg_resolve(s, one, 1, NULL, &r, &err) == 0)
				c[i].closure = r->n;
			else {
				error_clear(&err);
			}
			pkg_resolution_free(r);
		}
		pats = xcalloc(20, sizeof(*pats));
		for (size_t k = 0; k < 20 && k < cand; k++) {
			size_t bi = 0;
			for (size_t i = 1; i < cand; i++)
				if (c[i].closure > c[bi].closure)
					bi = i;
			if (c[bi].closure == 0)
				break;
			pats[npats++] = c[bi].name;
			c[bi].closure = 0;
		}
		free(c);
	}

	double best_res = 1e9, cpu_res = 1e9;
	struct pkg_resolution *r = NULL;
	for (int i = 0; i < RUNS; i++) {
		pkg_resolution_free(r);
		r = NULL;
		double t0 = now_monotonic(), c0 = cpu_now();
		int rc = pkg_resolve(s, pats, npats, NULL, &r, &err);
		double dt = now_monotonic() - t0, dc = cpu_now() - c0;
		if (dc < cpu_res)
			cpu_res = dc;
		if (rc < 0) {
			fprintf(stderr, "pkgbench: %s\n", error_msg(err));
			error_clear(&err);
			pkg_summary_free(s);
			if (argc <= 2)
				free(pats);
			return 1;
		}
		if (dt < best_res)
			best_res = dt;
	}
	size_t deps = 0;
	for (size_t i = 0; i < r->n; i++)
		deps += r->v[i].n_deps;
	printf("packages in catalogue: %zu\n", s->n);
	printf("parse:   %.1f ms wall, %.1f ms cpu\n", best_parse * 1e3, cpu_parse * 1e3);
	printf("resolve: %.1f ms wall, %.1f ms cpu (%zu requested, %zu packages, %zu edges, %u restarts)\n",
	       best_res * 1e3, cpu_res * 1e3, npats, r->n, deps, r->restarts);
	printf("total:   %.1f ms wall, %.1f ms cpu (best of %d runs each)\n",
	       (best_parse + best_res) * 1e3, (cpu_parse + cpu_res) * 1e3, RUNS);
	pkg_resolution_free(r);
	pkg_summary_free(s);
	if (argc <= 2)
		free(pats);
	return 0;
}
