/* The ISA levels: which this CPU (and OS) runs, the one in force, and each
 * level's microkernel tables.  A new level is a file isa/<name>.c (its
 * tuning table and the ukernels built with its flags), a line in fc_levels
 * below with its detection, and its compiler flags in setup.py. */
#include "ukernels/ukernel.h"

static int g_isa = -1;       /* level in force; -1 until first use */

/* CPUID and XGETBV: MSVC's intrinsics, or GCC/Clang's <cpuid.h> and inline asm. */
#if defined(FC_X86) && defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#include <immintrin.h>
#define FC_HAVE_CPUID 1
static unsigned int fc_cpuid_max(void)
{
    int r[4];
    __cpuid(r, 0);
    return (unsigned int)r[0];
}
static void fc_cpuid(unsigned int leaf, unsigned int sub, unsigned int *a, unsigned int *b,
                     unsigned int *c, unsigned int *d)
{
    int r[4];
    __cpuidex(r, (int)leaf, (int)sub);
    *a = (unsigned int)r[0]; *b = (unsigned int)r[1]; *c = (unsigned int)r[2]; *d = (unsigned int)r[3];
}
static unsigned long long fc_xgetbv0(void) { return (unsigned long long)_xgetbv(0); }
#elif defined(FC_X86) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define FC_HAVE_CPUID 1
static unsigned int fc_cpuid_max(void) { return __get_cpuid_max(0, NULL); }
static void fc_cpuid(unsigned int leaf, unsigned int sub, unsigned int *a, unsigned int *b,
                     unsigned int *c, unsigned int *d)
{
    __cpuid_count(leaf, sub, *a, *b, *c, *d);
}
static unsigned long long fc_xgetbv0(void)
{
    unsigned int lo, hi;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

#ifdef FC_HAVE_CPUID
/* CPU features plus the OS check (XCR0) that the wide registers are saved. */
static int fc_detect(int isa)
{
    unsigned int a, b, c, d;
    if (isa == FC_ISA_VEC128) return 1;
    const unsigned int max_leaf = fc_cpuid_max();
    if (max_leaf < 1) return 0;
    fc_cpuid(1, 0, &a, &b, &c, &d);
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return 0;
    unsigned long long xcr0 = fc_xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return 0;                 /* XMM and YMM state */
    if (max_leaf < 7) return 0;
    fc_cpuid(7, 0, &a, &b, &c, &d);
    int avx2 = (b >> 5) & 1;
    if (isa == FC_ISA_AVX2) return avx2 && fma;
    if (isa == FC_ISA_AVX512) {
        int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
        return avx2 && fma && f && dq && bw && vl && (xcr0 & 0xe6) == 0xe6;
    }
    return 0;
}
#else
/* No CPUID: the baseline, and on AArch64 NEON (ASIMD is part of ARMv8-A:
 * every AArch64 CPU and OS has it) */
static int fc_detect(int isa)
{
#ifdef FC_ARM64
    if (isa == FC_ISA_NEON) return 1;
#endif
    return isa == FC_ISA_VEC128;
}
#endif

/* The levels, lowest first (fc_isa's order): name and tables (NULL where
 * this build has none); fc_detect says whether this CPU and OS run it. */
typedef struct { const char *name; const fc_ukernels *k; } fc_level;
static const fc_level fc_levels[FC_ISA_COUNT] = {
    {"vec128", &fc_ukernels_vec128},
#ifdef FC_X86
    {"avx2", &fc_ukernels_avx2},
    {"avx512", &fc_ukernels_avx512},
#else
    {"avx2", NULL},
    {"avx512", NULL},
#endif
#ifdef FC_ARM64
    {"neon", &fc_ukernels_neon},
#else
    {"neon", NULL},
#endif
};

const char *fc_isa_name(int isa) { return isa >= 0 && isa < FC_ISA_COUNT ? fc_levels[isa].name : NULL; }

int fc_isa_built(int isa) { return isa >= 0 && isa < FC_ISA_COUNT && fc_levels[isa].k != NULL; }

int fc_isa_supported(int isa)
{
    static signed char known[FC_ISA_COUNT];   /* 0: not asked yet, else 1 + the answer */
    if (isa < 0 || isa >= FC_ISA_COUNT || !fc_levels[isa].k) return 0;
    if (!known[isa]) known[isa] = (signed char)(1 + fc_detect(isa));
    return known[isa] - 1;
}

static int fc_best_isa(void)
{
    for (int i = FC_ISA_COUNT - 1; i > FC_ISA_VEC128; i--)
        if (fc_isa_supported(i)) return i;
    return FC_ISA_VEC128;
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

const fc_ukernels *fc_ukernels_for(int isa)
{
    return isa >= 0 && isa < FC_ISA_COUNT && fc_levels[isa].k ? fc_levels[isa].k : &fc_ukernels_vec128;
}

const fc_ukernels *fc_ukernels_get(void) { return fc_ukernels_for(fc_get_isa()); }
