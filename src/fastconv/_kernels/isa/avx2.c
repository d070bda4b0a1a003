/* The AVX2+FMA level: this file alone is built with -mavx2 -mfma
 * (setup.py).  Its tuning table: 16 registers of 32 bytes. */
#define FC_ISA_ID FC_ISA_AVX2
#define FC_ISA_NAME avx2
#define FC_VBYTES 32          /* bytes per vector register */
#define FC_MR32 6             /* GEMM tile, float: 6 rows x 2 ymm (12 of 16 registers) */
#define FC_NRV32 2
#define FC_MR64 6             /* double: 6 rows x 2 ymm */
#define FC_NRV64 2
#define FC_DMRP 6             /* direct tiles: 6 pixels x 2 ymm of output channels (12 accumulators) */
#define FC_DNRV 2
/* Direct pointwise layers: input-channel blocks of 128, whose 8 KiB of
 * weights stay in L1 while all the tiles of the plane use them.  1x1
 * 2048->512 @7, 1 thread: 0.56 of ONNX Runtime with 2048-channel blocks,
 * 0.80 with 128. */
#define FC_DPW_CB 8192
#define FC_DWC_CBF 8          /* depthwise: floats per channel block (one ymm) */
#define FC_GRP_U 3            /* grouped tiles: 4 channels x 3 vectors of pixels */
#define FC_INV_CB 12          /* involution: channels per row pass (12 accumulators) */
#define FC_INV_PCB 6          /* and per pair of rows (12 accumulators) */
#define FC_PWD_NP 3           /* pointwise inner products: 4 channels x 3 pixels */
#define FC_PWR_MR 4           /* pointwise, pixels in the vector: 4 rows x 3 vectors */
#include "ukernels/all.inc"
