/* Baseline direct-convolution tiles: the compiler's default flags (SSE2 on
 * x86-64, NEON on aarch64), so they run on any CPU of the architecture.
 * Tile: 4 pixels x 2 vectors of output channels (8 f32 / 4 f64). */
#define FC_DIRECT_ISA scalar
#define FC_VBYTES 16
#define FC_DMRP 4
#define FC_DNRV 2
#define FC_ISA_ID FC_ISA_SCALAR
#include "conv_direct_kernel.inc"
