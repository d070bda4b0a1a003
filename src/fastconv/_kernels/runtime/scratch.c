/* Scratch buffers cached between calls. */
#include "common.h"

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
