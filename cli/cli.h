/* cli/cli.h - what the subcommands of `dlut` share.
 *
 * Each subcommand lives in cli/cmd_<name>.c and defines
 *     int dlut_cmd_<name>(int argc, char **argv);   // argv[0] is the subcommand
 * returning the process exit status: 0 success, 1 failure (the reason
 * printed as one line "dlut <cmd>: <reason>"), 2 usage error.
 */
#ifndef DLUT_CLI_H
#define DLUT_CLI_H

#include <stdio.h>

#define DLUT_EXIT_OK 0
#define DLUT_EXIT_FAIL 1
#define DLUT_EXIT_USAGE 2

/* Print "dlut CMD: message" to stderr and return DLUT_EXIT_FAIL / _USAGE. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Nonzero if s is "-h" or "--help". */
int cli_is_help(const char *s);

/* Nonzero if s looks like an option ("-o", "--size"): a prompt that starts with a number ("-0.5ev",
 * "-20 saturation") is none. */
int cli_is_option(const char *s);

/* Parse a number argument strictly (whole string, finite). 0 ok, -1 bad. */
int cli_parse_int(const char *s, int *out);
int cli_parse_float(const char *s, float *out);

#endif
