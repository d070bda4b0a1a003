/* CPU feature detection, the ISA level in force, and the thread count. */
#include "internal.h"

static int g_isa = -1;       /* level in force; -1 until first use */
static int g_threads = 0;    /* 0: follow OpenMP's own setting */

#if defined(FC_X86) && defined(__GNUC__)
#include <cpuid.h>
static unsigned long long fc_xgetbv0(void)
{
    unsigned int lo, hi;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

/* CPU features plus the OS check (XCR0) that the wide registers are saved. */
static int fc_detect(int isa)
{
    unsigned int a, b, c, d;
    if (isa == FC_ISA_SCALAR) return 1;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return 0;
    unsigned long long xcr0 = fc_xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return 0;                 /* XMM and YMM state */
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1;
    if (isa == FC_ISA_AVX2) return avx2 && fma;
    if (isa == FC_ISA_AVX512) {
        int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
        return avx2 && fma && f && dq && bw && vl && (xcr0 & 0xe6) == 0xe6;
    }
    return 0;
}
#else
static int fc_detect(int isa) { return isa == FC_ISA_SCALAR; }
#endif

int fc_isa_supported(int isa)
{
    static int cache[3] = {-1, -1, -1};
    if (isa < 0 || isa > 2) return 0;
    if (cache[isa] < 0) cache[isa] = fc_detect(isa);
    return cache[isa];
}

static int fc_best_isa(void)
{
    for (int i = FC_ISA_AVX512; i > FC_ISA_SCALAR; i--)
        if (fc_isa_supported(i)) return i;
    return FC_ISA_SCALAR;
}

int fc_get_isa(void)
{
    if (g_isa < 0) g_isa = fc_best_isa();
    return g_isa;
}

int fc_set_isa(int isa)
{
    if (!fc_isa_supported(isa)) return FC_EINVAL;
    g_isa = isa;
    return FC_OK;
}

/* The kernel tables of an ISA level (the per-ISA files fill them). */
const fc_gemm_kernel *fc_gemm_kernel_for(int isa)
{
#ifdef FC_X86
    if (isa == FC_ISA_AVX512) return &fc_gemm_kernel_avx512;
    if (isa == FC_ISA_AVX2) return &fc_gemm_kernel_avx2;
#endif
    (void)isa;
    return &fc_gemm_kernel_scalar;
}

const fc_gemm_kernel *fc_gemm_kernel_get(void) { return fc_gemm_kernel_for(fc_get_isa()); }

int fc_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int fc_get_num_threads(void)
{
#ifdef _OPENMP
    return g_threads > 0 ? g_threads : omp_get_max_threads();
#else
    return 1;
#endif
}

void fc_set_num_threads(int n)
{
    if (n < 1) n = 1;
    g_threads = n;
}
