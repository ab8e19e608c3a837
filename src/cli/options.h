/* Command-line parsing helpers shared by the sub-commands. */
#ifndef LRSC_CLI_OPTIONS_H
#define LRSC_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>


/* True if argv[i] has a value after it; otherwise prints an error. */
bool lrsc_cli_need_value(int argc, char **argv, int i);
/* Parses the value after argv[*i] as an integer in [lo, hi], advancing *i. */
bool lrsc_cli_int_arg(int argc, char **argv, int *i, int64_t lo, int64_t hi, int *out);
bool lrsc_cli_i64_arg(int argc, char **argv, int *i, int64_t lo, int64_t hi, int64_t *out);
/* Parses the value after argv[*i] as a finite number in [lo, hi]. */
bool lrsc_cli_double_arg(int argc, char **argv, int *i, double lo, double hi, double *out);
bool lrsc_cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out);
bool lrsc_cli_parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);

#endif
