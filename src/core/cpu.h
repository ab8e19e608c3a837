/* CPU features that choose between kernels at run time.
 *
 * The AVX-512 kernels are compiled only for x86-64 with GCC or Clang, and not
 * when LRSC_NO_AVX512 is defined (a compile definition that leaves only the
 * portable paths, to test them on an AVX-512 machine).  LRSC_CPU_X86_AVX512
 * is defined where they are compiled; the functions below then say whether
 * this CPU can run them. */
#ifndef LRSC_CORE_CPU_H
#define LRSC_CORE_CPU_H

#include <stdbool.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(LRSC_NO_AVX512)
#define LRSC_CPU_X86_AVX512 1
#endif

/* AVX-512F kernels are compiled in and this CPU has AVX-512F. */
bool lrsc_cpu_avx512(void);

/* As lrsc_cpu_avx512, and the CPU has BMI2 as well (pext/pdep lane masks). */
bool lrsc_cpu_avx512_bmi2(void);

#endif
