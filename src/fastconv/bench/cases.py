"""The benchmark's layer list, as data.

Every case is one layer of a published network (or one image filter), with
its shapes and arguments written out the way ``torch.nn.functional`` takes
them.  The CLI (``python -m fastconv bench``), the pytest-benchmark files in
``bench/`` and ``bench/issue2_check.py`` all read this one list.

FLOPs are ``2 * MACs`` of the direct definition:

* convolution: ``N * C_out * prod(out) * (C_in / groups) * prod(kernel)``;
* transposed convolution (the scatter form, every input pixel times every tap):
  ``N * C_in * prod(in) * (C_out / groups) * prod(kernel)``;
* involution: ``N * C * prod(out) * K * K``;
* the whole involution module (``Involution2d``: average pooling by the stride,
  1x1 C -> C/4 with BatchNorm folded and ReLU, 1x1 C/4 -> K*K*G, involution):
  the involution's plus the two 1x1 convolutions',
  ``N * prod(out) * (C * C/4 + C/4 * K*K*G)`` (the pooling's adds are not counted);
* spatially separable filter: two 1-D passes, ``N * C * H_out * W_out * (kH + kW)``
  (the API defines ``separable_conv2d`` as two passes; every implementation
  timed here does two passes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Case", "CASES", "FAMILIES", "get_case", "select", "quick_cases"]

OPS = ("conv", "conv_transpose", "involution", "involution_module", "separable")


def _tup(v, nd):
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v),) * nd


@dataclass(frozen=True)
class Case:
    """One benchmarked layer.

    ``name`` is unique and short (used as the pytest param id); ``layer`` is a
    human description; ``op`` is one of ``conv``, ``conv_transpose``,
    ``involution``, ``separable``.  Spatial tuples have one entry per spatial
    dimension (1, 2 or 3).  For ``involution``, ``groups`` is the involution's
    group count G (kernel ``(N, G, K*K, H_out, W_out)``); ``involution_module``
    is the whole module that generates that kernel (reduction ratio 4, weights
    in the official state-dict names); for ``separable`` the
    kernel is ``(kH, kW)`` taps of a Gaussian shared by every channel.
    """
    family: str
    name: str
    layer: str
    op: str
    in_channels: int
    out_channels: int
    in_size: tuple
    kernel: tuple
    stride: tuple = None
    padding: tuple = None
    dilation: tuple = None
    groups: int = 1
    output_padding: tuple = None
    bias: bool = True
    quick: bool = False
    notes: str = field(default="", compare=False)

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"op must be one of {OPS}, got {self.op!r}")
        nd = len(self.in_size)
        for name, default in (("stride", 1), ("padding", 0), ("dilation", 1),
                              ("output_padding", 0)):
            v = getattr(self, name)
            object.__setattr__(self, name, _tup(default if v is None else v, nd))
        object.__setattr__(self, "kernel", _tup(self.kernel, nd))
        object.__setattr__(self, "in_size", tuple(self.in_size))
        if self.in_channels % self.groups or (
                not self.op.startswith("involution") and self.out_channels % self.groups):
            raise ValueError(f"{self.name}: groups={self.groups} must divide the channels")

    # ------------------------------------------------------------ shapes
    @property
    def nd(self) -> int:
        return len(self.in_size)

    @property
    def out_size(self) -> tuple:
        if self.op == "conv_transpose":
            return tuple((i - 1) * s - 2 * p + d * (k - 1) + op + 1
                         for i, k, s, p, d, op in zip(self.in_size, self.kernel, self.stride,
                                                      self.padding, self.dilation,
                                                      self.output_padding))
        return tuple((i + 2 * p - d * (k - 1) - 1) // s + 1
                     for i, k, s, p, d in zip(self.in_size, self.kernel, self.stride,
                                              self.padding, self.dilation))

    def input_shape(self, batch: int = 1) -> tuple:
        return (batch, self.in_channels) + self.in_size

    def output_shape(self, batch: int = 1) -> tuple:
        return (batch, self.out_channels) + self.out_size

    @property
    def weight_shape(self) -> tuple:
        """The weight of the direct form (``torch.nn.functional`` layout)."""
        if self.op == "conv":
            return (self.out_channels, self.in_channels // self.groups) + self.kernel
        if self.op == "conv_transpose":
            return (self.in_channels, self.out_channels // self.groups) + self.kernel
        if self.op.startswith("involution"):   # the generated kernel, per image
            return (self.groups, self.kernel[0] * self.kernel[1]) + self.out_size
        return self.kernel               # separable: (kH, kW) taps

    @property
    def is_dense(self) -> bool:
        """A (grouped, transposed) convolution that has a layer object."""
        return self.op in ("conv", "conv_transpose")

    @property
    def winograd_ok(self) -> bool:
        """Timed with ``algorithm="winograd"`` too: 2-D 3x3, stride 1, dilation 1
        (the algorithm's domain), not depthwise (allowed, but a transform per
        single channel only shows that "auto" is right not to pick it)."""
        return (self.op == "conv" and self.nd == 2 and self.kernel == (3, 3)
                and self.stride == (1, 1) and self.dilation == (1, 1)
                and self.in_channels // self.groups > 1)

    # ------------------------------------------------------------ work
    def macs(self, batch: int = 1) -> int:
        kprod = math.prod(self.kernel)
        if self.op == "conv":
            return (batch * self.out_channels * math.prod(self.out_size)
                    * (self.in_channels // self.groups) * kprod)
        if self.op == "conv_transpose":
            return (batch * self.in_channels * math.prod(self.in_size)
                    * (self.out_channels // self.groups) * kprod)
        if self.op == "involution":
            return batch * self.in_channels * math.prod(self.out_size) * kprod
        if self.op == "involution_module":
            c, cr = self.in_channels, self.in_channels // 4
            return batch * math.prod(self.out_size) * (c * kprod + c * cr + cr * kprod * self.groups)
        return batch * self.in_channels * math.prod(self.out_size) * sum(self.kernel)

    def flops(self, batch: int = 1) -> int:
        return 2 * self.macs(batch)

    # ------------------------------------------------------------ data
    def make_inputs(self, batch: int = 1, dtype=np.float32, seed: int = 0) -> dict:
        """Random operands: ``x`` and, by op, ``weight``/``bias``, ``kernel``, or
        ``row``/``col``.  Weights are scaled by 1/sqrt(fan-in) so outputs are O(1)."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal(self.input_shape(batch)).astype(dtype)
        d = {"x": x}
        if self.op in ("conv", "conv_transpose"):
            w = rng.standard_normal(self.weight_shape)
            fan_in = (self.in_channels // self.groups) * math.prod(self.kernel)
            if self.op == "conv_transpose":
                s = math.prod(self.stride)
                fan_in = max(1, self.in_channels // self.groups * math.prod(self.kernel) // s)
            d["weight"] = (w / math.sqrt(fan_in)).astype(dtype)
            d["bias"] = (0.1 * rng.standard_normal(self.out_channels)).astype(dtype) \
                if self.bias else None
        elif self.op == "involution":
            k = rng.standard_normal((batch,) + self.weight_shape)
            d["kernel"] = (k / math.sqrt(math.prod(self.kernel))).astype(dtype)
        elif self.op == "involution_module":
            c, cr, kkg = self.in_channels, self.in_channels // 4, math.prod(self.kernel) * self.groups
            sd = {"conv1.conv.weight": rng.standard_normal((cr, c, 1, 1)) / math.sqrt(c),
                  "conv1.bn.weight": rng.uniform(0.5, 1.5, cr),
                  "conv1.bn.bias": 0.1 * rng.standard_normal(cr),
                  "conv1.bn.running_mean": 0.1 * rng.standard_normal(cr),
                  "conv1.bn.running_var": rng.uniform(0.5, 1.5, cr),
                  "conv2.conv.weight": rng.standard_normal((kkg, cr, 1, 1)) / math.sqrt(cr),
                  "conv2.conv.bias": 0.1 * rng.standard_normal(kkg)}
            d["state_dict"] = {k: v.astype(dtype) for k, v in sd.items()}
        else:
            kh, kw = self.kernel
            d["col"] = gaussian_taps(kh).astype(dtype)
            d["row"] = gaussian_taps(kw).astype(dtype)
        return d

    def describe(self) -> str:
        return (f"{self.family} / {self.layer}: {self.op} x{self.input_shape(1)[1:]} -> "
                f"{self.output_shape(1)[1:]}, kernel {self.kernel}, stride {self.stride}, "
                f"padding {self.padding}, dilation {self.dilation}, groups {self.groups}")


def gaussian_taps(k: int, sigma: float | None = None) -> np.ndarray:
    """A normalised odd-length Gaussian (sigma as OpenCV's getGaussianKernel picks)."""
    if sigma is None:
        sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8
    t = np.arange(k) - (k - 1) / 2
    g = np.exp(-0.5 * (t / sigma) ** 2)
    return g / g.sum()


# ---------------------------------------------------------------- the list
def _conv(family, name, layer, cin, cout, size, k, s=1, p=None, d=1, g=1, **kw):
    if p is None:                       # "same"-style symmetric padding for odd kernels
        p = tuple(dd * (kk - 1) // 2 for kk, dd in zip(_tup(k, len(size)), _tup(d, len(size))))
    return Case(family, name, layer, "conv", cin, cout, size, k, s, p, d, g, **kw)


def _convt(family, name, layer, cin, cout, size, k, s, p, op=0, **kw):
    return Case(family, name, layer, "conv_transpose", cin, cout, size, k, s, p, 1, 1, op,
                **kw)


def _inv(name, layer, c, size, k=7, s=1, op="involution", **kw):
    return Case("RedNet-50", name, layer, op, c, c, size, k, s,
                (k - 1) // 2, 1, c // 16, **kw)


R50, VGG, MB2, CNX, RNX, DL, GAN, UNET, C3D, R3D, IMG = (
    "ResNet-50", "VGG-16", "MobileNetV2", "ConvNeXt-T", "ResNeXt-50 32x4d", "DeepLabv3",
    "DCGAN generator", "U-Net", "C3D", "R3D-18", "Image filter")

CASES: list[Case] = [
    # ResNet-50 (torchvision v1.5: the stride sits on the 3x3)
    _conv(R50, "r50_stem", "conv1 7x7/2 3->64 @224", 3, 64, (224, 224), 7, 2, quick=True),
    _conv(R50, "r50_3x3_64", "3x3 64->64 @56", 64, 64, (56, 56), 3, quick=True),
    _conv(R50, "r50_3x3_128", "3x3 128->128 @28", 128, 128, (28, 28), 3),
    _conv(R50, "r50_3x3_256", "3x3 256->256 @14", 256, 256, (14, 14), 3, quick=True),
    _conv(R50, "r50_3x3_512", "3x3 512->512 @7", 512, 512, (7, 7), 3),
    _conv(R50, "r50_3x3s2_128", "3x3/2 128->128 @56", 128, 128, (56, 56), 3, 2, quick=True),
    _conv(R50, "r50_1x1_64_64", "1x1 64->64 @56", 64, 64, (56, 56), 1),
    _conv(R50, "r50_1x1_64_256", "1x1 64->256 @56", 64, 256, (56, 56), 1, quick=True),
    _conv(R50, "r50_1x1_256_64", "1x1 256->64 @56", 256, 64, (56, 56), 1),
    _conv(R50, "r50_1x1s2_256_512", "1x1/2 256->512 @56 (downsample)", 256, 512, (56, 56), 1, 2),
    _conv(R50, "r50_1x1_512_128", "1x1 512->128 @28", 512, 128, (28, 28), 1),
    _conv(R50, "r50_1x1_1024_256", "1x1 1024->256 @14", 1024, 256, (14, 14), 1, quick=True),
    _conv(R50, "r50_1x1_256_1024", "1x1 256->1024 @14", 256, 1024, (14, 14), 1),
    _conv(R50, "r50_1x1_2048_512", "1x1 2048->512 @7", 2048, 512, (7, 7), 1),
    _conv(R50, "r50_1x1_512_2048", "1x1 512->2048 @7", 512, 2048, (7, 7), 1),
    # VGG-16 (3x3 64->64 @224 is 3.7 GFLOP x 2; the 112 one is representative)
    _conv(VGG, "vgg_3x3_128", "conv2_2 3x3 128->128 @112", 128, 128, (112, 112), 3),
    _conv(VGG, "vgg_3x3_256", "conv3_2 3x3 256->256 @56", 256, 256, (56, 56), 3),
    _conv(VGG, "vgg_3x3_512_28", "conv4_2 3x3 512->512 @28", 512, 512, (28, 28), 3),
    _conv(VGG, "vgg_3x3_512_14", "conv5_2 3x3 512->512 @14", 512, 512, (14, 14), 3,
          quick=True),
    # MobileNetV2 (stride on the depthwise conv)
    _conv(MB2, "mb2_stem", "stem 3x3/2 3->32 @224", 3, 32, (224, 224), 3, 2),
    _conv(MB2, "mb2_dw_96s2", "dw 3x3/2 96 @112", 96, 96, (112, 112), 3, 2, g=96, quick=True),
    _conv(MB2, "mb2_dw_144", "dw 3x3 144 @56", 144, 144, (56, 56), 3, g=144, quick=True),
    _conv(MB2, "mb2_dw_192", "dw 3x3 192 @28", 192, 192, (28, 28), 3, g=192),
    _conv(MB2, "mb2_dw_384", "dw 3x3 384 @14", 384, 384, (14, 14), 3, g=384),
    _conv(MB2, "mb2_dw_576s2", "dw 3x3/2 576 @14", 576, 576, (14, 14), 3, 2, g=576),
    _conv(MB2, "mb2_dw_960", "dw 3x3 960 @7", 960, 960, (7, 7), 3, g=960, quick=True),
    _conv(MB2, "mb2_pw_32_16", "pw 1x1 32->16 @112", 32, 16, (112, 112), 1, quick=True),
    _conv(MB2, "mb2_pw_16_96", "pw 1x1 16->96 @112", 16, 96, (112, 112), 1),
    _conv(MB2, "mb2_pw_144_24", "pw 1x1 144->24 @56", 144, 24, (56, 56), 1, quick=True),
    _conv(MB2, "mb2_pw_192_32", "pw 1x1 192->32 @28", 192, 32, (28, 28), 1),
    _conv(MB2, "mb2_pw_384_64", "pw 1x1 384->64 @14", 384, 64, (14, 14), 1),
    _conv(MB2, "mb2_pw_960_160", "pw 1x1 960->160 @7", 960, 160, (7, 7), 1, quick=True),
    _conv(MB2, "mb2_pw_320_1280", "pw 1x1 320->1280 @7", 320, 1280, (7, 7), 1),
    # ConvNeXt-T
    _conv(CNX, "cnx_stem", "stem 4x4/4 3->96 @224", 3, 96, (224, 224), 4, 4, 0),
    _conv(CNX, "cnx_dw7_96", "dw 7x7 96 @56", 96, 96, (56, 56), 7, g=96, quick=True),
    _conv(CNX, "cnx_dw7_384", "dw 7x7 384 @14", 384, 384, (14, 14), 7, g=384),
    # ResNeXt-50 32x4d grouped 3x3 (width 128 / 32 groups = 4 channels per group)
    _conv(RNX, "rnx_g32_128", "3x3 g32 128 @56", 128, 128, (56, 56), 3, g=32, quick=True),
    _conv(RNX, "rnx_g32_256", "3x3 g32 256 @28", 256, 256, (28, 28), 3, g=32),
    _conv(RNX, "rnx_g32_512", "3x3 g32 512 @14", 512, 512, (14, 14), 3, g=32, quick=True),
    _conv(RNX, "rnx_g32_1024s2", "3x3/2 g32 1024 @14", 1024, 1024, (14, 14), 3, 2, g=32),
    _conv(RNX, "rnx_g32_1024", "3x3 g32 1024 @7", 1024, 1024, (7, 7), 3, g=32),
    # DeepLabv3 (output stride 8: dilated layer3/layer4; ASPP branch)
    _conv(DL, "dl_d2_256", "layer3 3x3 d2 256 @28", 256, 256, (28, 28), 3, d=2),
    _conv(DL, "dl_d2_512", "layer4 3x3 d2 512 @28", 512, 512, (28, 28), 3, d=2),
    _conv(DL, "dl_d12_256", "ASPP 3x3 d12 256 @28", 256, 256, (28, 28), 3, d=12, quick=True),
    # DCGAN generator (ConvTranspose2d, bias=False as in the paper's code)
    _convt(GAN, "gan_ct_100_512", "ct 4x4 100->512 1->4", 100, 512, (1, 1), 4, 1, 0,
           bias=False),
    _convt(GAN, "gan_ct_512_256", "ct 4x4/2 512->256 8->16", 512, 256, (8, 8), 4, 2, 1,
           bias=False, quick=True),
    _convt(GAN, "gan_ct_256_128", "ct 4x4/2 256->128 16->32", 256, 128, (16, 16), 4, 2, 1,
           bias=False),
    _convt(GAN, "gan_ct_128_64", "ct 4x4/2 128->64 32->64", 128, 64, (32, 32), 4, 2, 1,
           bias=False, quick=True),
    _convt(GAN, "gan_ct_64_3", "ct 4x4/2 64->3 64->128", 64, 3, (64, 64), 4, 2, 1,
           bias=False),
    # U-Net up-convolutions
    _convt(UNET, "unet_up_512", "up 2x2/2 512->256 32->64", 512, 256, (32, 32), 2, 2, 0),
    _convt(UNET, "unet_up_256", "up 2x2/2 256->128 64->128", 256, 128, (64, 64), 2, 2, 0,
           quick=True),
    # video (3-D)
    _conv(C3D, "c3d_64_128", "3x3x3 64->128 @8x28x28", 64, 128, (8, 28, 28), 3),
    _conv(R3D, "r3d_128", "3x3x3 128->128 @4x14x14", 128, 128, (4, 14, 14), 3, quick=True),
    # RedNet-50 involution (G = C/16)
    _inv("red_stem", "stem inv 3x3 C32 @112", 32, (112, 112), 3),
    _inv("red_inv_64", "inv 7x7 C64 @56", 64, (56, 56), quick=True),
    _inv("red_inv_128", "inv 7x7 C128 @28", 128, (28, 28)),
    _inv("red_inv_256", "inv 7x7 C256 @14", 256, (14, 14), quick=True),
    _inv("red_inv_512", "inv 7x7 C512 @7", 512, (7, 7)),
    _inv("red_inv_128s2", "inv 7x7/2 C128 @56", 128, (56, 56), 7, 2, quick=True),
    # ... and the whole Involution2d module (kernel generation + involution)
    _inv("red_mod_stem", "module inv 3x3 C32 @112", 32, (112, 112), 3, op="involution_module"),
    _inv("red_mod_64", "module inv 7x7 C64 @56", 64, (56, 56), op="involution_module",
         quick=True),
    _inv("red_mod_128", "module inv 7x7 C128 @28", 128, (28, 28), op="involution_module"),
    _inv("red_mod_256", "module inv 7x7 C256 @14", 256, (14, 14), op="involution_module"),
    _inv("red_mod_512", "module inv 7x7 C512 @7", 512, (7, 7), op="involution_module",
         quick=True),
    _inv("red_mod_128s2", "module inv 7x7/2 C128 @56", 128, (56, 56), 7, 2,
         op="involution_module"),
    # image processing
    Case(IMG, "blur15_512", "Gaussian 15-tap separable 3x512x512", "separable", 3, 3,
         (512, 512), 15, 1, 7, quick=True),
]

FAMILIES: list[str] = list(dict.fromkeys(c.family for c in CASES))

_BY_NAME = {c.name: c for c in CASES}
assert len(_BY_NAME) == len(CASES), "case names must be unique"


def get_case(name: str) -> Case:
    return _BY_NAME[name]


def quick_cases() -> list[Case]:
    return [c for c in CASES if c.quick]


def select(*, quick: bool = False, filter: str | None = None,
           families=None) -> list[Case]:
    """Cases in list order: the quick subset or all, then those whose family,
    name or layer text contains ``filter`` (case-insensitive; several words
    separated by commas match any), then those of ``families``."""
    cases = quick_cases() if quick else list(CASES)
    if filter:
        words = [w.strip().lower() for w in filter.split(",") if w.strip()]
        cases = [c for c in cases
                 if any(w in f"{c.family} {c.name} {c.layer} {c.op}".lower() for w in words)]
    if families:
        fams = {f.lower() for f in families}
        cases = [c for c in cases if c.family.lower() in fams]
    return cases
