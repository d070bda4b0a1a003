/* The thread count every parallel loop of the kernels uses. */
#include "common.h"

static int g_threads = 0;    /* 0: follow OpenMP's own setting (OMP_NUM_THREADS, threadpoolctl) */

/* The calling thread's cap for the call it is running (fc_thread_cap). */
static FC_THREAD_LOCAL int tl_cap = 0;

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

/* The setting: set_num_threads, else OpenMP's (which OMP_NUM_THREADS and
 * threadpoolctl set), else OMP_NUM_THREADS read here, else 1. */
int fc_get_setting_threads(void)
{
    int t = g_threads;
#ifdef _OPENMP
    if (t <= 0) t = omp_get_max_threads();
#endif
    if (t <= 0) t = 1;
    return t < FC_MAX_THREADS ? t : FC_MAX_THREADS;
}

/* What the call being run may use: the setting, capped by its work. */
int fc_get_num_threads(void)
{
    const int t = fc_get_setting_threads();
    return tl_cap > 0 && tl_cap < t ? tl_cap : t;
}

void fc_set_num_threads(int n)
{
    if (n < 1) n = 1;
    if (n > FC_MAX_THREADS) n = FC_MAX_THREADS;
    g_threads = n;
}

int fc_thread_cap(int cap)
{
    const int old = tl_cap;
    tl_cap = cap;
    return old;
}

/* Threads a call of this size pays for: one per FC_WORK_PER_THREAD of
 * floating-point operations or per FC_BYTES_PER_THREAD of data moved,
 * whichever gives more -- about 15 us of one core's time each, against the
 * few microseconds a thread costs to join a loop. */
#define FC_WORK_PER_THREAD 2.0e6
#define FC_BYTES_PER_THREAD 3.0e5

int fc_threads_for_work(double flops, double bytes)
{
    const double a = flops / FC_WORK_PER_THREAD, b = bytes / FC_BYTES_PER_THREAD, t = a > b ? a : b;
    return t >= FC_MAX_THREADS ? FC_MAX_THREADS : t < 1 ? 1 : (int)t;
}
