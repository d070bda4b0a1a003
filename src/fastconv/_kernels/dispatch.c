/* CPU feature detection, the ISA level in force, and the thread count. */
#include "internal.h"

static int g_isa = -1;       /* level in force; -1 until first use */
static int g_threads = 0;    /* 0: follow OpenMP's own setting */

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
    if (isa == FC_ISA_SCALAR) return 1;
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

/* More threads than this is a typo, not a machine: libgomp crashes when it
 * cannot create them (set_num_threads(100000) segfaulted); OMP_NUM_THREADS
 * is capped the same way. */
#define FC_MAX_THREADS 4096

int fc_get_num_threads(void)
{
#ifdef _OPENMP
    const int t = g_threads > 0 ? g_threads : omp_get_max_threads();
    return t < FC_MAX_THREADS ? t : FC_MAX_THREADS;
#else
    return 1;
#endif
}

void fc_set_num_threads(int n)
{
    if (n < 1) n = 1;
    if (n > FC_MAX_THREADS) n = FC_MAX_THREADS;
    g_threads = n;
}

/* ---- scratch cache ----
 * The big per-call buffers (Winograd tiles, packed panels) are larger than
 * malloc's mmap threshold, so each call would map fresh pages and take a
 * page fault per 4 KiB on first touch (a quarter of a 64-channel 56x56
 * Winograd layer).  A few freed blocks are kept for the next call instead.
 * The lock is a try-lock: a caller that finds it taken just uses malloc. */
#define FC_SCRATCH_SLOTS 8
#define FC_SCRATCH_KEEP ((size_t)512 << 20)   /* bytes kept at most */
static struct { void *p; size_t n; } g_slots[FC_SCRATCH_SLOTS];
static long g_slot_lock = 0;

#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
/* full barriers */
static int fc_trylock(void) { return _InterlockedExchange(&g_slot_lock, 1) == 0; }
static void fc_unlock(void) { _InterlockedExchange(&g_slot_lock, 0); }
#elif defined(__GNUC__) || defined(__clang__)
static int fc_trylock(void) { return __atomic_exchange_n(&g_slot_lock, 1, __ATOMIC_ACQUIRE) == 0; }
static void fc_unlock(void) { __atomic_store_n(&g_slot_lock, 0, __ATOMIC_RELEASE); }
#else
static int fc_trylock(void) { return 0; }   /* no atomics: no cache */
static void fc_unlock(void) {}
#endif

void *fc_scratch_alloc(size_t bytes, size_t *got)
{
    void *p = NULL;
    size_t n = bytes;
    if (fc_trylock()) {
        int best = -1;
        for (int i = 0; i < FC_SCRATCH_SLOTS; i++)
            if (g_slots[i].p && g_slots[i].n >= bytes && g_slots[i].n <= 2 * bytes + (1 << 20) &&
                (best < 0 || g_slots[i].n < g_slots[best].n))
                best = i;
        if (best >= 0) {
            p = g_slots[best].p;
            n = g_slots[best].n;
            g_slots[best].p = NULL;
        }
        fc_unlock();
    }
    if (!p) p = fc_malloc(n);
    *got = p ? n : 0;
    return p;
}

void fc_scratch_free(void *p, size_t n)
{
    if (!p) return;
    if (n <= FC_SCRATCH_KEEP && fc_trylock()) {
        size_t kept = n;
        int slot = -1;
        for (int i = 0; i < FC_SCRATCH_SLOTS; i++) {
            if (!g_slots[i].p) { if (slot < 0) slot = i; continue; }
            kept += g_slots[i].n;
        }
        if (slot < 0) {   /* full: evict the smallest block if this one is bigger */
            slot = 0;
            for (int i = 1; i < FC_SCRATCH_SLOTS; i++)
                if (g_slots[i].n < g_slots[slot].n) slot = i;
            if (g_slots[slot].n < n) {
                kept -= g_slots[slot].n;
                fc_free(g_slots[slot].p);
                g_slots[slot].p = NULL;
            }
        }
        if (!g_slots[slot].p && kept <= FC_SCRATCH_KEEP) {
            g_slots[slot].p = p;
            g_slots[slot].n = n;
            p = NULL;
        }
        fc_unlock();
    }
    fc_free(p);
}

void fc_scratch_release(void)
{
    while (!fc_trylock()) {}
    for (int i = 0; i < FC_SCRATCH_SLOTS; i++) {
        fc_free(g_slots[i].p);
        g_slots[i].p = NULL;
    }
    fc_unlock();
}
