"""fastconv.dask: the convolution family on Dask arrays (issue 29).

Every op against its in-memory twin on the same data: bit for bit with
algorithm="direct" (the same kernels on a halo'd block), within the
docs/TESTING.md tolerance otherwise; every padding mode at the outer edges,
stride, dilation, groups, channels last, unbatched inputs, uneven chunks,
chunks smaller than the halo, batch chunks.  Most tests run the synchronous or
threaded scheduler on small arrays; a module-scoped LocalCluster (two worker
processes) runs a few, and one streams a zarr volume larger than a worker's
memory limit through conv3d to another zarr store (FASTCONV_DASK_BIG=1: a bigger one).
"""
import os
import pickle
import resource
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

import fastconv as fc  # noqa: E402
import fastconv.dask as fcd  # noqa: E402
from helpers import DTYPES, DTYPE_IDS, assert_close, rand  # noqa: E402

MODES = ("zeros", "reflect", "replicate", "circular")


def sync(y):
    assert isinstance(y, da.Array)
    return y.compute(scheduler="sync")


def same(got, ref, what=""):
    assert got.shape == ref.shape and got.dtype == ref.dtype, (what, got.shape, ref.shape)
    if not np.array_equal(got, ref):
        raise AssertionError(f"{what}: max |diff| {np.abs(got - ref).max():.3e} (not bit for bit)")


# chunkings of (N, C, *spatial): the spatial chunks given per test, uneven and
# smaller than the halo (1 and 2 wide) among them
def chunked(x, spatial, batch=1):
    return da.from_array(x, chunks=(batch, -1) + tuple(spatial))


