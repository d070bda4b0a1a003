/* The baseline level, "vec128": 128-bit vectors from portable C (GCC and
 * Clang vector extensions: SSE2 on x86-64, ASIMD on AArch64; plain loops
 * under MSVC), built with the compiler's default flags, so that it runs on
 * any CPU of the architecture.  Its tuning table: 16 registers of 16 bytes. */
#define FC_ISA_ID FC_ISA_VEC128
#define FC_ISA_NAME vec128
#define FC_VBYTES 16          /* bytes per vector register */
#define FC_MR32 4             /* GEMM tile, float: 4 rows x 2 vectors */
#define FC_NRV32 2
#define FC_MR64 4
#define FC_NRV64 2
#define FC_DMRP 4             /* direct tiles: 4 pixels x 2 vectors of output channels */
#define FC_DNRV 2
#define FC_DPW_CB 131072      /* direct pointwise layers: bytes of weights per input-channel block */
#define FC_DWC_CBF 8          /* depthwise: floats per channel block */
#define FC_GRP_U 3            /* grouped tiles: 4 channels x 3 vectors of pixels */
#define FC_INV_CB 12          /* involution: channels per row pass */
#define FC_INV_PCB 6          /* and per pair of rows */
#define FC_PWD_NP 3           /* pointwise inner products: 4 channels x 3 pixels */
#define FC_PWR_MR 4           /* pointwise, pixels in the vector: 4 rows x 3 vectors */
#include "ukernels/all.inc"
