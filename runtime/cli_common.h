/* cli_common.h — shared bits of the runtime's CLI commands (cli_run.c,
 * cli_inst.c): the one place that prints "smolc: <message>" on stderr. */
#ifndef SMOLC_CLI_COMMON_H
#define SMOLC_CLI_COMMON_H

/* Print "smolc: <formatted>\n" on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
