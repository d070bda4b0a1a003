/* The thread count every parallel region of the kernels uses. */
#include "common.h"

static int g_threads = 0;    /* 0: follow OpenMP's own setting */

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
