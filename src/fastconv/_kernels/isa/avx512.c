/* The AVX-512 level (F, DQ, BW, VL): this file alone is built with
 * -mavx512f -mavx512vl -mavx512bw -mavx512dq (setup.py).  Its tuning table:
 * 32 registers of 64 bytes. */
#define FC_ISA_ID FC_ISA_AVX512
#define FC_ISA_NAME avx512
#define FC_VBYTES 64          /* bytes per vector register */
#define FC_MR32 8             /* GEMM tile, float: 8 rows x 2 zmm (16 of 32 registers) */
#define FC_NRV32 2
#define FC_MR64 8             /* double: 8 rows x 2 zmm */
#define FC_NRV64 2
#define FC_DMRP 12            /* direct tiles: 12 pixels x 2 zmm of output channels (24 accumulators) */
#define FC_DNRV 2
#define FC_DPW_CB 131072      /* direct pointwise layers: bytes of weights per input-channel block */
#define FC_DWC_CBF 16         /* depthwise: floats per channel block (one zmm) */
#define FC_GRP_U 6            /* grouped tiles: 4 channels x 6 vectors of pixels */
#define FC_INV_CB 16          /* involution: channels per row pass (16 accumulators) */
#define FC_INV_PCB 14         /* and per pair of rows (28 accumulators) */
#define FC_PWD_NP 5           /* pointwise inner products: 4 channels x 5 pixels */
#define FC_PWR_MR 8           /* pointwise, pixels in the vector: 8 rows x 3 vectors */
#include "ukernels/all.inc"
