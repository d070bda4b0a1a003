"""Draw the user guide's pictures of what each op computes (docs/_static/figures/).

The PNGs are committed, so building the docs needs no matplotlib; run this
after changing a picture:  python docs/_scripts/make_figures.py
Every picture is a few grids of cells: the input (its padding hatched), the
kernel, the output, with the cells that make one output highlighted.
"""
from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "_static" / "figures"
IN_C, PAD_C, HIT_C, KER_C, OUT_C, OUTHIT_C = ("#dbe9f6", "#f2f2f2", "#f4a259", "#bcd8a4",
                                              "#e8e0f0", "#8e6bbf")
EDGE = "#555555"


def grid(ax, x0, y0, rows, cols, color=IN_C, hits=(), hit=HIT_C, pad=0, label=None,
         values=None, cell=1.0):
    """A rows x cols grid with its top-left corner at (x0, y0) (y grows down);
    pad: a ring of padding cells drawn hatched around it; hits: (r, c) cells
    (in padded coordinates) filled with hit."""
    R, C = rows + 2 * pad, cols + 2 * pad
    hits = set(hits)
    for r in range(R):
        for c in range(C):
            inside = pad <= r < pad + rows and pad <= c < pad + cols
            fc = hit if (r, c) in hits else (color if inside else PAD_C)
            ax.add_patch(Rectangle((x0 + c * cell, -(y0 + (r + 1) * cell)), cell, cell,
                                   facecolor=fc, edgecolor=EDGE, lw=0.8,
                                   hatch=None if inside else "//"))
            if values is not None and inside:
                ax.text(x0 + (c + 0.5) * cell, -(y0 + (r + 0.5) * cell),
                        values[r - pad][c - pad], ha="center", va="center", fontsize=7)
    if label:
        ax.text(x0 + C * cell / 2, -(y0 - 0.35), label, ha="center", va="bottom", fontsize=9)
    return x0 + C * cell


def arrow(ax, x0, x1, y, text=""):
    ax.add_patch(FancyArrowPatch((x0, -y), (x1, -y), arrowstyle="-|>", mutation_scale=12,
                                 color="#333333"))
    if text:
        ax.text((x0 + x1) / 2, -(y - 0.3), text, ha="center", va="bottom", fontsize=8)


def finish(fig, ax, name, title):
    ax.set_aspect("equal")
    ax.axis("off")
    ax.autoscale_view()
    ax.set_title(title, fontsize=10, pad=24)
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / f"{name}.png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def window(r0, c0, k, d=1):
    return [(r0 + i * d, c0 + j * d) for i in range(k) for j in range(k)]


def conv_figure(name, title, H, k, stride=1, pad=0, dil=1, at=(0, 0), note=""):
    span = dil * (k - 1) + 1
    Ho = (H + 2 * pad - span) // stride + 1
    fig, ax = plt.subplots(figsize=(7.2, 3.0))
    r, c = at
    x = grid(ax, 0, 0, H, H, pad=pad, hits=window(r * stride, c * stride, k, dil),
             label=f"input {H}x{H}" + (f", padding {pad}" if pad else ""))
    arrow(ax, x + 0.4, x + 1.8, (H + 2 * pad) / 2, "x")
    x = grid(ax, x + 2.2, (H + 2 * pad - k) / 2, k, k, color=KER_C,
             label=f"kernel {k}x{k}" + (f", dilation {dil}" if dil > 1 else ""))
    arrow(ax, x + 0.4, x + 1.8, (H + 2 * pad) / 2, "=")
    grid(ax, x + 2.2, (H + 2 * pad - Ho) / 2, Ho, Ho, color=OUT_C, hits=[(r, c)], hit=OUTHIT_C,
         label=f"output {Ho}x{Ho}" + (f", stride {stride}" if stride > 1 else ""))
    if note:
        ax.text(0, -(H + 2 * pad + 1.0), note, fontsize=8, va="top")
    finish(fig, ax, name, title)


def channels_figure(name, title, groups, C_in=4, C_out=4, note=""):
    """Which input channels feed which output channels: blocks per group."""
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    cols = ["#f4a259", "#5b8e7d", "#bc4b51", "#8cb369", "#4d648d", "#e9c46a"]
    gi, go = C_in // groups, C_out // groups
    for c in range(C_in):
        g = c // gi
        ax.add_patch(Rectangle((0, -(c + 1) * 1.1), 2.4, 0.9, facecolor=cols[g % 6],
                               alpha=0.5, edgecolor=EDGE))
        ax.text(1.2, -(c + 0.55) * 1.1, f"in {c}", ha="center", va="center", fontsize=8)
    for o in range(C_out):
        g = o // go
        ax.add_patch(Rectangle((7, -(o + 1) * 1.1), 2.4, 0.9, facecolor=cols[g % 6],
                               alpha=0.5, edgecolor=EDGE))
        ax.text(8.2, -(o + 0.55) * 1.1, f"out {o}", ha="center", va="center", fontsize=8)
        for c in range(g * gi, (g + 1) * gi):
            ax.plot([2.4, 7], [-(c + 0.55) * 1.1, -(o + 0.55) * 1.1], color=cols[g % 6], lw=1.2)
    ax.text(4.7, -(max(C_in, C_out) + 0.1) * 1.1, f"groups={groups}", ha="center", fontsize=9)
    if note:
        ax.text(0, -(max(C_in, C_out) + 0.6) * 1.1, note, fontsize=8, va="top")
    finish(fig, ax, name, title)


