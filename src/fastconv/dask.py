"""fastconv on Dask arrays: images larger than memory, and more than one machine.

Every function here has the name and the signature of its in-memory twin in
:mod:`fastconv` and takes and returns a :class:`dask.array.Array`; the result
is lazy. The arrays are chunked over the batch and the spatial axes; the
channels stay whole within a chunk (an input split along its channels is
rechunked to one channel chunk, with a ``UserWarning``).

How it works: the outer edge of the array is padded once, with the padding
mode (zeros, reflect, replicate or circular: exactly the in-memory call's
padding), then every output block is one task that reads the part of the
padded input it needs -- its own chunk and a halo taken from as many
neighbouring chunks as the kernel, the dilation and the stride reach, however
small they are -- and runs the in-memory call on it with no padding. The
output's chunk boundaries follow the input's, divided by the stride, so that
every block lies on the output grid. The weights (or a layer object) are one
key of the graph that every task depends on: shipped once to each worker,
packed once there.

Threads: a task runs fastconv on its share of the cores (one thread per Dask
thread under the threaded scheduler and in ``distributed`` workers, whose
nanny sets ``OMP_NUM_THREADS=1``; all of fastconv's threads under the
synchronous scheduler); ``FASTCONV_DASK_THREADS`` sets the count. See the
user guide's Dask page.

Needs the ``dask`` extra: ``pip install "fastconv[dask]"``.
"""
from __future__ import annotations

import bisect
import contextlib
import itertools
import os
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

try:
    import dask
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
except ImportError as e:  # pragma: no cover - the optional extra
    raise ImportError("fastconv.dask needs Dask: pip install \"fastconv[dask]\" "
                      f"(dask[array] and distributed); {e}") from None

try:   # the task spec of dask >= 2024.12: tasks built as such are not converted per compute
    from dask._task_spec import DataNode, List, Task, TaskRef
    _TASKS = True
except ImportError:  # pragma: no cover - older dask: the tuple tasks
    _TASKS = False

from . import _args, _config
from . import functional as _F
from . import layers as _layers
from ._typing import (Activation, Algorithm, ArrayLike, IntOrTuple, Layout, Padding,
                      PaddingMode)
from .involution import Involution2d as _Involution2d

__all__ = [
    "conv1d", "conv2d", "conv3d", "depthwise_conv2d", "pointwise_conv2d", "separable_conv2d",
    "depthwise_separable_conv2d", "involution2d", "apply", "Conv1d", "Conv2d", "Conv3d",
    "Involution2d", "task_threads",
]

DaskArray = da.Array


# ---------------------------------------------------------------- threads

def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _worker_threads() -> int | None:
    """The number of threads of the distributed worker running this task (None
    outside one)."""
    try:
        from distributed import get_worker
    except ImportError:  # pragma: no cover - dask without distributed
        return None
    try:
        w = get_worker()
    except ValueError:
        return None
    return int(getattr(getattr(w, "state", w), "nthreads", 1) or 1)


