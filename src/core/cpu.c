#include "core/cpu.h"

#ifdef LRSC_CPU_X86_AVX512

/* __builtin_cpu_init is needed before __builtin_cpu_supports only in code
 * that may run before constructors; calling it again is cheap and harmless. */
bool lrsc_cpu_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

bool lrsc_cpu_avx512_bmi2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("bmi2");
}

#else

bool lrsc_cpu_avx512(void)
{
    return false;
}

bool lrsc_cpu_avx512_bmi2(void)
{
    return false;
}

#endif
