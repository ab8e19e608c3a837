/* Command-line parsing helpers shared by the sub-commands. */
#ifndef LRSC_CLI_OPTIONS_H
#define LRSC_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "calib/dataset.h"

/* True if argv[i] has a value after it; otherwise prints an error. */
bool lrsc_cli_need_value(int argc, char **argv, int i);
/* Parses the value after argv[*i] as an integer in [lo, hi], advancing *i. */
bool lrsc_cli_int_arg(int argc, char **argv, int *i, int64_t lo, int64_t hi, int *out);
bool lrsc_cli_i64_arg(int argc, char **argv, int *i, int64_t lo, int64_t hi, int64_t *out);
/* Parses the value after argv[*i] as a finite number in [lo, hi]. */
bool lrsc_cli_double_arg(int argc, char **argv, int *i, double lo, double hi, double *out);
bool lrsc_cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out);
bool lrsc_cli_parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);

/* Image and tensor-file options common to `run` and `compress`. */
typedef struct lrsc_cli_preprocess {
    const char *preset;
    int size_h, size_w;
    int resize;
    lrsc_layout layout;
    int bgr;
    bool skip_bad;
    bool has_scale, has_mean, has_std;
    float scale, mean[3], std[3];
} lrsc_cli_preprocess;

extern const char lrsc_cli_preprocess_help[];

void lrsc_cli_preprocess_init(lrsc_cli_preprocess *p);
/* If argv[i] is a preprocessing option, consumes it (and its value) and
 * returns how many arguments it took; 0 if it is not one; -1 on a bad value
 * (after printing the error). */
int lrsc_cli_preprocess_arg(lrsc_cli_preprocess *p, int argc, char **argv, int i);
/* Fills the preprocessing part of dataset options (zeroing the rest). */
void lrsc_cli_preprocess_apply(const lrsc_cli_preprocess *p, lrsc_dataset_opts *o);

#endif
