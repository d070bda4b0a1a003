/* The kernels through the C API, without Python: a few convolutions that
 * reach each implementation (direct tiles, GEMM / 1x1, Winograd, depthwise,
 * grouped), with an activation, and their weight gradients
 * (fc_conv_grad_weight: its GEMM and inner-product forms), on every ISA
 * level this CPU runs, against float64 loops written here; 1 and 2 threads.  Built by
 * scripts/wine_check.sh with MinGW-w64 and run under Wine (the Windows ABI,
 * CRT and threads), and usable on any platform:
 *     cc -O2 -Isrc/fastconv/_kernels/include scripts/c_kernel_check.c <kernel objects> -lm
 * Exit status 0: every case within 1e-4 of the output's scale (float32). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fastconv.h"

typedef struct { const char *name; int64_t N, C, O, H, W, k, s, p, g; int algo, act; } tcase;
static const tcase CASES[] = {
    {"direct 3x3", 2, 16, 24, 9, 11, 3, 1, 1, 1, FC_ALGO_DIRECT, FC_ACT_RELU},
    {"gemm 3x3/2", 1, 8, 20, 12, 12, 3, 2, 1, 1, FC_ALGO_GEMM, FC_ACT_NONE},
    {"1x1", 1, 32, 48, 10, 10, 1, 1, 0, 1, FC_ALGO_AUTO, FC_ACT_SILU},
    {"winograd 3x3", 1, 16, 16, 14, 14, 3, 1, 1, 1, FC_ALGO_WINOGRAD, FC_ACT_NONE},
    {"depthwise 3x3", 2, 24, 24, 13, 10, 3, 1, 1, 24, FC_ALGO_AUTO, FC_ACT_RELU6},
    {"grouped 3x3", 1, 32, 32, 8, 8, 3, 1, 1, 8, FC_ALGO_AUTO, FC_ACT_TANH},
    {"7x7/2 stem", 1, 3, 16, 30, 30, 7, 2, 3, 1, FC_ALGO_AUTO, FC_ACT_NONE},
};

static double act(int a, double v)
{
    switch (a) {
    case FC_ACT_RELU: return v < 0 ? 0 : v;
    case FC_ACT_RELU6: return v < 0 ? 0 : v > 6 ? 6 : v;
    case FC_ACT_SILU: return v / (1 + exp(-v));
    case FC_ACT_TANH: return tanh(v);
    default: return v;
    }
}

static int run_case(const tcase *t, int isa, int threads)
{
    fc_conv_desc d;
    memset(&d, 0, sizeof d);
    const int64_t OH = (t->H + 2 * t->p - t->k) / t->s + 1, OW = (t->W + 2 * t->p - t->k) / t->s + 1;
    const int64_t cig = t->C / t->g, cog = t->O / t->g;
    d.N = t->N; d.C_in = t->C; d.C_out = t->O; d.groups = t->g; d.act = t->act;
    d.in[0] = d.out[0] = d.k[0] = d.stride[0] = d.dil[0] = 1;
    d.in[1] = t->H; d.in[2] = t->W; d.out[1] = OH; d.out[2] = OW; d.k[1] = d.k[2] = t->k;
    d.stride[1] = d.stride[2] = t->s; d.dil[1] = d.dil[2] = 1;
    d.pad0[1] = d.pad0[2] = d.pad1[1] = d.pad1[2] = t->p;
    const size_t nx = (size_t)(t->N * t->C * t->H * t->W), nw = (size_t)(t->O * cig * t->k * t->k),
                 ny = (size_t)(t->N * t->O * OH * OW);
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)t->O * 4), *y = malloc(ny * 4);
    uint32_t r = 12345u;
#define RND() ((r = r * 1664525u + 1013904223u), (float)((r >> 8) & 0xffff) / 65536.0f - 0.5f)
    for (size_t i = 0; i < nx; i++) x[i] = RND();
    for (size_t i = 0; i < nw; i++) w[i] = RND();
    for (int64_t i = 0; i < t->O; i++) b[i] = RND();
    fc_set_num_threads(threads);
    int st = fc_set_isa(isa);
    if (st == FC_OK) st = fc_conv(&d, FC_F32, t->algo, x, w, b, y);
    double err = 0, scale = 0;
    for (int64_t n = 0; n < t->N && st == FC_OK; n++)
        for (int64_t o = 0; o < t->O; o++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double s = b[o];
                    const int64_t g = o / cog;
                    for (int64_t c = 0; c < cig; c++)
                        for (int64_t kh = 0; kh < t->k; kh++)
                            for (int64_t kw = 0; kw < t->k; kw++) {
                                const int64_t ih = oh * t->s - t->p + kh, iw = ow * t->s - t->p + kw;
                                if (ih < 0 || ih >= t->H || iw < 0 || iw >= t->W) continue;
                                s += (double)w[((o * cig + c) * t->k + kh) * t->k + kw] *
                                     x[((n * t->C + g * cig + c) * t->H + ih) * t->W + iw];
                            }
                    const double want = act(t->act, s);
                    const double got = y[((n * t->O + o) * OH + oh) * OW + ow];
                    err = fmax(err, fabs(got - want));
                    scale = fmax(scale, fabs(want));
                }
    int ok = st == FC_OK && err <= 1e-4 * fmax(scale, 1.0);
    printf("  %-8s %-15s %d thread(s): %s (max error %.2e, scale %.2f, status %d)\n", fc_isa_name(isa),
           t->name, threads, ok ? "ok" : "FAILED", err, scale, st);
    /* the weight gradient of the same layer, y taken as the output's gradient */
    float *gw = malloc(nw * 4);
    st = fc_conv_grad_weight(&d, FC_F32, x, y, gw);
    err = scale = 0;
    for (int64_t o = 0; o < t->O && st == FC_OK; o++)
        for (int64_t c = 0; c < cig; c++)
            for (int64_t kh = 0; kh < t->k; kh++)
                for (int64_t kw = 0; kw < t->k; kw++) {
                    double s = 0;
                    const int64_t g = o / cog;
                    for (int64_t n = 0; n < t->N; n++)
                        for (int64_t oh = 0; oh < OH; oh++)
                            for (int64_t ow = 0; ow < OW; ow++) {
                                const int64_t ih = oh * t->s - t->p + kh, iw = ow * t->s - t->p + kw;
                                if (ih < 0 || ih >= t->H || iw < 0 || iw >= t->W) continue;
                                s += (double)y[((n * t->O + o) * OH + oh) * OW + ow] *
                                     x[((n * t->C + g * cig + c) * t->H + ih) * t->W + iw];
                            }
                    err = fmax(err, fabs(gw[((o * cig + c) * t->k + kh) * t->k + kw] - s));
                    scale = fmax(scale, fabs(s));
                }
    const int okw = st == FC_OK && err <= 1e-4 * fmax(scale, 1.0);
    printf("  %-8s %-15s %d thread(s): weight gradient %s (max error %.2e, scale %.2f, status %d)\n",
           fc_isa_name(isa), t->name, threads, okw ? "ok" : "FAILED", err, scale, st);
    free(x); free(w); free(b); free(y); free(gw);
    return ok && okw;
}

int main(void)
{
    int ok = 1, levels = 0;
    printf("fastconv C kernels: threading %s, openmp %d\n", fc_threading_name(), fc_openmp_enabled());
    for (int isa = 0; isa < FC_ISA_COUNT; isa++) {
        if (!fc_isa_supported(isa)) continue;
        levels++;
        for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++)
            for (int th = 1; th <= 2; th++) ok &= run_case(&CASES[i], isa, th);
    }
    printf("%s: %d levels\n", ok ? "all ok" : "FAILURES", levels);
    return ok && levels ? 0 : 1;
}
