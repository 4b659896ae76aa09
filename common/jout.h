/* jout.h — smolc's JSON output (--json of build, plan, ps, inspect,
 * cache ls, run --time), built with jansson like every other JSON the
 * project reads or writes.
 *
 * jout_str: a JSON string for untrusted text, or null for NULL. The value
 * is safe to print on a terminal: control characters are \u-escaped by
 * jansson; DEL, C1 controls (e.g. CSI) and bytes that are not UTF-8 are
 * replaced by their C escape as text ("\x9b"), as str_escape() does.
 * jout_secs: seconds rounded to the millisecond (printed as 1.234).
 * jout_print: write v compact (JSON_COMPACT, keys in insertion order) and
 * then `end` (may be NULL); takes v's reference. Returns 0, or -1 when
 * the stream failed.
 *
 * Every function accepts and returns new references; NULL from a jansson
 * constructor only on out of memory, which they treat as fatal. */
#ifndef SMOLC_JOUT_H
#define SMOLC_JOUT_H

#include <jansson.h>
#include <stdio.h>

json_t *jout_str(const char *s);
json_t *jout_secs(double s);
int jout_print(FILE *out, json_t *v, const char *end);

#endif
