/* The kernels' own thread pool (issue 24).
 *
 * Why not OpenMP's parallel regions: a region ends at a barrier that every
 * thread of the team must reach, so on a machine whose cores are busy one
 * descheduled worker holds the whole call up for a scheduler time slice
 * (4 ms here: a 0.6 ms layer took 48 ms beside two busy processes), and
 * libgomp's threads spin for a long time after a region, taking the core from
 * whatever runs next.  libgomp's pool also does not survive fork.
 *
 * Here a parallel loop is a range of items handed out by one atomic counter.
 * The calling thread takes items too; a worker joins when it runs, takes what
 * is left, and a worker that wakes after the last item was taken does
 * nothing.  The caller waits only for items already started, never for a
 * thread that has not started.  Idle workers spin for a short while (the next
 * call of a network usually comes within microseconds), then sleep on a
 * condition variable.  A loop called while the pool is busy (from another
 * Python thread, or nested) runs on its caller's thread alone.  A forked
 * child starts with no workers and makes new ones when it needs them.
 *
 * Backends: POSIX threads; on Windows, and with FASTCONV_THREADING=openmp,
 * OpenMP (a dynamic loop in a parallel region, the behaviour before the pool;
 * kept to compare against); FASTCONV_THREADING=serial runs every loop on the
 * caller's thread. */
#include "common.h"
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#endif

#if defined(_WIN32) || !defined(__GNUC__)
#define FC_POOL_PTHREADS 0
#else
#define FC_POOL_PTHREADS 1
#endif

#if FC_POOL_PTHREADS
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#endif

enum { FC_BACKEND_POOL = 0, FC_BACKEND_OPENMP = 1, FC_BACKEND_SERIAL = 2 };

static int g_backend = -1;

static int backend_from_env(void)
{
    const char *e = getenv("FASTCONV_THREADING");
    if (e && (!strcmp(e, "openmp") || !strcmp(e, "omp"))) return FC_BACKEND_OPENMP;
    if (e && !strcmp(e, "serial")) return FC_BACKEND_SERIAL;
#if FC_POOL_PTHREADS
    return FC_BACKEND_POOL;
#else
    return FC_BACKEND_OPENMP;
#endif
}

static int backend(void)
{
    int b = g_backend;
    if (b < 0) g_backend = b = backend_from_env();   /* idempotent: a race writes the same value */
    return b;
}

const char *fc_threading_name(void)
{
    switch (backend()) {
    case FC_BACKEND_POOL: return "pool";
#ifdef _OPENMP
    case FC_BACKEND_OPENMP: return "openmp";
#endif
    default: return "serial";
    }
}

/* ---- the loop on the caller's thread, and the OpenMP backend ---- */

static void run_serial(int64_t n, int64_t grain, fc_loop_fn fn, void *ctx)
{
    for (int64_t i = 0; i < n; i += grain) fn(ctx, 0, i, FC_MIN(n, i + grain));
}

#ifdef _OPENMP
static void run_openmp(int threads, int64_t n, int64_t grain, fc_loop_fn fn, void *ctx)
{
    const int64_t pieces = FC_CDIV(n, grain);
    int64_t p;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (p = 0; p < pieces; p++) fn(ctx, omp_get_thread_num(), p * grain, FC_MIN(n, (p + 1) * grain));
}
#endif

#if FC_POOL_PTHREADS
/* ---- the pool ---- */

#if defined(__x86_64__) || defined(__i386__)
#define FC_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define FC_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define FC_CPU_RELAX() ((void)0)
#endif

#define FC_POOL_MAX 256   /* workers at most; more threads than that run as 256 */

/* The job's ticket: the job's generation in the high 24 bits, the next item in
 * the low 40.  A thread claims items by compare-and-swap on the whole ticket,
 * so it never claims an item of a job other than the one whose fields it read. */
#define FC_TICKET_BITS 40
#define FC_TICKET_MASK ((((uint64_t)1) << FC_TICKET_BITS) - 1)

typedef struct {
    fc_loop_fn fn;
    void *ctx;
    int64_t n, grain;
    int threads;
} fc_job;

static struct {
    pthread_mutex_t busy;      /* held by the thread whose loop the pool runs */
    pthread_mutex_t lock;      /* sleeping and waking */
    pthread_cond_t wake;
    fc_job job;
    uint64_t ticket;           /* atomic */
    int64_t done;              /* atomic: items finished in the current job */
    int sleepers;              /* atomic */
    int workers;               /* threads started (ids 1..workers) */
    int inited;
    int64_t spin_ns;           /* how long an idle worker spins before it sleeps */
} g_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
            {NULL, NULL, 0, 0, 0}, 0, 0, 0, 0, 0, 0};

