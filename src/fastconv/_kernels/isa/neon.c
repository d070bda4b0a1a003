/* The AArch64 level, "neon": ASIMD (128-bit vectors, every ARMv8-A core has
 * them) with fused multiply-adds (-ffp-contract=fast: a*b+c compiled as one
 * fmla, which the baseline vec128 build, C99 without contraction, does not)
 * and register tiles sized for AArch64's 32 vector registers (the baseline's
 * are sized for x86-64's 16).  The same ukernel sources as every level; the
 * tuning table below is all that is NEON's own.  Built only for AArch64. */
#if !defined(__aarch64__) && !defined(_M_ARM64)
#error "isa/neon.c is AArch64's level"
#endif
#define FC_ISA_ID FC_ISA_NEON
#define FC_ISA_NAME neon
#define FC_VBYTES 16          /* bytes per vector register */
#define FC_MR32 8             /* GEMM tile, float: 8 rows x 3 vectors (24 of 32 registers) */
#define FC_NRV32 3
#define FC_MR64 8             /* double: 8 rows x 3 vectors of 2 */
#define FC_NRV64 3
#define FC_DMRP 6             /* direct tiles: 6 pixels x 4 vectors of output channels (24 accumulators) */
#define FC_DNRV 4
#define FC_DPW_CB 65536       /* direct pointwise layers: bytes of weights per input-channel block (64 KiB L1d) */
#define FC_DWC_CBF 8          /* depthwise: floats per channel block (two vectors) */
#define FC_GRP_U 6            /* grouped tiles: 4 channels x 6 vectors of pixels (24 accumulators) */
#define FC_INV_CB 16          /* involution: channels per row pass */
#define FC_INV_PCB 14         /* and per pair of rows */
#define FC_PWD_NP 5           /* pointwise inner products: 4 channels x 5 pixels */
#define FC_PWR_MR 8           /* pointwise, pixels in the vector: 8 rows x 3 vectors */
#include "ukernels/all.inc"