CASES = [  # the spatial arguments, as one int/tuple for every dim
    dict(padding=1),
    dict(padding=2, stride=2),
    dict(padding=3, dilation=2, stride=3),
    dict(padding="same"),
    dict(padding="valid", stride=2),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("nd", (1, 2, 3))
def test_conv_nd_bit_for_bit(nd, mode, dtype, rng):
    size = {1: (29,), 2: (13, 11), 3: (7, 9, 6)}[nd]
    x = rand(rng, (3, 4) + size, dtype)
    w = rand(rng, (6, 2) + (3,) * nd, dtype)
    b = rand(rng, (6,), dtype)
    chunkings = {1: [(5,), (2,), ((7, 1, 20, 1),)],
                 2: [(4, 3), (1, 2), ((10, 3), (1, 1, 9))],
                 3: [(3, 4, 2), (2, 1, 6), ((1, 6), (9,), (5, 1))]}[nd]
    for kw in CASES:
        try:
            ref = getattr(fc, f"conv{nd}d")(x, w, b, groups=2, padding_mode=mode,
                                            algorithm="direct", **kw)
        except ValueError:   # e.g. reflect padding not smaller than the input
            continue
        for i, sp in enumerate(chunkings):
            xd = chunked(x, sp, batch=2 if i else 1)
            y = getattr(fcd, f"conv{nd}d")(xd, w, b, groups=2, padding_mode=mode,
                                           algorithm="direct", **kw)
            same(sync(y), ref, f"conv{nd}d {mode} {kw} chunks {sp}")


@pytest.mark.parametrize("nd", (1, 2, 3))
def test_conv_channels_last_unbatched_residual_activation(nd, rng):
    size = {1: (31,), 2: (12, 10), 3: (6, 8, 7)}[nd]
    x = rand(rng, size + (5,), np.float32)                # unbatched, channels last
    w = rand(rng, (4, 5) + (3,) * nd, np.float32)
    y0 = getattr(fc, f"conv{nd}d")(x, w, padding=1, layout="NHWC", algorithm="direct")
    r = rand(rng, y0.shape, np.float32)
    ref = getattr(fc, f"conv{nd}d")(x, w, padding=1, layout="NHWC", algorithm="direct",
                                    residual=r, activation=("leaky_relu", 0.2))
    xd = da.from_array(x, chunks=(3,) * nd + (-1,))
    rd = da.from_array(r, chunks=(5,) * nd + (-1,))      # chunked otherwise than the output
    y = getattr(fcd, f"conv{nd}d")(xd, w, padding=1, layout="NHWC", algorithm="direct",
                                   residual=rd, activation=("leaky_relu", 0.2))
    assert y.chunks[:nd] == xd.chunks[:nd]
    # channels last, the direct kernel sums a padded border in another order
    # than an inner pixel: equal within rounding, not bit for bit
    assert_close(sync(y), ref)
    # channels first, unbatched, with a residual: bit for bit
    xc = np.ascontiguousarray(np.moveaxis(x, -1, 0))
    rc = np.ascontiguousarray(np.moveaxis(r, -1, 0))
    ref = getattr(fc, f"conv{nd}d")(xc, w, padding=1, algorithm="direct", residual=rc,
                                    activation="tanh")
    for sp in (3, 16):
        y = getattr(fcd, f"conv{nd}d")(da.from_array(xc, chunks=(-1,) + (sp,) * nd), w,
                                       padding=1, algorithm="direct", residual=rc,
                                       activation="tanh")
        if sp < 16:   # rows shorter than a vector may take another tile: within rounding
            assert_close(sync(y), ref)
        else:
            same(sync(y), ref)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("C", (1, 3))
def test_depthwise_volume_filter(C, mode, rng):
    """conv3d with groups = channels (a one-channel volume filter among them) runs
    as depthwise 2-D passes over the depth slices: within rounding."""
    x = rand(rng, (2, C, 13, 11, 12), np.float32)
    w = rand(rng, (C, 1, 3, 3, 3), np.float32)
    b = rand(rng, (C,), np.float32)
    for kw in (dict(padding=1), dict(padding=2, stride=(2, 1, 2), dilation=(2, 1, 1))):
        ref = fc.conv3d(x, w, b, groups=C, padding_mode=mode, activation="relu", **kw)
        r = rand(rng, ref.shape, np.float32)
        ref = fc.conv3d(x, w, b, groups=C, padding_mode=mode, activation="relu", residual=r, **kw)
        y = fcd.conv3d(chunked(x, (5, 4, 6)), w, b, groups=C, padding_mode=mode,
                       activation="relu", residual=r, **kw)
        assert_close(y.compute(scheduler="threads"), ref, what=f"{mode} {kw}")
        y = fcd.conv3d(da.from_array(x[1], chunks=(-1, 4, 6, 5)), w, b, groups=C,
                       padding_mode=mode, activation="relu", residual=r[1], **kw)
        assert_close(sync(y), ref[1], what=f"unbatched {mode} {kw}")


def test_conv2d_auto_algorithm_within_tolerance(rng):
    """The planner may pick Winograd or GEMM for a block's size: within tolerance."""
    x = rand(rng, (1, 16, 40, 40), np.float32)
    w = rand(rng, (16, 16, 3, 3), np.float32)
    ref = fc.conv2d(x.astype(np.float64), w.astype(np.float64), padding=1)
    y = sync(fcd.conv2d(chunked(x, (16, 24)), w, padding=1))
    assert_close(y, ref, np.float32, winograd=True)


def agree(got, ref, bitwise, what=""):
    """Bit for bit on blocks of ordinary sizes; blocks narrower than a vector may
    take another tile path (another order of the sums): within rounding."""
    if bitwise:
        same(got, ref, what)
    else:
        assert_close(got, ref, what=what)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_named_ops(dtype, rng):
    x = rand(rng, (2, 6, 40, 36), dtype)
    dw = rand(rng, (12, 1, 3, 3), dtype)
    db = rand(rng, (12,), dtype)
    pw = rand(rng, (5, 12), dtype)
    pb = rand(rng, (5,), dtype)
    g = np.array([1, 4, 6, 4, 1], dtype) / 16
    rows = rand(rng, (6, 7), dtype)
    for bitwise, sp in ((True, (16, (20, 16))), (False, (4, (1, 2, 33)))):
        xd = chunked(x, sp)
        for kw in (dict(padding=1), dict(padding=2, stride=2, dilation=2), dict(padding="same")):
            agree(sync(fcd.depthwise_conv2d(xd, dw, db, activation="relu6", **kw)),
                  fc.depthwise_conv2d(x, dw, db, activation="relu6", **kw), bitwise,
                  f"depthwise {kw}")
            agree(sync(fcd.depthwise_separable_conv2d(
                      xd, dw, pw, db, pb, depthwise_activation="relu", activation="silu", **kw)),
                  fc.depthwise_separable_conv2d(x, dw, pw, db, pb, depthwise_activation="relu",
                                                activation="silu", **kw), bitwise, f"dwsep {kw}")
        agree(sync(fcd.pointwise_conv2d(xd, pw[:, :6], pb, activation="relu")),
              fc.pointwise_conv2d(x, pw[:, :6], pb, activation="relu"), bitwise, "pointwise")
        for mode in MODES:
            for kw in (dict(padding="same"), dict(padding=(3, 1), stride=(2, 1))):
                # the separable kernels' row tails (a block's width modulo the
                # vector) sum in another order: within rounding
                assert_close(sync(fcd.separable_conv2d(xd, g, g[:3], padding_mode=mode, **kw)),
                             fc.separable_conv2d(x, g, g[:3], padding_mode=mode, **kw),
                             what=f"separable {mode} {kw}")
        assert_close(sync(fcd.separable_conv2d(xd[0], rows, rows[:, :5], padding=(2, 3),
                                               padding_mode="reflect")),
                     fc.separable_conv2d(x[0], rows, rows[:, :5], padding=(2, 3),
                                         padding_mode="reflect"),
                     what="separable, per-channel kernels, unbatched")


@pytest.mark.parametrize("layout", ("NCHW", "NHWC"))
@pytest.mark.parametrize("stride", (1, 2))
def test_involution2d_functional(layout, stride, rng):
    x = rand(rng, (2, 8, 12, 10), np.float32)
    K, G = 3, 2
    OH, OW = -(-12 // stride), -(-10 // stride)
    k = rand(rng, (2, G, K * K, OH, OW), np.float32)
    b = rand(rng, (8,), np.float32)
    if layout == "NHWC":
        x, k = x.transpose(0, 2, 3, 1).copy(), k.transpose(0, 3, 4, 1, 2).copy()
    ref = fc.involution2d(x, k, K, stride, bias=b, activation="relu", layout=layout)
    xd = da.from_array(x, chunks=(1, 5, 3, -1) if layout == "NHWC" else (1, -1, 5, 3))
    kd = da.from_array(k, chunks=2)                   # not on the output's grid: rechunked
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # the NHWC case splits W... and C
        y = fcd.involution2d(xd, kd, K, stride, bias=b, activation="relu", layout=layout)
    same(sync(y), ref)


@pytest.mark.parametrize("K,stride", [(3, 1), (7, 1), (3, 2), (5, 2)])
def test_involution2d_layer(K, stride, rng):
    inv = fcd.Involution2d(16, K, stride, group_channels=4, seed=1)
    x = rand(rng, (2, 16, 16, 12), np.float32)
    ref = inv(x)
    y = inv(chunked(x, (5, (4, 4, 2, 2))))
    assert_close(sync(y), ref)
    got = sync(fcd.apply(fc.Involution2d(16, K, stride, group_channels=4, seed=1),
                         chunked(x, (8, 6))))
    assert_close(got, ref)


@pytest.mark.parametrize("nd", (1, 2, 3))
def test_layers_and_one_weights_key(nd, rng):
    size = {1: (40,), 2: (14, 12), 3: (6, 7, 8)}[nd]
    x = rand(rng, (2, 4) + size, np.float32)
    w = rand(rng, (8, 4) + (3,) * nd, np.float32)
    b = rand(rng, (8,), np.float32)
    kw = dict(stride=2, padding=1, padding_mode="reflect", activation="relu", algorithm="direct")
    layer = getattr(fcd, f"Conv{nd}d")(w, b, **kw)
    ref = getattr(fc, f"Conv{nd}d")(w, b, **kw)(x)
    same(layer(x), ref, "the dask layer on a NumPy array: the in-memory call")
    y = layer(chunked(x, tuple(s // 2 + 1 for s in size)))
    same(sync(y), ref)
    assert_close(sync(fcd.apply(getattr(fc, f"Conv{nd}d")(w, b, **kw), chunked(x, (2,) * nd))),
                 ref)
    # the layer is one key that every block's task depends on
    layer_graph = dict(y.__dask_graph__().layers[y.name])
    ops = [k for k in layer_graph if isinstance(k, str) and k.startswith("fastconv-op-")]
    assert len(ops) == 1
    blocks = [k for k in layer_graph if isinstance(k, tuple) and k[0] == y.name]
    def deps(task):      # a dask Task, or the tuple form of older dask
        return task.dependencies if hasattr(task, "dependencies") else set(task[1:2])
    assert len(blocks) == y.npartitions and all(ops[0] in deps(layer_graph[k]) for k in blocks)


def test_layer_residual_and_weights_shipped_by_value(rng):
    layer = fc.Conv2d(rand(rng, (4, 4, 3, 3), np.float32), padding=1)
    x = rand(rng, (1, 4, 10, 10), np.float32)
    r = rand(rng, (1, 4, 10, 10), np.float32)
    y = fcd.apply(layer, chunked(x, (4, 4)), residual=da.from_array(r, chunks=3))
    same(sync(y), layer(x, residual=r))
    # a pickled dask graph carries the layer (the weights) by value
    y2 = pickle.loads(pickle.dumps(fcd.apply(layer, chunked(x, (5, 5)))))
    same(sync(y2), layer(x))


def test_channels_split_warns_and_rechunks(rng):
    x = rand(rng, (1, 6, 8, 8), np.float32)
    w = rand(rng, (3, 6, 3, 3), np.float32)
    xd = da.from_array(x, chunks=(1, 2, 4, 4))
    with pytest.warns(UserWarning, match="channel axis"):
        y = fcd.conv2d(xd, w, padding=1, algorithm="direct")
    same(sync(y), fc.conv2d(x, w, padding=1, algorithm="direct"))


def test_lazy_nothing_computed_before_compute(rng):
    calls = []

    def source(block):
        calls.append(block.shape)
        return block

    x = da.from_array(rand(rng, (1, 2, 16, 16), np.float32), chunks=(1, 2, 4, 4))
    xc = x.map_blocks(source, meta=np.empty((0,) * 4, np.float32))
    w = rand(rng, (2, 2, 3, 3), np.float32)
    y = fcd.conv2d(xc, w, padding=2, padding_mode="circular", stride=2)
    y = fcd.separable_conv2d(y, w[0, 0, 0], w[0, 0, 1], padding="same")
    assert calls == [] and isinstance(y, da.Array)
    sync(y)
    assert len(calls) == 16


def test_errors_are_the_in_memory_ones(rng):
    x = rand(rng, (1, 3, 8, 8), np.float32)
    xd = chunked(x, (4, 4))
    w = rand(rng, (4, 3, 3, 3), np.float32)
    bad = [
        dict(weight=rand(rng, (4, 2, 3, 3), np.float32)),
        dict(stride=0),
        dict(stride=1.5),
        dict(padding=8, padding_mode="reflect"),
        dict(padding_mode="mirror"),
        dict(weight=rand(rng, (4, 3, 9, 9), np.float32)),
        dict(weight=w.astype(np.float64)),
        dict(algorithm="winograd", stride=2),
    ]
    for kw in bad:
        kw = {"weight": w, **kw}
        with pytest.raises((TypeError, ValueError)) as e_mem:
            fc.conv2d(x, **kw)
        with pytest.raises(e_mem.type) as e_dask:
            fcd.conv2d(xd, **kw)
        assert str(e_dask.value) == str(e_mem.value)
    with pytest.raises(TypeError, match="float32 or float64"):
        fcd.conv2d(xd.astype(np.int32), w)
    with pytest.raises(TypeError, match="out="):
        fcd.conv2d(xd, w, out=np.empty((1, 4, 6, 6), np.float32))
    with pytest.raises(ValueError, match="residual must have the result's shape"):
        fcd.conv2d(xd, w, residual=xd)
    with pytest.raises(TypeError, match="layer must be"):
        fcd.apply(fc.ConvTranspose2d(rand(rng, (3, 2, 2, 2), np.float32)), xd)
    with pytest.raises(ValueError, match="x must have shape"):
        fcd.apply(fc.Involution2d(8, 3, group_channels=4), xd)


def test_threaded_scheduler_and_task_threads(rng, restore_threads):
    fc.set_num_threads(2)
    x = rand(rng, (2, 3, 20, 20), np.float32)
    w = rand(rng, (3, 3, 3, 3), np.float32)
    seen = []

    def probe(block):
        seen.append(fcd.task_threads())
        return block

    y = fcd.conv2d(chunked(x, (5, 5)), w, padding=1, algorithm="direct")
    got = y.compute(scheduler="threads", num_workers=2)
    assert_close(got, fc.conv2d(x, w, padding=1, algorithm="direct"))
    assert fc.get_num_threads() == 2          # restored after the tasks
    with dask.config.set(num_workers=2):
        da.ones(4, chunks=1).map_blocks(probe, meta=np.empty(0)).compute(scheduler="threads")
    assert set(seen) == {1}                   # 2 threads, 2 concurrent tasks: 1 each
    assert fcd.task_threads() == 2            # the main thread: the synchronous scheduler's
    os.environ["FASTCONV_DASK_THREADS"] = "3"
    try:
        assert fcd.task_threads() == 3
    finally:
        del os.environ["FASTCONV_DASK_THREADS"]


def test_numpy_input_and_empty_batch(rng):
    x = rand(rng, (0, 2, 6, 6), np.float32)
    w = rand(rng, (3, 2, 3, 3), np.float32)
    assert sync(fcd.conv2d(x, w, padding=1)).shape == (0, 3, 6, 6)
    x = rand(rng, (1, 2, 6, 6), np.float32)
    same(sync(fcd.conv2d(x, w, padding=1, algorithm="direct")),
         fc.conv2d(x, w, padding=1, algorithm="direct"))


# ---------------------------------------------------------------- a real cluster

WORKER_MEMORY = 320 * 2**20      # per worker: its RSS at work (~180 MB) under the 70% at which it spills


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")
    if os.environ.get("FASTCONV_SANITIZED") == "1":
        # scripts/sanitize.sh: the workers inherit the preloaded ASan runtime,
        # whose shadow memory alone passes their memory limit (the nanny kills
        # them); the in-process scheduler's tests run the sanitized kernels
        pytest.skip("worker processes under ASan exceed their memory limit")
    from distributed import Client, LocalCluster
    environ = dict(os.environ)     # the nanny leaves OMP_NUM_THREADS=1 etc. in ours
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # port in use, etc.
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               memory_limit=WORKER_MEMORY, dashboard_address=None,
                               silence_logs=50)
        c = Client(cluster, set_as_default=False)
    try:
        yield c
    finally:
        c.close()
        cluster.close()
        os.environ.clear()
        os.environ.update(environ)


def _peak_rss():
    """This process's peak RSS: VmHWM, its memory's high-water mark (ru_maxrss
    would include the parent's RSS at the fork before the worker's exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # Linux: KiB


def test_cluster_ops_and_threads(client, rng):
    x = rand(rng, (2, 4, 30, 26), np.float32)
    w = rand(rng, (6, 4, 3, 3), np.float32)
    layer = fc.Conv2d(w, padding=2, dilation=2, padding_mode="replicate", algorithm="direct")
    y = fcd.apply(layer, chunked(x, (7, 9)))
    assert_close(client.compute(y).result(), layer(x))
    g = np.array([1, 2, 1], np.float32)
    y = fcd.separable_conv2d(chunked(x, (4, 4)), g, g, padding=1, padding_mode="circular")
    assert_close(client.compute(y).result(),
                 fc.separable_conv2d(x, g, g, padding=1, padding_mode="circular"))
    # each worker's tasks: its share (1 thread per worker thread, the nanny's OMP_NUM_THREADS=1)
    shares = client.run(fcd.task_threads)
    assert set(shares.values()) == {1}
    isa = client.run(lambda: __import__("fastconv")._core.get_isa())
    if os.environ.get("FASTCONV_ISA"):       # the workers inherit the forced level
        assert set(isa.values()) == {os.environ["FASTCONV_ISA"].strip().lower()}


def test_larger_than_memory_zarr_volume(client, tmp_path):
    """A volume larger than a worker's memory limit (FASTCONV_DASK_BIG=1: 10x it,
    5x the two workers' together), streamed from one zarr store through conv3d
    to another, each worker's peak RSS (from its start) under its limit.

    The chunks are 1 MiB: a task holds its block, the halo'd copy, the output
    and fastconv's tap gather for a one-channel 3x3x3 kernel (27 x the block,
    kept per thread), while Dask holds a few dozen blocks along the wavefront."""
    big = os.environ.get("FASTCONV_DASK_BIG") == "1"
    D = 2560 if big else 512           # 2.5 GiB (big) or 0.5 GiB of float32: 8x or 1.6x a worker's limit
    shape, chunks = (1, 1, D, 512, 512), (1, 1, 16, 128, 128)
    nbytes = int(np.prod(shape)) * 4
    assert nbytes > 1.5 * WORKER_MEMORY
    src, dst = str(tmp_path / "in.zarr"), str(tmp_path / "out.zarr")
    vol = da.random.default_rng(0).random(shape, dtype=np.float32, chunks=chunks)
    client.compute(da.to_zarr(vol, src, compute=False, compressors=None)).result()
    x = da.from_zarr(src)
    w = np.random.default_rng(1).standard_normal((1, 1, 3, 3, 3)).astype(np.float32)
    y = fcd.conv3d(x, w, padding=1, algorithm="direct")
    assert y.chunks == x.chunks
    client.compute(da.to_zarr(y, dst, compute=False, compressors=None)).result()
    peaks = client.run(_peak_rss)
    print(f"volume {nbytes / 2**20:.0f} MiB, worker limit {WORKER_MEMORY / 2**20:.0f} MiB, "
          f"peak RSS {[round(p / 2**20) for p in peaks.values()]} MiB")
    assert all(p < WORKER_MEMORY for p in peaks.values()), (peaks, WORKER_MEMORY)
    zin, zout = zarr.open_array(src, mode="r"), zarr.open_array(dst, mode="r")
    # a corner (the zero padding at the outer edges) and an interior block across chunks
    ref = fc.conv3d(zin[:, :, :40, :300, :300], w, padding=((1, 0), (1, 0), (1, 0)),
                    algorithm="direct")
    assert_close(zout[:, :, :39, :299, :299], ref[:, :, :39, :299, :299], what="corner")
    a = D // 2
    ref = fc.conv3d(zin[:, :, a - 9:a + 9, 100:220, 300:340], w, algorithm="direct")
    assert_close(zout[:, :, a - 8:a + 8, 101:219, 301:339], ref, what="interior")