static FC_THREAD_LOCAL int tl_in_pool = 0;   /* this thread runs a pool job's items */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Take and run items of the job whose generation is gen, until none is left.
 * Returns 0 if the job was not (or no longer) that one. */
static void take_items(uint64_t gen, int tid)
{
    for (;;) {
        uint64_t t = __atomic_load_n(&g_pool.ticket, __ATOMIC_ACQUIRE);
        if (t >> FC_TICKET_BITS != gen) return;
        const fc_job job = g_pool.job;   /* read before the claim: see below */
        const int64_t i = (int64_t)(t & FC_TICKET_MASK);
        if (i >= job.n || tid >= job.threads) return;
        const int64_t e = FC_MIN(job.n, i + job.grain);
        /* The claim succeeds only if the ticket is still (gen, i): the job was
         * then unfinished, so its fields had not been overwritten for the next
         * one when they were read above (the caller writes them only after all
         * of a job's items are done). */
        if (!__atomic_compare_exchange_n(&g_pool.ticket, &t, (gen << FC_TICKET_BITS) | (uint64_t)e, 1,
                                         __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            continue;
        job.fn(job.ctx, tid, i, e);
        /* a full fence, so that the piece's non-temporal stores are visible
         * to the caller when it sees the count (a locked add alone need not
         * order them) */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        __atomic_add_fetch(&g_pool.done, e - i, __ATOMIC_RELEASE);
    }
}

static void *worker_main(void *arg)
{
    const int tid = (int)(intptr_t)arg;
    uint64_t seen = __atomic_load_n(&g_pool.ticket, __ATOMIC_ACQUIRE) >> FC_TICKET_BITS;
    tl_in_pool = 1;
    for (;;) {
        uint64_t gen = __atomic_load_n(&g_pool.ticket, __ATOMIC_ACQUIRE) >> FC_TICKET_BITS;
        if (gen == seen) {
            /* spin a while, then sleep */
            const int64_t until = now_ns() + g_pool.spin_ns;
            for (int k = 0; gen == seen; k++) {
                FC_CPU_RELAX();
                gen = __atomic_load_n(&g_pool.ticket, __ATOMIC_RELAXED) >> FC_TICKET_BITS;
                if ((k & 63) == 63 && now_ns() > until) break;
            }
            if (gen == seen) {
                pthread_mutex_lock(&g_pool.lock);
                __atomic_add_fetch(&g_pool.sleepers, 1, __ATOMIC_SEQ_CST);
                while ((gen = __atomic_load_n(&g_pool.ticket, __ATOMIC_SEQ_CST) >> FC_TICKET_BITS) == seen)
                    pthread_cond_wait(&g_pool.wake, &g_pool.lock);
                __atomic_sub_fetch(&g_pool.sleepers, 1, __ATOMIC_SEQ_CST);
                pthread_mutex_unlock(&g_pool.lock);
            }
        }
        seen = gen;
        take_items(gen, tid);
    }
    return NULL;
}

/* A forked child has only the thread that forked: no workers, nothing held. */
static void pool_after_fork_child(void)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    g_pool.busy = m;
    g_pool.lock = m;
    g_pool.wake = c;
    g_pool.workers = 0;
    g_pool.sleepers = 0;
    g_pool.done = 0;
    tl_in_pool = 0;
}

static void pool_init(void)
{
    const char *e = getenv("FASTCONV_SPIN_US");
    double us = e ? atof(e) : 50.0;
    if (!(us >= 0)) us = 0;
    if (us > 1e6) us = 1e6;
    g_pool.spin_ns = (int64_t)(us * 1000);
    pthread_atfork(NULL, NULL, pool_after_fork_child);
    g_pool.inited = 1;
}

/* Start workers up to id want-1 (the caller holds g_pool.busy).  Fewer if the
 * system refuses threads: the loop then runs on those there are. */
static void grow(int want)
{
    if (want > FC_POOL_MAX) want = FC_POOL_MAX;
    if (g_pool.workers + 1 >= want) return;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, (size_t)8 << 20);   /* macOS gives secondary threads 512 KiB */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);   /* signals go to the interpreter's threads */
    while (g_pool.workers + 1 < want) {
        pthread_t t;
        if (pthread_create(&t, &attr, worker_main, (void *)(intptr_t)(g_pool.workers + 1)) != 0) break;
        g_pool.workers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

static void run_pool(int threads, int64_t n, int64_t grain, fc_loop_fn fn, void *ctx)
{
    if (tl_in_pool || pthread_mutex_trylock(&g_pool.busy) != 0) {
        run_serial(n, grain, fn, ctx);   /* nested, or another thread's loop is running */
        return;
    }
    if (!g_pool.inited) pool_init();
    grow(threads);
    if (threads > g_pool.workers + 1) threads = g_pool.workers + 1;
    if (threads <= 1) {
        pthread_mutex_unlock(&g_pool.busy);
        run_serial(n, grain, fn, ctx);
        return;
    }
    g_pool.job.fn = fn;
    g_pool.job.ctx = ctx;
    g_pool.job.n = n;
    g_pool.job.grain = grain;
    g_pool.job.threads = threads;
    __atomic_store_n(&g_pool.done, 0, __ATOMIC_RELAXED);
    const uint64_t gen = ((__atomic_load_n(&g_pool.ticket, __ATOMIC_RELAXED) >> FC_TICKET_BITS) + 1) &
                         ((((uint64_t)1) << (64 - FC_TICKET_BITS)) - 1);
    __atomic_store_n(&g_pool.ticket, gen << FC_TICKET_BITS, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&g_pool.sleepers, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&g_pool.lock);
        pthread_cond_broadcast(&g_pool.wake);
        pthread_mutex_unlock(&g_pool.lock);
    }
    tl_in_pool = 1;
    take_items(gen, 0);
    tl_in_pool = 0;
    /* every item is taken; wait for those still running on other threads */
    for (int k = 0; __atomic_load_n(&g_pool.done, __ATOMIC_ACQUIRE) < n; k++) {
        if (k < 4096) FC_CPU_RELAX();
        else sched_yield();   /* a worker holding an item may wait for this core */
    }
    pthread_mutex_unlock(&g_pool.busy);
}
#endif /* FC_POOL_PTHREADS */

