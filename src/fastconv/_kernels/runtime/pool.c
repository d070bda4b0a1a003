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
#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
#define _DARWIN_C_SOURCE 1   /* clock_gettime and sysconf's names, beside common.h's _POSIX_C_SOURCE */
#endif
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
#include <fcntl.h>
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

/* Three groups on cache lines of their own (the pads: at least a line apart
 * whatever the alignment): the mutexes; the job and its ticket, which every
 * idle worker polls; the count of finished items, which the workers write
 * while the caller claims items on the ticket. */
static struct {
    pthread_mutex_t busy;      /* held by the thread whose loop the pool runs */
    pthread_mutex_t lock;      /* sleeping and waking */
    pthread_cond_t wake;
    char pad0[64];
    fc_job job;
    uint64_t ticket;           /* atomic */
    char pad1[64];
    int64_t done;              /* atomic: items finished in the current job */
    char pad2[64];
    int sleepers;              /* atomic: workers in the sleeping section */
    int asleep;                /* atomic: of which blocked and not yet woken (under lock) */
    int workers;               /* threads started (ids 1..workers) */
    int inited;
    int64_t spin_ns;           /* how long an idle worker spins before it sleeps */
    int use_load;              /* cap the threads by the other runnable work (FASTCONV_LOAD_CAP=0: no) */
} g_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0},
            {NULL, NULL, 0, 0, 0}, 0, {0}, 0, {0}, 0, 0, 0, 0, 0, 0};

static int64_t g_late_ns = 250000;   /* FASTCONV_LATE_US: see run_pool */
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
                __atomic_add_fetch(&g_pool.asleep, 1, __ATOMIC_RELAXED);
                int waited = 0;
                while ((gen = __atomic_load_n(&g_pool.ticket, __ATOMIC_SEQ_CST) >> FC_TICKET_BITS) == seen) {
                    pthread_cond_wait(&g_pool.wake, &g_pool.lock);
                    waited = 1;
                }
                if (!waited) __atomic_sub_fetch(&g_pool.asleep, 1, __ATOMIC_RELAXED);   /* else the waker did */
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
    g_pool.asleep = 0;
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
    e = getenv("FASTCONV_LOAD_CAP");
    g_pool.use_load = !(e && !strcmp(e, "0"));
    e = getenv("FASTCONV_LATE_US");
    if (e) g_late_ns = (int64_t)(atof(e) * 1000);
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

/* Stragglers.  On a machine whose cores are busy, a worker may be
 * descheduled in the middle of a piece, and the caller, done with the rest,
 * waits for it: a scheduler time slice (ms) for a loop of 100s of us.  When
 * that happens (the wait at the end is over FC_LATE_NS and a quarter of the
 * caller's own time in the loop), the loops of the next 1, 2, 4 .. 32 ms run
 * on half the threads per strike (on 2 cores: on the caller's alone); 8 clean
 * loops at the full count forgive the strikes.  Only the thread that holds
 * g_pool.busy reads or writes this. */
static struct { int64_t until, loops, late, narrowed, capped; int strikes, clean; } g_adapt;

/* The other work on the cores.  Two threads of ours on two cores with two
 * busy processes beside them get half a core each -- one core in all, the
 * same as one thread that the scheduler gives a core of its own -- and pay
 * for the sharing (each is descheduled for time slices, the other waits).
 * So a loop takes at most one thread more than there are cores without
 * other runnable work: the kernel's count of runnable threads (the fourth
 * field of /proc/loadavg, read at most every FC_LOAD_NS), less ours (the
 * caller and the workers not asleep).  Linux only; elsewhere no cap. */
#define FC_LOAD_NS 4000000
static struct { int64_t at, reads; int cap, cpus; } g_load;

static int read_runnable(void)
{
#if defined(__linux__)
    char buf[128];
    const int fd = open("/proc/loadavg", O_RDONLY);
    if (fd < 0) return -1;
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    const char *q = buf;
    for (int f = 0; f < 3 && q; f++) {   /* past the three averages */
        q = strchr(q, ' ');
        if (q) q++;
    }
    return q ? atoi(q) : -1;
#else
    return -1;
#endif
}

