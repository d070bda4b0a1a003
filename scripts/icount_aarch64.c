/* One fastconv call through the C API, for counting the instructions it
 * executes under qemu-aarch64 (scripts/qemu_icount.sh): the layer named by
 * argv[1] on the level argv[2] ("vec128" or "neon"), float32, one thread,
 * argv[3] times (the counter takes the difference of 2 calls and 1, so that
 * start-up and first-call costs drop out); prints the number of outputs.  Links the cross-built kernel
 * objects statically. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fastconv.h"

typedef struct { const char *name; int64_t C, O, H, k, s, g; int algo; } layer;
static const layer LAYERS[] = {
    {"conv3x3_64_28", 64, 64, 28, 3, 1, 1, FC_ALGO_DIRECT},   /* dense 3x3, the direct tiles on both */
    {"winograd3x3_64_28", 64, 64, 28, 3, 1, 1, FC_ALGO_WINOGRAD},
    {"pw1x1_128_256_14", 128, 256, 14, 1, 1, 1, FC_ALGO_AUTO},   /* 1x1 */
    {"dw3x3_144_28", 144, 144, 28, 3, 1, 144, FC_ALGO_AUTO},     /* depthwise */
    {"grp3x3_128_g32_14", 128, 128, 14, 3, 1, 32, FC_ALGO_AUTO}, /* grouped, 4 channels a group */
};

int main(int argc, char **argv)
{
    if (argc < 3) return 2;
    const layer *L = NULL;
    for (size_t i = 0; i < sizeof LAYERS / sizeof *LAYERS; i++)
        if (!strcmp(argv[1], LAYERS[i].name)) L = &LAYERS[i];
    int isa = -1;
    for (int i = 0; i < FC_ISA_COUNT; i++)
        if (fc_isa_name(i) && !strcmp(argv[2], fc_isa_name(i))) isa = i;
    if (!L || isa < 0 || fc_set_isa(isa) != FC_OK) return 2;
    fc_set_num_threads(1);
    fc_conv_desc d;
    memset(&d, 0, sizeof d);
    const int64_t p = L->k / 2, OH = (L->H + 2 * p - L->k) / L->s + 1;
    d.N = 1; d.C_in = L->C; d.C_out = L->O; d.groups = L->g;
    d.in[0] = d.out[0] = d.k[0] = 1;
    d.in[1] = d.in[2] = L->H; d.out[1] = d.out[2] = OH; d.k[1] = d.k[2] = L->k;
    for (int i = 0; i < 3; i++) { d.stride[i] = i ? L->s : 1; d.dil[i] = 1; d.pad0[i] = d.pad1[i] = i ? p : 0; }
    const size_t nx = (size_t)(L->C * L->H * L->H), nw = (size_t)(L->O * (L->C / L->g) * L->k * L->k),
                 ny = (size_t)(L->O * OH * OH);
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *y = malloc(ny * 4);
    for (size_t i = 0; i < nx; i++) x[i] = (float)(i % 17) * 0.1f;
    for (size_t i = 0; i < nw; i++) w[i] = (float)(i % 13) * 0.01f;
    const int calls = argc > 3 ? atoi(argv[3]) : 1;   /* the counter subtracts 1 call from 2 */
    int st = 0;
    for (int c = 0; c < calls; c++) st |= fc_conv(&d, FC_F32, L->algo, x, w, NULL, y);
    fc_plan pl;
    st |= fc_conv_plan(&d, FC_F32, L->algo, isa, FC_PLAN_ONESHOT, &pl);
    printf("%s %s outputs %zu status %d impl %s y0 %g\n", L->name, argv[2], ny, st, fc_impl_name(pl.impl),
           (double)y[ny / 2]);
    free(x); free(w); free(y);
    return st != FC_OK;
}
