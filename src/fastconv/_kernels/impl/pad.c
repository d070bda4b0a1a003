/* The input preparation FC_PREP_PAD: a padded copy (any element type). */
#include "common.h"

typedef struct { const fc_conv_desc *d; int64_t PD, PH, PW; size_t es; const char *src; char *out; } fc_pad_ctx;

static void fc_pad_rows(void *ctx, int tid, int64_t r0, int64_t r1)
{
    const fc_pad_ctx *c = (const fc_pad_ctx *)ctx;
    const fc_conv_desc *d = c->d;
    const int64_t PD = c->PD, PH = c->PH, PW = c->PW, ID = d->in[0], IH = d->in[1], IW = d->in[2];
    const size_t es = c->es;
    (void)tid;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t nc = r / (PD * PH), pd = (r / PH) % PD, ph = r % PH;
        char *dst = c->out + (size_t)r * PW * es;
        const int64_t sd = fc_pad_index(pd - d->pad0[0], ID, d->pad_mode);
        const int64_t sh = fc_pad_index(ph - d->pad0[1], IH, d->pad_mode);
        if (sd < 0 || sh < 0) { memset(dst, 0, (size_t)PW * es); continue; }
        const char *srow = c->src + (size_t)(((nc * ID + sd) * IH + sh) * IW) * es;
        memcpy(dst + (size_t)d->pad0[2] * es, srow, (size_t)IW * es);
        for (int64_t pw = 0; pw < PW; pw++) {
            if (pw >= d->pad0[2] && pw < d->pad0[2] + IW) continue;
            const int64_t sw = fc_pad_index(pw - d->pad0[2], IW, d->pad_mode);
            if (sw < 0) memset(dst + (size_t)pw * es, 0, es);
            else memcpy(dst + (size_t)pw * es, srow + (size_t)sw * es, es);
        }
    }
}

/* A padded copy of x for the padding modes other than zeros.  Every element
 * of the padded input is read from the source index the mode maps it to. */
void *fc_pad_copy(const fc_conv_desc *d, int dtype, const void *x, fc_conv_desc *dp)
{
    const size_t es = (size_t)fc_dsize(dtype);
    *dp = fc_padded_desc(d);
    const int64_t NC = d->N * d->C_in, PD = dp->in[0], PH = dp->in[1], PW = dp->in[2];
    char *out = (char *)fc_malloc((size_t)(NC * PD * PH * PW) * es);
    if (!out) return NULL;
    const int64_t rows = NC * PD * PH, threads = fc_threads_for(rows / 64 + 1);
    fc_pad_ctx c = {d, PD, PH, PW, es, (const char *)x, out};
    fc_parallel_for((int)threads, rows, fc_grain(rows, (int)threads), fc_pad_rows, &c);
    return out;
}
