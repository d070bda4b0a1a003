/* Baseline microkernel: built with the compiler's default flags (SSE2 on
 * x86-64, NEON on aarch64), so it runs on any CPU of the architecture. */
#define FC_GEMM_ISA scalar
#define FC_VBYTES 16
#define FC_MR32 4
#define FC_NRV32 2
#define FC_MR64 4
#define FC_NRV64 2
#define FC_ISA_ID FC_ISA_SCALAR
#include "gemm_kernel.inc"