void fc_parallel_for(int threads, int64_t n, int64_t grain, fc_loop_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (threads > FC_CDIV(n, grain)) threads = (int)FC_CDIV(n, grain);
    if (threads <= 1) { run_serial(n, grain, fn, ctx); return; }
    switch (backend()) {
#if FC_POOL_PTHREADS
    case FC_BACKEND_POOL: run_pool(threads, n, grain, fn, ctx); return;
#endif
#ifdef _OPENMP
    case FC_BACKEND_OPENMP: run_openmp(threads, n, grain, fn, ctx); return;
#endif
    default: run_serial(n, grain, fn, ctx); return;
    }
}

void fc_set_status(int *status, int value)
{
#if defined(__GNUC__) || defined(__clang__)
    __atomic_store_n(status, value, __ATOMIC_RELAXED);
#elif defined(_MSC_VER)
    _InterlockedExchange((volatile long *)status, value);
#else
    *status = value;
#endif
}

int fc_tbufs_init(fc_tbufs *t, int threads, size_t bytes)
{
    t->n = threads > 0 ? threads : 1;
    t->bytes = bytes;
    t->s = t->n <= 8 ? t->inl : (fc_tbuf_slot *)malloc((size_t)t->n * sizeof(fc_tbuf_slot));
    if (!t->s) return FC_ENOMEM;
    for (int i = 0; i < t->n; i++) {
        t->s[i].p = NULL;
        t->s[i].got = 0;
        t->s[i].tag = -1;
    }
    return FC_OK;
}

fc_tbuf_slot *fc_tbuf_get(fc_tbufs *t, int tid)
{
    fc_tbuf_slot *s = t->s + tid;   /* tid's slot: only its thread writes it */
    if (!s->p) s->p = fc_scratch_alloc(t->bytes, &s->got);
    return s->p ? s : NULL;
}

void *fc_tbuf(fc_tbufs *t, int tid)
{
    fc_tbuf_slot *s = fc_tbuf_get(t, tid);
    return s ? s->p : NULL;
}

void fc_tbufs_free(fc_tbufs *t)
{
    if (!t->s) return;
    for (int i = 0; i < t->n; i++) fc_scratch_free(t->s[i].p, t->s[i].got);
    if (t->s != t->inl) free(t->s);
    t->s = NULL;
}
