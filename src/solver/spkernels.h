/* Row kernels of the solver's sparse products (private to src/solver).
 *
 * S is held as sorted flat indices supp[t] = row * n + col.  Both kernels
 * work on the entries of one row of S that fall into one block of columns,
 * and read the rows of R (n x k, row-major) those entries name:
 *   axpy: o[0:k] += sum_t val[t] R[col_t, 0:k]     (rows of S R)
 *   dots: out[t]  = q[0:k] . R[col_t, 0:k]          (Q R^T gathered on S)
 * col_t = supp[t] - base.  The AVX-512 versions keep a slice of the output
 * row in registers across all the row's entries (one load of R per FMA);
 * the portable versions group entries by four.  Both visit entries in index
 * order, so results depend on k and the CPU's vector width, never on how the
 * rows are split between threads. */
#ifndef LRSC_SOLVER_SPKERNELS_H
#define LRSC_SOLVER_SPKERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* avx512: whether to take the AVX-512 kernels (lrsc_cpu_avx512, core/cpu.h,
 * checked once per fit); ignored where they are not compiled. */
void lrsc_spk_axpy(bool avx512, int k, float *o, const float *val, const int64_t *supp,
                   int64_t base, size_t cnt, const float *R);

void lrsc_spk_dots(bool avx512, int k, const float *q, const int64_t *supp, int64_t base,
                   size_t cnt, const float *R, float *out);

#endif