/* The thread cap the machine's load allows now (0: none known). */
static int load_cap(int64_t now)
{
    if (now - g_load.at < FC_LOAD_NS && g_load.at) return g_load.cap;
    g_load.at = now;
    if (!g_load.cpus) {
#ifdef _SC_NPROCESSORS_ONLN
        const long c = sysconf(_SC_NPROCESSORS_ONLN);
#else
        const long c = 1;
#endif
        g_load.cpus = c > 0 ? (int)c : 1;
    }
    const int running = read_runnable();
    g_load.reads++;
    if (running < 0) return g_load.cap = 0;
    const int ours = 1 + g_pool.workers - __atomic_load_n(&g_pool.asleep, __ATOMIC_RELAXED);
    const int others = FC_MAX(0, running - ours);
    return g_load.cap = FC_MAX(1, g_load.cpus - others + 1);
}

/* The load cap for a call about to start (FC_CAPPED in api/api.c: its
 * blocking is then made for the threads it will get); 0: none. */
int fc_pool_cap(void)
{
    if (backend() != FC_BACKEND_POOL) return 0;
    if (tl_in_pool || pthread_mutex_trylock(&g_pool.busy) != 0)
        return 0;   /* nested, or the pool is busy: the call runs on its own thread anyway */
    if (!g_pool.inited) pool_init();
    const int c = g_pool.use_load ? load_cap(now_ns()) : 0;
    pthread_mutex_unlock(&g_pool.busy);
    return c;
}

void fc_pool_stats(int64_t *out6)
{
    out6[0] = g_adapt.loops;     /* loops run on the pool (more than one thread) */
    out6[1] = g_adapt.late;      /* of which the caller waited for a descheduled worker */
    out6[2] = g_adapt.narrowed;  /* loops given fewer threads after such a wait */
    out6[3] = g_adapt.capped;    /* loops given fewer threads for the other runnable work */
    out6[4] = g_load.reads;      /* reads of /proc/loadavg */
    out6[5] = g_pool.workers;
}

static void run_pool(int threads, int64_t n, int64_t grain, fc_loop_fn fn, void *ctx)
{
    if (tl_in_pool || pthread_mutex_trylock(&g_pool.busy) != 0) {
        run_serial(n, grain, fn, ctx);   /* nested, or another thread's loop is running */
        return;
    }
    if (!g_pool.inited) pool_init();
    const int64_t t0 = now_ns();
    const int cap = g_pool.use_load ? load_cap(t0) : 0;
    if (cap > 0 && cap < threads) {
        threads = cap;
        g_adapt.capped++;
    }
    if (g_adapt.strikes && t0 < g_adapt.until) {
        const int lim = FC_MAX(1, threads >> g_adapt.strikes);
        if (lim < threads) {
            threads = lim;
            g_adapt.narrowed++;
        }
    }
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
        __atomic_store_n(&g_pool.asleep, 0, __ATOMIC_RELAXED);   /* runnable from now on */
        pthread_cond_broadcast(&g_pool.wake);
        pthread_mutex_unlock(&g_pool.lock);
    }
    tl_in_pool = 1;
    take_items(gen, 0);
    tl_in_pool = 0;
    const int64_t t1 = now_ns();
    /* every item is taken; wait for those still running on other threads */
    for (int k = 0; __atomic_load_n(&g_pool.done, __ATOMIC_ACQUIRE) < n; k++) {
        if (k < 4096) FC_CPU_RELAX();
        else sched_yield();   /* a worker holding an item may wait for this core */
    }
    const int64_t t2 = now_ns();
    g_adapt.loops++;
    if (t2 - t1 > g_late_ns && 4 * (t2 - t1) > t1 - t0) {
        g_adapt.late++;
        if (g_adapt.strikes < 6) g_adapt.strikes++;
        g_adapt.clean = 0;
        g_adapt.until = t2 + ((int64_t)1000000 << (g_adapt.strikes - 1));
    } else if (g_adapt.strikes && ++g_adapt.clean >= 8) {
        g_adapt.strikes = 0;
        g_adapt.clean = 0;
    }
    pthread_mutex_unlock(&g_pool.busy);
}
#endif /* FC_POOL_PTHREADS */

#if !FC_POOL_PTHREADS
int fc_pool_cap(void) { return 0; }

void fc_pool_stats(int64_t *out6)
{
    for (int i = 0; i < 6; i++) out6[i] = 0;
}
#endif

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