def task_threads(base: int | None = None) -> int:
    """The fastconv threads a task of this module uses where it runs now.

    Parameters
    ----------
    base : int, optional
        The process's thread setting (default :func:`fastconv.get_num_threads`).

    Returns
    -------
    int
        ``FASTCONV_DASK_THREADS`` if set; in a ``distributed`` worker with ``t``
        threads, ``base`` capped at ``cores // t`` (the nanny sets
        ``OMP_NUM_THREADS=1``, so ``base`` is 1 there unless configured);
        under the synchronous scheduler (the main thread) ``base``; in a
        thread of the threaded scheduler ``base // num_workers`` (Dask's
        ``num_workers`` setting, else the number of cores), at least 1.

    Examples
    --------
    >>> import fastconv.dask as fcd
    >>> fcd.task_threads(4) >= 1
    True
    """
    if base is None:
        base = _config.get_num_threads()
    env = os.environ.get("FASTCONV_DASK_THREADS", "").strip()
    if env:
        return max(1, int(env))
    t = _worker_threads()
    if t is not None:
        return max(1, min(base, _cores() // t))
    if threading.current_thread() is threading.main_thread():
        return base
    pool = dask.config.get("num_workers", None) or _cores()
    return max(1, base // int(pool))


_threads_lock = threading.Lock()
_threads_active = 0
_threads_saved = 0


@contextlib.contextmanager
def _task_threads() -> Iterator[None]:
    """fastconv's thread count set to the task's share for the task, and the
    process's setting back once the last concurrent task has left."""
    global _threads_active, _threads_saved
    with _threads_lock:
        if _threads_active == 0:
            _threads_saved = _config.get_num_threads()
        _threads_active += 1
        _config.set_num_threads(task_threads(_threads_saved))
    try:
        yield
    finally:
        with _threads_lock:
            _threads_active -= 1
            if _threads_active == 0:
                _config.set_num_threads(_threads_saved)


# ---------------------------------------------------------------- the blocks

@dataclass(frozen=True)
class _Geometry:
    """What the blocking needs of a validated call, per spatial dimension in
    fastconv's (D, H, W) order: the output's size, the padded input rows one
    output block [o0, o1) reads, [o0 * stride, (o1 - 1) * stride + span), and
    the padding at the array's outer edges."""

    nd: int
    layout: int
    C_out: int
    out_size: tuple[int, ...]
    span: tuple[int, ...]
    stride: tuple[int, ...]
    pad0: tuple[int, ...]
    pad1: tuple[int, ...]
    pad_mode: int
    dtype: np.dtype
    batched: bool = True

    @classmethod
    def of(cls, spec: _args.ConvSpec, C_out: int | None = None,
           span: Sequence[int] | None = None) -> _Geometry:
        if span is None:
            span = [d * (k - 1) + 1 for d, k in zip(spec.dilation, spec.kernel)]
        return cls(spec.nd, spec.layout, spec.C_out if C_out is None else C_out,
                   tuple(spec.out_size), tuple(span), tuple(spec.stride), tuple(spec.pad0),
                   tuple(spec.pad1), spec.pad_mode, spec.dtype, spec.batched)

    def spatial_axes(self) -> tuple[int, ...]:
        first = int(self.batched) + (0 if self.layout else 1)
        return tuple(range(first, first + self.nd))

    def channel_axis(self) -> int:
        return int(self.batched) + (self.nd if self.layout else 0)

    def roles(self) -> tuple[Any, ...]:
        """The input's or the output's axes: 'n' (the batch, if batched), None
        (whole: the channels) or a spatial index."""
        sp = tuple(range(self.nd))
        return ("n",) * self.batched + (sp + (None,) if self.layout else (None,) + sp)


Segment = tuple[int, int, int, int, int, int]   # dst0, dst1, source block, row0, row1, step


@dataclass(frozen=True)
class _Block:
    """One task's static part: per spatial axis the segments of its padded
    input, (dst start, dst stop, source block or -1 for zeros, the source's
    rows [row0, row1) and their step: 1, -1 (mirrored: reflect) or 0 (one row
    repeated: replicate)), the source blocks' count per axis, its output's
    spatial size, and the padding left to the in-memory call."""

    axes: tuple[int, ...]
    segments: tuple[tuple[Segment, ...], ...]
    used: tuple[int, ...]
    nout: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    picks: tuple[int, ...]     # per source: -1 the whole block, else its piece in the rim


def _out_chunks(in_chunks: Sequence[int], p0: int, span: int, s: int, n_out: int
                ) -> tuple[int, ...]:
    """The output's chunks along one axis: output o goes with the input chunk that
    holds the centre of its window, so that a stride-1 "same" convolution keeps
    the input's chunks and a stride divides them (ceil of boundary / stride)."""
    c = (span - 1) // 2
    bounds, acc = [0], 0
    for ch in in_chunks[:-1]:
        acc += ch
        b = min(max(-(-(acc + p0 - c) // s), 0), n_out)
        if b > bounds[-1]:
            bounds.append(b)
    if bounds[-1] < n_out:
        bounds.append(n_out)
    return tuple(int(b - a) for a, b in zip(bounds, bounds[1:]))


def _axis_segments(starts: Sequence[int], p0: int, lo: int, hi: int, mode: int,
                   kernel_pads: bool = True) -> tuple[list[Segment], tuple[int, int]]:
    """The padded rows [lo, hi) of one axis as segments of the input's blocks
    (starts: the blocks' boundaries), and the padding left to the in-memory call.

    Where the window meets the array's outer edge the in-memory call pads it
    itself (its own border code: the same bits as on the whole array) when it
    can: zeros and replicate always, reflect when the block holds the rows it
    mirrors, circular when the block spans the axis.  Otherwise the segments
    hold what the padding mode puts there -- zeros, the rows mirrored, the
    edge row repeated, the other end's rows -- so the array is padded in the
    tasks, never copied whole to pad it."""
    H = starts[-1]
    a, b = lo - p0, hi - p0                               # in the input's rows
    r0, r1 = max(a, 0), min(b, H)
    pb, pa = max(0, -a), max(0, b - H)
    if kernel_pads and (pb or pa) and r1 > r0 and (
            mode in (0, 2) or (mode == 1 and max(pb, pa) < r1 - r0)
            or (mode == 3 and r0 == 0 and r1 == H)):
        a, b = r0, r1
    else:
        pb = pa = 0
    segs: list[Segment] = []

    def block_of(u: int) -> int:
        return bisect.bisect_right(starts, u) - 1

    def ascend(dst: int, u0: int, u1: int) -> None:       # rows u0 .. u1-1
        while u0 < u1:
            c = block_of(u0)
            top = min(u1, starts[c + 1])
            segs.append((dst, dst + top - u0, c, u0 - starts[c], top - starts[c], 1))
            dst, u0 = dst + top - u0, top

    def descend(dst: int, u0: int, u1: int) -> None:      # rows u0, u0-1, .. u1 (u0 >= u1)
        while u0 >= u1:
            c = block_of(u0)
            bottom = max(u1, starts[c])
            segs.append((dst, dst + u0 - bottom + 1, c, bottom - starts[c], u0 + 1 - starts[c], -1))
            dst, u0 = dst + u0 - bottom + 1, bottom - 1

    def edge(dst: int, e0: int, e1: int, before: bool) -> None:   # outside rows e0 .. e1-1
        if mode == 0:
            segs.append((dst, dst + e1 - e0, -1, 0, 0, 0))
        elif mode == 1:
            descend(dst, -e0, 1 - e1) if before else descend(dst, 2 * H - 2 - e0, 2 * H - 1 - e1)
        elif mode == 2:
            c = block_of(0 if before else H - 1)
            r = 0 if before else H - 1 - starts[c]
            segs.append((dst, dst + e1 - e0, c, r, r + 1, 0))
        else:
            ascend(dst, e0 + H, e1 + H) if before else ascend(dst, e0 - H, e1 - H)

    if a < 0:
        edge(0, a, min(b, 0), True)
    if max(a, 0) < min(b, H):
        ascend(max(a, 0) - a, max(a, 0), min(b, H))
    if b > H:
        edge(max(a, H) - a, max(a, H), b, False)
    return segs, (pb, pa)


def _rows(r0: int, r1: int, step: int) -> slice:
    if step == 1:
        return slice(r0, r1)
    if step == -1:
        return slice(r1 - 1, r0 - 1 if r0 > 0 else None, -1)
    return slice(r0, r0 + 1)      # broadcast to the segment's rows


def _assemble(blocks: list[np.ndarray], blk: _Block) -> np.ndarray:
    """The padded input of one output block from its segments: one copy (a view
    where it is a part of one input block)."""
    first = blocks[0]
    ndim = first.ndim
    if len(blocks) == 1 and all(len(sg) == 1 and sg[0][2] >= 0 and sg[0][5] == 1
                                for sg in blk.segments):
        idx: list[slice] = [slice(None)] * ndim
        for ax, sg in zip(blk.axes, blk.segments):
            idx[ax] = slice(sg[0][3], sg[0][4])
        return first[tuple(idx)]
    shape = list(first.shape)
    for ax, sg in zip(blk.axes, blk.segments):
        shape[ax] = sg[-1][1]
    out = _scratch(shape, first.dtype)
    for combo in itertools.product(*blk.segments):
        dst: list[slice] = [slice(None)] * ndim
        src: list[slice] = [slice(None)] * ndim
        flat, zero = 0, False
        for ax, n, (d0, d1, c, r0, r1, step) in zip(blk.axes, blk.used, combo):
            dst[ax], src[ax] = slice(d0, d1), _rows(r0, r1, step)
            zero |= c < 0
            flat = flat * n + max(c, 0)
        if zero:
            out[tuple(dst)] = 0
        else:
            out[tuple(dst)] = blocks[flat][tuple(src)]
    return out


_tls = threading.local()


def _scratch(shape: Sequence[int], dtype: np.dtype, name: str = "input") -> np.ndarray:
    """This thread's buffer ``name`` (a task's halo'd input, partial sums), reused
    from task to task (the in-memory call reads it and returns a new array):
    fresh pages for every block would cost as much as the copy into them."""
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    bufs = _tls.__dict__.setdefault("bufs", {})
    buf = bufs.get(name)
    if buf is None or buf.nbytes < n:
        buf = bufs[name] = np.empty(n, np.uint8)
    return buf[:n].view(dtype).reshape(shape)


def _rim(block: np.ndarray, parts: tuple[tuple[slice, ...], ...]) -> tuple[np.ndarray, ...]:
    """The parts of a block its neighbours' tasks read (their halos), copied: one
    small task per block, after which the block is held only for its own task."""
    return tuple(block[p].copy() for p in parts)


def _run_block(op: Callable[..., np.ndarray], blk: _Block, sources: list[Any],
               *aligned: np.ndarray) -> np.ndarray:
    blocks = [s if k < 0 else s[k] for s, k in zip(sources, blk.picks)]
    x = _assemble(blocks, blk)
    with _task_threads():
        return op(x, blk.nout, blk.pads, *aligned)


def _task(key: Any, fn: Callable[..., Any], dep: Any, arg: Any, deps: Any = (), *more: Any,
          literal: bool = False) -> Any:
    """fn(dep's value, arg, [deps' values], *more's values) as a graph task: a
    dask Task where dask has them, else the tuple form."""
    if literal:
        return Task(key, fn, TaskRef(dep), arg) if _TASKS else (fn, dep, arg)
    if not _TASKS:
        return (fn, dep, arg, list(deps), *more)
    return Task(key, fn, TaskRef(dep), arg, List(*(TaskRef(k) for k in deps)),
                *(TaskRef(k) for k in more))


def _blocked(fname: str, x: DaskArray, g: _Geometry, op: Any,
             aligned: Sequence[tuple[DaskArray, tuple[Any, ...]]] = (),
             kernel_pads: bool = True) -> DaskArray:
    """The lazy result of op on every output block of x (batched, channels whole):
    one task per output block, reading the input blocks its padded window
    touches and padding it where it meets the array's outer edges.

    aligned: arrays read block for block with the output (a residual, an
    involution's kernel), each with its axes' roles ('n': the batch, None: whole,
    i: spatial dim i of the output); they are rechunked to the output's chunks."""
    axes = g.spatial_axes()
    ochunks = [_out_chunks(x.chunks[ax], g.pad0[i], g.span[i], g.stride[i], g.out_size[i])
               for i, ax in enumerate(axes)]
    # per axis and output block: the segments, as (dst0, dst1, block, rows)
    per_axis = []
    for i, ax in enumerate(axes):
        starts = np.cumsum((0,) + x.chunks[ax]).tolist()
        o0, segs = 0, []
        for n in ochunks[i]:
            lo, hi = o0 * g.stride[i], (o0 + n - 1) * g.stride[i] + g.span[i]
            segs.append(_axis_segments(starts, g.pad0[i], lo, hi, g.pad_mode, kernel_pads))
            o0 += n
        per_axis.append(segs)

    def chunks_of(roles: tuple[Any, ...], shape: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
        return tuple(x.chunks[0] if r == "n" else (shape[a],) if r is None else ochunks[r]
                     for a, r in enumerate(roles))

    al = [a.rechunk(chunks_of(roles, a.shape)) for a, roles in aligned]
    out_roles = g.roles()
    out_shape = tuple(x.shape[0] if r == "n" else g.C_out if r is None else g.out_size[r]
                      for r in out_roles)
    token = tokenize(fname, x.name, op, [a.name for a in al])
    name, op_key = f"{fname}-{token}", f"fastconv-op-{token}"
    dsk: dict[Any, Any] = {op_key: DataNode(op_key, op) if _TASKS else op}
    rims: dict[tuple[int, ...], dict[tuple[tuple[Any, Any], ...], int]] = {}
    for ib in range(len(x.chunks[0]) if g.batched else 1):
        for js in itertools.product(*(range(len(c)) for c in ochunks)):
            mine = [per_axis[i][j][0] for i, j in enumerate(js)]
            pads = tuple(per_axis[i][j][1] for i, j in enumerate(js))

            def index(roles: tuple[Any, ...]) -> tuple[int, ...]:
                return tuple(ib if r == "n" else 0 if r is None else js[r] for r in roles)

            out_key = (name, *index(out_roles))
            # per axis, each source block's rows the task reads (their bounding range)
            spans: list[dict[int, tuple[int, int]]] = [{} for _ in axes]
            for i, sg in enumerate(mine):
                for _, _, c, r0, r1, _ in sg:
                    if c >= 0:
                        a0, a1 = spans[i].get(c, (r0, r1))
                        spans[i][c] = (min(a0, r0), max(a1, r1))
            used = [sorted(sp) or [0] for sp in spans]
            keys: list[Any] = []
            picks: list[int] = []
            for combo in itertools.product(*used):
                idx = [0] * x.ndim
                if g.batched:
                    idx[0] = ib
                part: list[slice] = [slice(None)] * x.ndim
                whole = True
                for i, ax in enumerate(axes):
                    idx[ax] = combo[i]
                    r0, r1 = spans[i].get(combo[i], (0, x.chunks[ax][combo[i]]))
                    part[ax] = slice(r0, r1)
                    whole &= r0 == 0 and r1 == x.chunks[ax][combo[i]]
                if whole:
                    keys.append((x.name, *idx))
                    picks.append(-1)
                else:       # a halo: from the source's rim, so that only its rows travel
                    parts = rims.setdefault(tuple(idx), {})
                    keys.append((name + "-rim", *idx))
                    pk = tuple((p.start, p.stop) for p in part)    # slices hash from 3.12 on
                    picks.append(parts.setdefault(pk, len(parts)))
            segments = tuple(
                tuple((d0, d1, u.index(c), r0 - sp[c][0], r1 - sp[c][0], st) if c >= 0
                      else (d0, d1, -1, 0, 0, 0) for d0, d1, c, r0, r1, st in sg)
                for sg, u, sp in zip(mine, used, spans))
            blk = _Block(axes, segments, tuple(len(u) for u in used),
                         tuple(ochunks[i][j] for i, j in enumerate(js)), pads, tuple(picks))

            akeys = [(a.name, *index(roles)) for a, (_, roles) in zip(al, aligned)]
            dsk[out_key] = _task(out_key, _run_block, op_key, blk, keys, *akeys)
    for src_idx, parts in rims.items():
        rk = (name + "-rim", *src_idx)
        dsk[rk] = _task(rk, _rim, (x.name, *src_idx),
                        tuple(tuple(slice(a, b) for a, b in pk) for pk in parts), literal=True)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x, *al])  # type: ignore[list-item]
    return da.Array(graph, name, chunks_of(out_roles, out_shape),
                    meta=np.empty((0,) * len(out_shape), g.dtype))


# ---------------------------------------------------------------- the calls

class _Call:
    """fn(block, *args, **kwargs, **{aligned names: their blocks}): the in-memory
    call on one padded block; its weights are in args/kwargs, one graph key."""

    def __init__(self, fn: Callable[..., np.ndarray], args: tuple[Any, ...],
                 kwargs: dict[str, Any], aligned: Sequence[str] = ()) -> None:
        self.fn, self.args, self.kwargs, self.aligned = fn, args, kwargs, tuple(aligned)

    def __call__(self, x: np.ndarray, nout: tuple[int, ...], pads: tuple[tuple[int, int], ...],
                 *blocks: np.ndarray) -> np.ndarray:
        return self.fn(x, *self.args, padding=pads, **self.kwargs,
                       **dict(zip(self.aligned, blocks)))

    def __dask_tokenize__(self) -> Any:
        return ("fastconv-call", self.fn.__name__, tokenize(self.args, self.kwargs), self.aligned)


class _Depthwise3d:
    """A depthwise 3-D convolution (one input channel per group, one output per
    channel: a single-channel volume filter among them) on a padded block, as kD
    depthwise 2-D convolutions over the block's depth slices taken as channels,
    summed through the fused residual. The 2-D depthwise kernels vectorise
    across the slices; conv3d's own path for one channel gathers the taps of
    every pixel first (27 x the block for 3x3x3). Equal within rounding."""

    def __init__(self, w: np.ndarray, b: np.ndarray | None, spec: _args.ConvSpec,
                 activation: Activation) -> None:
        self.w, self.b, self.activation = w, b, activation
        self.stride, self.dilation = tuple(spec.stride), tuple(spec.dilation)

    def __call__(self, x: np.ndarray, nout: tuple[int, ...], pads: tuple[tuple[int, int], ...],
                 *blocks: np.ndarray) -> np.ndarray:
        if x.ndim == 4:        # unbatched
            return self(x[None], nout, pads, *(b[None] for b in blocks))[0]
        N, C = x.shape[:2]
        nD = nout[0]
        (sd, sh, sw), (dd, dh, dw) = self.stride, self.dilation
        kD = self.w.shape[2]
        shape = (N, C * nD, *nout[1:])
        acc = None if not blocks else blocks[0].reshape(shape)
        for t in range(kD):
            xs = x[:, :, t * dd:t * dd + sd * (nD - 1) + 1:sd]
            xs = np.ascontiguousarray(xs).reshape(N, C * nD, *xs.shape[3:])
            wt, b = self._weights(t, nD)
            last = t == kD - 1
            # the partial sums in this thread's two buffers, the result a new array
            out = None if last else _scratch(shape, x.dtype, f"dw{t % 2}")
            acc = _F.depthwise_conv2d(xs, wt, b if last else None, (sh, sw), 0, (dh, dw),
                                      residual=acc, out=out,
                                      activation=self.activation if last else None)
        assert acc is not None
        return acc.reshape(N, C, nD, *nout[1:])

    def _weights(self, t: int, nD: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Tap plane t of every channel's kernel, once per depth slice (cached)."""
        cache = self.__dict__.setdefault("_cache", {})
        got = cache.get((t, nD))
        if got is None:
            got = cache[(t, nD)] = (np.repeat(self.w[:, :, t], nD, axis=0),
                                    None if self.b is None else np.repeat(self.b, nD))
        return got

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_cache"}

    def __dask_tokenize__(self) -> Any:
        return ("fastconv-depthwise3d", tokenize(self.w, self.b, self.stride, self.dilation,
                                                  self.activation))


class _LayerCall:
    """A convolution layer object applied to one block: a twin of it per padding
    the blocks leave to the call (the outer edges' sides), all sharing the
    layer's weights and their packings (made once in each process)."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self._twins: dict[Any, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"layer": self.layer}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.layer, self._twins = state["layer"], {}

    def __call__(self, x: np.ndarray, nout: tuple[int, ...], pads: tuple[tuple[int, int], ...],
                 *blocks: np.ndarray) -> np.ndarray:
        twin = self._twins.get(pads)
        if twin is None:
            twin = object.__new__(type(self.layer))
            twin.__dict__.update(self.layer.__dict__, padding=pads)   # the caches shared
            self._twins[pads] = twin
        return twin(x, residual=blocks[0] if blocks else None)

    def __dask_tokenize__(self) -> Any:
        return ("fastconv-layer", type(self.layer).__name__, tokenize(self.layer.__getstate__()))


class _InvolutionCall:
    """Involution2d on one padded block: the kernel generated from the pooled
    rows of the block's own outputs, then the involution without padding."""

    def __init__(self, inv: _Involution2d) -> None:
        self.inv = inv

    def __call__(self, x: np.ndarray, nout: tuple[int, ...], pads: tuple[tuple[int, int], ...],
                 *blocks: np.ndarray) -> np.ndarray:
        inv = self.inv
        K, s, lay = inv.kernel_size, inv.stride, inv._lay
        p = (K - 1) // 2
        (n, m), ax = nout, (1 if lay else 2)

        def rows(a: int, b: int, c: int, d: int) -> np.ndarray:
            idx: list[slice] = [slice(None)] * 4
            idx[ax], idx[ax + 1] = slice(a, b), slice(c, d)
            return x[tuple(idx)]

        src = np.ascontiguousarray(rows(p, p + n * s, p, p + m * s))
        if s > 1:
            src = _F.avg_pool2d(src, s, s, layout=inv.layout)
        conv1, conv2 = inv._layers(x.dtype)
        k = conv2(conv1(src))
        N, G, KK = x.shape[0], inv.groups, K * K
        k = k.reshape((N, n, m, G, KK) if lay else (N, G, KK, n, m))
        xi = rows(0, (n - 1) * s + K, 0, (m - 1) * s + K)
        return _F.involution2d(xi, k, K, s, 0, layout=inv.layout)

    def __dask_tokenize__(self) -> Any:
        return ("fastconv-involution", tokenize(self.inv.__getstate__()))


def _as_dask(x: Any, name: str = "x") -> DaskArray:
    if isinstance(x, da.Array):
        return x
    if x is None:
        raise TypeError(f"{name} must be an array, got None")
    return da.asarray(_args.as_float_array(x, name))


def _meta(x: DaskArray | None) -> _args.ArrayMeta | None:
    return None if x is None else _args.ArrayMeta(x.shape, x.dtype)


def _no_out(out: Any) -> None:
    if out is not None:
        raise TypeError("out= is not supported on Dask arrays (the result is a new lazy "
                        "array; store it with dask.array.store or to_zarr)")


def _channels_whole(x: DaskArray, axis: int, name: str) -> DaskArray:
    if len(x.chunks[axis]) > 1:
        warnings.warn(f"fastconv.dask: {name} is split along its channel axis ({axis}) into "
                      f"{len(x.chunks[axis])} chunks; channels stay whole within a chunk, so it "
                      f"is rechunked to one ({name}.rechunk({{{axis}: -1}}) avoids this warning)",
                      UserWarning, stacklevel=4)
        x = x.rechunk({axis: -1})
    return x


def _run(fname: str, x: DaskArray, spec: _args.ConvSpec, op: Any, g: _Geometry | None = None,
         aligned: Sequence[tuple[DaskArray, tuple[Any, ...] | None]] = (),
         kernel_pads: bool = True) -> DaskArray:
    """Keep the channels whole and block (the aligned arrays whose roles are None
    have the output's: a residual)."""
    g = _Geometry.of(spec) if g is None else g
    x = _channels_whole(x, g.channel_axis(), "x")
    al = [(a, g.roles() if roles is None else roles) for a, roles in aligned]
    return _blocked(fname, x, g, op, al, kernel_pads)


def _residual(residual: Any, spec: _args.ConvSpec) -> list[tuple[DaskArray, None]]:
    if residual is None:
        return []
    r = _as_dask(residual, "residual")
    _args.check_residual(_meta(r), spec)
    return [(r, None)]


def _conv(nd: int, x: Any, weight: ArrayLike, bias: ArrayLike | None, stride: IntOrTuple,
          padding: Padding, dilation: IntOrTuple, groups: int, padding_mode: PaddingMode,
          algorithm: Algorithm, activation: Activation, residual: Any, layout: Layout | None,
          out: Any) -> DaskArray:
    x = _as_dask(x)
    _no_out(out)
    spec, _, w, b = _args.conv_spec(nd, _meta(x), weight, bias, stride, padding, dilation,
                                    groups, padding_mode, algorithm, activation, layout)
    res = _residual(residual, spec)
    if (nd == 3 and algorithm == "auto" and not spec.layout and spec.groups == spec.C_in
            == spec.C_out):
        # a depthwise (or one-channel) volume filter: kD depthwise 2-D passes
        # over the depth slices, the padded block materialised in the task
        return _run("fastconv-conv3d", x, spec, _Depthwise3d(w, b, spec, activation),
                    aligned=res, kernel_pads=False)
    op = _Call(getattr(_F, f"conv{nd}d"), (w, b),
               dict(stride=stride, dilation=dilation, groups=groups, padding_mode=padding_mode,
                    algorithm=algorithm, activation=activation, layout=layout),
               ("residual",) * len(res))
    return _run(f"fastconv-conv{nd}d", x, spec, op, aligned=res)


_CONV_DOC = """{nd}-D convolution of a Dask array: :func:`fastconv.conv{nd}d` on every chunk
    with its halo, lazily.

    The arguments are :func:`fastconv.conv{nd}d`'s, with the same checks and
    messages; ``x`` (and ``residual``) are Dask arrays (a NumPy array is
    wrapped as one chunk). The padding modes apply at the array's outer edges,
    exactly as in memory.

    Returns
    -------
    dask.array.Array
        The lazy result, equal to the in-memory call's (bit for bit where both
        run the same algorithm, e.g. ``algorithm="direct"``); chunked as ``x``
        over the batch, its spatial chunks ``x``'s divided by the stride, the
        channels one chunk.

    Raises
    ------
    TypeError, ValueError
        As :func:`fastconv.conv{nd}d`; ``out=`` given (a Dask result is a new array).
    """


def conv1d(x: Any, weight: ArrayLike, bias: ArrayLike | None = None, stride: IntOrTuple = 1,
           padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, *,
           padding_mode: PaddingMode = "zeros", algorithm: Algorithm = "auto",
           activation: Activation = None, residual: Any = None, layout: Layout | None = None,
           out: None = None) -> DaskArray:
    return _conv(1, x, weight, bias, stride, padding, dilation, groups, padding_mode,
                 algorithm, activation, residual, layout, out)


def conv2d(x: Any, weight: ArrayLike, bias: ArrayLike | None = None, stride: IntOrTuple = 1,
           padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, *,
           padding_mode: PaddingMode = "zeros", algorithm: Algorithm = "auto",
           activation: Activation = None, residual: Any = None, layout: Layout | None = None,
           out: None = None) -> DaskArray:
    return _conv(2, x, weight, bias, stride, padding, dilation, groups, padding_mode,
                 algorithm, activation, residual, layout, out)


def conv3d(x: Any, weight: ArrayLike, bias: ArrayLike | None = None, stride: IntOrTuple = 1,
           padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, *,
           padding_mode: PaddingMode = "zeros", algorithm: Algorithm = "auto",
           activation: Activation = None, residual: Any = None, layout: Layout | None = None,
           out: None = None) -> DaskArray:
    return _conv(3, x, weight, bias, stride, padding, dilation, groups, padding_mode,
                 algorithm, activation, residual, layout, out)


for _nd, _f in ((1, conv1d), (2, conv2d), (3, conv3d)):
    _f.__doc__ = _CONV_DOC.format(nd=_nd) + f"""
    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import fastconv.dask as fcd
    >>> x = da.ones((1, 2) + (24,) * {_nd}, dtype=np.float32, chunks=(1, 2) + (8,) * {_nd})
    >>> y = fcd.conv{_nd}d(x, np.ones((4, 2) + (3,) * {_nd}, np.float32), padding=1)
    >>> y.shape, y.chunks[2]
    ({(1, 4) + (24,) * _nd}, (8, 8, 8))
    >>> float(y[0, 0, {", ".join(["5"] * _nd)}].compute())
    {2.0 * 3 ** _nd}
    """
del _nd, _f


def depthwise_conv2d(x: Any, weight: ArrayLike, bias: ArrayLike | None = None,
                     stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
                     *, activation: Activation = None, residual: Any = None,
                     layout: Layout | None = None, out: None = None) -> DaskArray:
    """Depthwise 2-D convolution of a Dask array: :func:`fastconv.depthwise_conv2d`
    on every chunk with its halo, lazily.

    Arguments, checks and result as :func:`fastconv.depthwise_conv2d` and
    :func:`conv2d` (zero padding only, as in memory).

    Returns
    -------
    dask.array.Array
        The lazy result.

    Raises
    ------
    TypeError, ValueError
        As :func:`fastconv.depthwise_conv2d`; ``out=`` given.
    """
    x = _as_dask(x)
    _no_out(out)
    C = _F._depthwise_groups(_meta(x), weight, layout)
    spec, _, w, b = _args.conv_spec(2, _meta(x), weight, bias, stride, padding, dilation, C,
                                    "zeros", "auto", activation, layout)
    res = _residual(residual, spec)
    op = _Call(_F.depthwise_conv2d, (w, b),
               dict(stride=stride, dilation=dilation, activation=activation, layout=layout),
               ("residual",) * len(res))
    return _run("fastconv-depthwise_conv2d", x, spec, op, aligned=res)


def _pointwise(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, *,
               padding: Any, **kwargs: Any) -> np.ndarray:
    return _F.pointwise_conv2d(x, weight, bias, **kwargs)    # no halo, no padding


def pointwise_conv2d(x: Any, weight: ArrayLike, bias: ArrayLike | None = None, *,
                     activation: Activation = None, residual: Any = None,
                     layout: Layout | None = None, out: None = None) -> DaskArray:
    """1x1 convolution of a Dask array: :func:`fastconv.pointwise_conv2d` on every
    chunk (no halo: the chunks are kept), lazily.

    Returns
    -------
    dask.array.Array
        The lazy result.

    Raises
    ------
    TypeError, ValueError
        As :func:`fastconv.pointwise_conv2d`; ``out=`` given.
    """
    x = _as_dask(x)
    _no_out(out)
    w = _F._pointwise_weight(weight)
    spec, _, _, b = _args.conv_spec(2, _meta(x), w[:, :, None, None], bias, 1, 0, 1, 1,
                                     "zeros", "auto", activation, layout)
    res = _residual(residual, spec)
    op = _Call(_pointwise, (w, b), dict(activation=activation, layout=layout),
               ("residual",) * len(res))
    return _run("fastconv-pointwise_conv2d", x, spec, op, aligned=res)


def separable_conv2d(x: Any, row: ArrayLike, col: ArrayLike, bias: ArrayLike | None = None,
                     stride: IntOrTuple = 1, padding: Padding = 0, *,
                     padding_mode: PaddingMode = "zeros", activation: Activation = None,
                     residual: Any = None, layout: Layout | None = None,
                     out: None = None) -> DaskArray:
    """Spatially separable filter on a Dask array: :func:`fastconv.separable_conv2d`
    on every chunk with its halo, lazily (a Gaussian blur of an image larger than
    memory).

    Arguments and checks as :func:`fastconv.separable_conv2d`; the padding
    modes apply at the array's outer edges.

    Returns
    -------
    dask.array.Array
        The lazy result.

    Raises
    ------
    TypeError, ValueError
        As :func:`fastconv.separable_conv2d`; ``out=`` given.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import fastconv.dask as fcd
    >>> img = da.ones((1, 4096, 4096), dtype=np.float32, chunks=(1, 1024, 1024))   # (C, H, W)
    >>> g = np.array([1, 4, 6, 4, 1], np.float32) / 16
    >>> y = fcd.separable_conv2d(img, g, g, padding="same", padding_mode="reflect")
    >>> y.chunks[1], float(y[0, 0, 0].compute())
    ((1024, 1024, 1024, 1024), 1.0)
    """
    x = _as_dask(x)
    _no_out(out)
    spec, _, r, _, c, _, b = _F._separable_spec(_meta(x), row, col, bias, stride, padding,
                                                padding_mode, activation, layout)
    res = _residual(residual, spec)
    op = _Call(_F.separable_conv2d, (r, c, b),
               dict(stride=stride, padding_mode=padding_mode, activation=activation,
                    layout=layout), ("residual",) * len(res))
    return _run("fastconv-separable_conv2d", x, spec, op, aligned=res)


def depthwise_separable_conv2d(x: Any, depthwise_weight: ArrayLike, pointwise_weight: ArrayLike,
                               depthwise_bias: ArrayLike | None = None,
                               pointwise_bias: ArrayLike | None = None,
                               stride: IntOrTuple = 1, padding: Padding = 0,
                               dilation: IntOrTuple = 1, *,
                               depthwise_activation: Any = None,
                               activation: Activation = None, residual: Any = None,
                               layout: Layout | None = None, out: None = None) -> DaskArray:
    """MobileNet's block on a Dask array: :func:`fastconv.depthwise_separable_conv2d`
    on every chunk with the depthwise stage's halo, lazily.

    Returns
    -------
    dask.array.Array
        The lazy result.

    Raises
    ------
    TypeError, ValueError
        As :func:`fastconv.depthwise_separable_conv2d`; ``out=`` given.
    """
    x = _as_dask(x)
    _no_out(out)
    spec, full, _, dw, db, pw, pb = _F._dwsep_spec(
        _meta(x), depthwise_weight, pointwise_weight, depthwise_bias, pointwise_bias, stride,
        padding, dilation, depthwise_activation, activation, layout)
    res = _residual(residual, full)
    op = _Call(_F.depthwise_separable_conv2d, (dw, pw, db, pb),
               dict(stride=stride, dilation=dilation,
                    depthwise_activation=depthwise_activation, activation=activation,
                    layout=layout), ("residual",) * len(res))
    return _run("fastconv-depthwise_separable_conv2d", x, spec, op,
                _Geometry.of(spec, C_out=full.C_out), aligned=res)


def involution2d(x: Any, kernel: Any, kernel_size: int, stride: IntOrTuple = 1,
                 padding: Padding | None = None, dilation: IntOrTuple = 1, *,
                 bias: ArrayLike | None = None, activation: Activation = None,
                 residual: Any = None, layout: Layout | None = None,
                 out: None = None) -> DaskArray:
    """Involution of a Dask array with a per-pixel kernel: :func:`fastconv.involution2d`
    on every chunk with its halo, lazily.

    ``kernel`` (a Dask or NumPy array, ``(N, G, K*K, H_out, W_out)`` or channels
    last ``(N, H_out, W_out, G, K*K)``) lies on the output grid: it is read block
    for block with the output (rechunked to the output's chunks).

    Returns
    -------
    dask.array.Array
        The lazy result.

    Raises
    ------
    TypeError, ValueError
        As :func:`fastconv.involution2d`; ``out=`` given.
    """
    x = _as_dask(x)
    k = _as_dask(kernel, "kernel")
    _no_out(out)
    lay = _args.layout_arg(layout)
    spec = _F._involution_spec(_as_meta_checked(x, "x"), _as_meta_checked(k, "kernel"),
                               kernel_size, stride, padding, dilation, lay)
    _args.activation_arg(activation)
    b = None if bias is None else _args.check_bias(_args.as_float_array(bias, "bias"), spec.C_in)
    if b is not None:
        _args.common_dtype(x=_meta(x), bias=b)
    res = _residual(residual, spec)
    op = _Call(_F.involution2d, (),
               dict(kernel_size=kernel_size, stride=stride, dilation=dilation, bias=b,
                    activation=activation, layout=layout),
               ("kernel",) + ("residual",) * len(res))
    kroles = ("n", 0, 1, None, None) if lay else ("n", None, None, 0, 1)
    return _run("fastconv-involution2d", x, spec, op, aligned=[(k, kroles), *res])


def _as_meta_checked(x: DaskArray, name: str) -> _args.ArrayMeta:
    m = _args.ArrayMeta(x.shape, x.dtype)
    _args.as_float_array(m, name)
    return m


# ---------------------------------------------------------------- layers

def apply(layer: Any, x: Any, *, residual: Any = None) -> DaskArray:
    """A layer object (:class:`fastconv.Conv1d`, ``Conv2d``, ``Conv3d`` or
    :class:`fastconv.Involution2d`) applied to a Dask array, chunk by chunk.

    The layer is one key of the graph: shipped once to each worker, its
    weights packed once there, every block's task using it.

    Parameters
    ----------
    layer : fastconv.Conv1d, Conv2d, Conv3d or Involution2d
    x : dask.array.Array
        The input, as the layer takes it in memory.
    residual : dask.array.Array, optional
        Added before the activation (convolution layers), of the output's shape.

    Returns
    -------
    dask.array.Array
        The lazy result, equal to ``layer(x.compute())``.

    Raises
    ------
    TypeError
        A layer of another kind (transposed convolutions have no Dask path).
    ValueError
        As the layer's call.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import fastconv as fc
    >>> import fastconv.dask as fcd
    >>> layer = fc.Conv2d(np.ones((8, 4, 3, 3), np.float32), padding=1, activation="relu")
    >>> x = da.ones((2, 4, 64, 64), dtype=np.float32, chunks=(1, 4, 32, 32))
    >>> y = fcd.apply(layer, x)
    >>> y.chunks
    ((1, 1), (8,), (32, 32), (32, 32))
    >>> np.array_equal(y.compute(), layer(x.compute()))
    True
    """
    x = _as_dask(x)
    if isinstance(layer, _Involution2d):
        if residual is not None:
            raise TypeError("Involution2d takes no residual")
        inv_plan = layer._plan(_as_meta_checked(x, "x"))
        K, s = layer.kernel_size, layer.stride
        p = (K - 1) // 2
        osz = inv_plan[3][1:3] if layer._lay else inv_plan[3][2:]
        spec = _args.ConvSpec(2, True, x.shape[0], layer.channels, layer.channels, layer.groups,
                              (x.shape[1:3] if layer._lay else x.shape[2:]), tuple(osz), (K, K),
                              (s, s), (1, 1), (p, p), (p, p), 0, 0, 0, x.dtype, 0.0, layer._lay)
        # a block reads its involution's window and the pooled rows of its kernel
        g = _Geometry.of(spec, span=(max(K, s + p),) * 2)
        return _run("fastconv-involution", x, spec, _InvolutionCall(layer), g, kernel_pads=False)
    if not isinstance(layer, _layers._ConvNd):
        raise TypeError(f"layer must be a fastconv Conv1d, Conv2d, Conv3d or Involution2d, got "
                        f"{type(layer).__name__}")
    spec = layer._spec(_as_meta_checked(x, "x"))[0]
    res = _residual(residual, spec)
    return _run(f"fastconv-{type(layer).__name__.lower()}", x, spec, _LayerCall(layer),
                aligned=res)


class _DaskLayer:
    """Calling the layer on a Dask array (or with a Dask residual) runs
    :func:`apply`; on a NumPy array, the in-memory call."""

    def __call__(self, x: Any, *, residual: Any = None, out: Any = None) -> Any:
        if isinstance(x, da.Array) or isinstance(residual, da.Array):
            _no_out(out)
            return apply(self, x, residual=residual)
        return super().__call__(x, residual=residual, out=out)  # type: ignore[misc]


class Conv1d(_DaskLayer, _layers.Conv1d):
    """:class:`fastconv.Conv1d` (same arguments) that also takes Dask arrays:
    ``layer(x)`` on a ``dask.array.Array`` is :func:`apply`."""


class Conv2d(_DaskLayer, _layers.Conv2d):
    """:class:`fastconv.Conv2d` (same arguments) that also takes Dask arrays:
    ``layer(x)`` on a ``dask.array.Array`` is :func:`apply`.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import fastconv.dask as fcd
    >>> layer = fcd.Conv2d(np.ones((8, 4, 3, 3), np.float32), stride=2, padding=1)
    >>> layer(da.ones((1, 4, 64, 64), dtype=np.float32, chunks=(1, 4, 16, 16))).chunks[2:]
    ((8, 8, 8, 8), (8, 8, 8, 8))
    """


class Conv3d(_DaskLayer, _layers.Conv3d):
    """:class:`fastconv.Conv3d` (same arguments) that also takes Dask arrays:
    ``layer(x)`` on a ``dask.array.Array`` is :func:`apply`."""


class Involution2d(_Involution2d):
    """:class:`fastconv.Involution2d` (same arguments) that also takes Dask arrays:
    ``layer(x)`` on a ``dask.array.Array`` is :func:`apply`."""

    def __call__(self, x: Any, *, out: Any = None) -> Any:
        if isinstance(x, da.Array):
            _no_out(out)
            return apply(self, x)
        return super().__call__(x, out=out)

    forward = __call__