def separable_figure():
    fig, ax = plt.subplots(figsize=(7.6, 2.8))
    x = grid(ax, 0, 0, 5, 5, label="input")
    arrow(ax, x + 0.3, x + 1.6, 2.5, "col (kH)")
    x = grid(ax, x + 2.0, 1, 3, 1, color=KER_C, label="col")
    x = grid(ax, x + 0.8, 0, 3, 5, color="#fff3c4", label="vertical pass")
    arrow(ax, x + 0.3, x + 1.6, 2.5, "row (kW)")
    x = grid(ax, x + 2.0, 2, 1, 3, color=KER_C, label="row")
    grid(ax, x + 0.8, 1, 3, 3, color=OUT_C, label="output")
    ax.text(0, -6.0, "outer(col, row) as two 1-D passes: kH + kW taps per output, not kH x kW",
            fontsize=8, va="top")
    finish(fig, ax, "separable", "separable_conv2d: a vertical then a horizontal 1-D pass")


def transposed_figure():
    fig, ax = plt.subplots(figsize=(7.2, 3.2))
    x = grid(ax, 0, 2, 2, 2, hits=[(0, 0)], label="input 2x2")
    arrow(ax, x + 0.4, x + 1.8, 3, "scatter")
    x = grid(ax, x + 2.2, 2.5, 3, 3, color=KER_C, label="kernel 3x3")
    arrow(ax, x + 0.4, x + 1.8, 3, "stride 2")
    grid(ax, x + 2.2, 0.5, 5, 5, color=OUT_C, hits=window(0, 0, 3), hit=OUTHIT_C,
         label="output 5x5")
    ax.text(0, -6.4, "each input value adds weight x value into a 3x3 block; blocks start "
            "stride apart\n(out = (in - 1) * stride - 2 * padding + kernel + output_padding)",
            fontsize=8, va="top")
    finish(fig, ax, "transposed", "conv_transpose2d: every input spreads the kernel")


def involution_figure():
    fig, ax = plt.subplots(figsize=(7.2, 3.2))
    x = grid(ax, 0, 0, 5, 5, pad=1, hits=window(1, 1, 3), label="input (one channel), padded")
    arrow(ax, x + 0.4, x + 1.8, 3.5, "x")
    vals = [["a", "b", "c"], ["d", "e", "f"], ["g", "h", "i"]]
    x = grid(ax, x + 2.2, 2, 3, 3, color=KER_C, values=vals, label="kernel of pixel (1, 1)")
    arrow(ax, x + 0.4, x + 1.8, 3.5, "=")
    grid(ax, x + 2.2, 1, 5, 5, color=OUT_C, hits=[(1, 1)], hit=OUTHIT_C, label="output")
    ax.text(0, -8.0, "every output pixel has its own K x K kernel (generated from the input),"
            " shared by the C / G channels of its group", fontsize=8, va="top")
    finish(fig, ax, "involution", "involution2d: a kernel per pixel and group")


def pooling_figure():
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    vals = [["1", "3", "2", "0"], ["5", "4", "1", "2"], ["0", "2", "7", "1"],
            ["3", "1", "6", "8"]]
    x = grid(ax, 0, 0, 4, 4, values=vals, hits=window(0, 0, 2), label="input 4x4")
    arrow(ax, x + 0.4, x + 2.0, 2, "max 2x2, stride 2")
    grid(ax, x + 2.4, 1, 2, 2, color=OUT_C, hits=[(0, 0)], hit=OUTHIT_C,
         values=[["5", "2"], ["3", "8"]], label="max_pool2d")
    ax.text(0, -5.0, "indices (return_indices=True): the position of each maximum in the "
            "H*W plane: 4, 2, 12, 15 (a tie keeps the first)", fontsize=8, va="top")
    finish(fig, ax, "pooling", "max_pool2d: the largest value of each window")


def main():
    conv_figure("conv2d", "conv2d: each output is a window of the input times the kernel",
                5, 3, at=(1, 1), note="output[i, j] = sum over the taps of kernel x input "
                "window at (i, j), over every input channel of the group")
    conv_figure("stride", "stride=2: the window moves two cells at a time", 5, 3, stride=2,
                at=(1, 0))
    conv_figure("padding", "padding=1: a ring of zeros keeps the size", 5, 3, pad=1,
                at=(0, 0), note='padding="same" picks the padding that gives ceil(in / stride);'
                ' (before, after) pairs pad each side differently')
    conv_figure("dilation", "dilation=2: the taps spread out, the kernel sees 5x5", 7, 3,
                dil=2, at=(1, 1))
    channels_figure("groups", "groups: each output channel reads only its group's inputs", 2,
                    note="groups=1: every output reads every input; groups=C_in: depthwise")
    channels_figure("depthwise", "depthwise_conv2d: groups = channels, one filter each", 4,
                    note="each channel filtered alone (weight (C*m, 1, kH, kW))")
    channels_figure("pointwise", "pointwise_conv2d: 1x1, every output mixes every input", 1,
                    note="no spatial extent: a matrix product over the channels, per pixel")
    separable_figure()
    transposed_figure()
    involution_figure()
    pooling_figure()


if __name__ == "__main__":
    main()
