/* In-register transposes shared by the per-ISA kernel files (AVX and up):
 * r[0..7] holds 8 rows of 8 floats (r[0..3]: 4 rows of 4 doubles); on return
 * r[k] holds column k. */
#ifndef FC_SIMD_TRANSPOSE_H
#define FC_SIMD_TRANSPOSE_H
#if defined(__AVX__)
#include <immintrin.h>

static inline void fc_tr8x8_ps(__m256 *r)
{
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4)
        for (int j = 0; j < 2; j++) {
            u[i + j] = _mm256_shuffle_ps(t[i + j], t[i + j + 2], 0x44);
            u[i + j + 2] = _mm256_shuffle_ps(t[i + j], t[i + j + 2], 0xEE);
        }
    /* u[0..3]: columns (0,4) (2,6) (1,5) (3,7) of rows 0-3 in the two halves;
     * u[4..7] the same of rows 4-7 */
    static const int ord[4] = {0, 2, 1, 3};
    for (int k = 0; k < 4; k++) {
        const __m256 lo = u[ord[k]], hi = u[4 + ord[k]];
        r[k] = _mm256_permute2f128_ps(lo, hi, 0x20);
        r[k + 4] = _mm256_permute2f128_ps(lo, hi, 0x31);
    }
}

#if defined(__AVX512F__)
/* 16 x 16 floats in zmm registers: r[i] row i in, column i out.  Pairs of
 * rows interleaved (unpack ps), then pairs of pairs (unpack pd): w[4m + c]
 * lane L holds column 4L + c of rows 4m..4m+3; the 4 x 4 lanes of w[c],
 * w[4 + c], w[8 + c], w[12 + c] transposed by two rounds of shuffle_f32x4. */
static inline void fc_tr16x16_ps(__m512 *r)
{
    __m512 t[16], w[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        const __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
        const __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
        w[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        w[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        w[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        w[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int c = 0; c < 4; c++) {
        const __m512 v0 = _mm512_shuffle_f32x4(w[c], w[4 + c], 0x44);
        const __m512 v1 = _mm512_shuffle_f32x4(w[c], w[4 + c], 0xEE);
        const __m512 v2 = _mm512_shuffle_f32x4(w[8 + c], w[12 + c], 0x44);
        const __m512 v3 = _mm512_shuffle_f32x4(w[8 + c], w[12 + c], 0xEE);
        r[c] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
        r[8 + c] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
    }
}
#endif

static inline void fc_tr4x4_pd(__m256d *r)
{
    const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}
#endif
#endif
