"""Argument errors, as NumPy and PyTorch users expect them: an argument of the
wrong type is a TypeError, a value the op cannot take (negative, unknown name,
wrong length, mismatched shape) a ValueError, and either message names the
argument.  Every public op and layer constructor, one table row each."""
import numpy as np
import pytest

import fastconv as fc

F32 = np.float32
rng = np.random.default_rng(0)


def _a(*shape):
    return rng.standard_normal(shape).astype(F32)


X1, X2, X3 = _a(1, 4, 8), _a(1, 4, 8, 8), _a(1, 4, 6, 6, 6)
W1, W2, W3 = _a(4, 4, 3), _a(4, 4, 3, 3), _a(4, 4, 3, 3, 3)
B4 = _a(4)
WD, WP = _a(4, 1, 3, 3), _a(6, 4)
ROW, COL = _a(3), _a(3)
INV_KER = _a(1, 2, 9, 8, 8)              # (N, G, K*K, H_out, W_out), K = 3
POOLED, IDX = fc.max_pool2d(X2, 2, return_indices=True)
NOT_AN_ARRAY = object()                  # np.asarray makes an object array of it

# Wrong types for the common arguments (each also checked to name the argument)
INT_TYPES = [1.5, "2", True, None, [1.0]]
TUPLE_INT_TYPES = [1.5, "2", True, (1, 1.5), [1, "1"], {"a": 1}]
PAD_TYPES = [1.5, True, (1.5, 1), ((1, 0), (1.0, 0)), {"a": 1}]
STR_TYPES = [1, True, ("zeros",)]
LAYOUT_TYPES = [1, True, b"NCHW"]

# name -> (call(**overrides), the good keyword arguments, [(argument, wrong types)],
#          [(argument, wrong values)])
CONV_TYPES = [("stride", TUPLE_INT_TYPES), ("padding", PAD_TYPES), ("dilation", TUPLE_INT_TYPES),
              ("groups", INT_TYPES), ("padding_mode", STR_TYPES + [None]),
              ("algorithm", STR_TYPES + [None]), ("activation", [1, True, 0.5]),
              ("layout", LAYOUT_TYPES), ("x", [NOT_AN_ARRAY, "abc"]),
              ("weight", [NOT_AN_ARRAY, "abc"]), ("bias", [NOT_AN_ARRAY, "b"]),
              ("out", [[0.0], "out"])]
CONV_VALUES = [("stride", [0, -1, (1, 1, 1, 1)]), ("padding", [-1, "full", (1, 1, 1, 1)]),
               ("dilation", [0, (1, 1, 1, 1)]), ("groups", [0, 3]),
               ("padding_mode", ["mirror", "Zeros"]), ("algorithm", ["fft"]),
               ("activation", ["swish", ("gelu", 0.1)]), ("layout", ["NWHC"]),
               ("bias", [np.zeros(3, F32)]), ("out", [np.zeros((1, 1), F32)])]
TRANSPOSE_TYPES = [("stride", TUPLE_INT_TYPES), ("padding", PAD_TYPES),
                   ("output_padding", TUPLE_INT_TYPES), ("groups", INT_TYPES),
                   ("dilation", TUPLE_INT_TYPES), ("activation", [1, True]),
                   ("layout", LAYOUT_TYPES), ("x", [NOT_AN_ARRAY]), ("weight", [NOT_AN_ARRAY]),
                   ("out", [[0.0]])]
TRANSPOSE_VALUES = [("stride", [0, (1, 1, 1, 1)]), ("padding", [-1, "same"]),
                    ("output_padding", [-1, 5]), ("groups", [0, 3]), ("dilation", [0]),
                    ("activation", ["swish"]), ("layout", ["NWHC"])]
POOL_TYPES = [("kernel_size", INT_TYPES[:-2] + [(2, 2.0)]), ("stride", [1.5, "2", True]),
              ("padding", [0.5, "1", True]), ("layout", LAYOUT_TYPES), ("x", [NOT_AN_ARRAY])]
POOL_VALUES = [("kernel_size", [0, -2]), ("stride", [0]), ("padding", [-1, 2]),
               ("layout", ["NWHC"]), ("x", [np.zeros((2, 2), F32)])]

OPS = {
    "conv1d": (fc.conv1d, dict(x=X1, weight=W1, bias=B4), CONV_TYPES, CONV_VALUES),
    "conv2d": (fc.conv2d, dict(x=X2, weight=W2, bias=B4), CONV_TYPES, CONV_VALUES),
    "conv3d": (fc.conv3d, dict(x=X3, weight=W3, bias=B4), CONV_TYPES, CONV_VALUES),
    "conv_plan": (fc.conv_plan, dict(x=X2, weight=W2, bias=B4),
                  [t for t in CONV_TYPES if t[0] != "out"], [v for v in CONV_VALUES if v[0] != "out"]),
    "conv_transpose1d": (fc.conv_transpose1d, dict(x=X1, weight=W1), TRANSPOSE_TYPES,
                         TRANSPOSE_VALUES),
    "conv_transpose2d": (fc.conv_transpose2d, dict(x=X2, weight=W2), TRANSPOSE_TYPES,
                         TRANSPOSE_VALUES),
    "conv_transpose3d": (fc.conv_transpose3d, dict(x=X3, weight=W3), TRANSPOSE_TYPES,
                         TRANSPOSE_VALUES),
    "depthwise_conv2d": (fc.depthwise_conv2d, dict(x=X2, weight=WD, padding=1),
                         [("stride", TUPLE_INT_TYPES), ("padding", PAD_TYPES),
                          ("dilation", TUPLE_INT_TYPES), ("activation", [1]),
                          ("layout", LAYOUT_TYPES), ("x", [NOT_AN_ARRAY]),
                          ("weight", [NOT_AN_ARRAY, "w"]), ("out", [[0.0]])],
                         [("stride", [0]), ("padding", [-1]), ("weight", [_a(3, 1, 3, 3)]),
                          ("activation", ["swish"]), ("layout", ["NWHC"])]),
    "pointwise_conv2d": (fc.pointwise_conv2d, dict(x=X2, weight=WP),
                         [("activation", [1]), ("layout", LAYOUT_TYPES), ("x", [NOT_AN_ARRAY]),
                          ("weight", [NOT_AN_ARRAY]), ("bias", ["b"]), ("out", [[0.0]])],
                         [("weight", [_a(6, 4, 3)]), ("activation", ["swish"]),
                          ("bias", [np.zeros(4, F32)])]),
    "separable_conv2d": (fc.separable_conv2d, dict(x=X2, row=ROW, col=COL, padding=1),
                         [("stride", TUPLE_INT_TYPES), ("padding", PAD_TYPES),
                          ("padding_mode", STR_TYPES), ("activation", [1]),
                          ("x", [NOT_AN_ARRAY]), ("row", [NOT_AN_ARRAY, "r"]),
                          ("col", [NOT_AN_ARRAY]), ("out", [[0.0]])],
                         [("stride", [0]), ("padding", [-1, "full"]),
                          ("padding_mode", ["mirror"]), ("activation", ["swish"]),
                          ("row", [_a(3, 3)]), ("col", [_a(2, 2, 2)])]),
    "depthwise_separable_conv2d": (
        fc.depthwise_separable_conv2d,
        dict(x=X2, depthwise_weight=WD, pointwise_weight=WP, padding=1),
        [("stride", TUPLE_INT_TYPES), ("padding", PAD_TYPES), ("dilation", TUPLE_INT_TYPES),
         ("depthwise_activation", [1, True]), ("activation", [1]), ("x", [NOT_AN_ARRAY]),
         ("depthwise_weight", [NOT_AN_ARRAY]), ("pointwise_weight", [NOT_AN_ARRAY]),
         ("out", [[0.0]])],
        [("stride", [0]), ("padding", [-1]), ("depthwise_activation", ["gelu", "swish"]),
         ("activation", ["swish"]), ("pointwise_weight", [_a(6, 5)])]),
    "involution2d": (fc.involution2d, dict(x=X2, kernel=INV_KER, kernel_size=3),
                     [("kernel_size", INT_TYPES[:-2] + [3.0]), ("stride", TUPLE_INT_TYPES),
                      ("padding", PAD_TYPES), ("dilation", TUPLE_INT_TYPES),
                      ("activation", [1]), ("x", [NOT_AN_ARRAY]), ("kernel", [NOT_AN_ARRAY]),
                      ("bias", ["b"]), ("out", [[0.0]])],
                     [("kernel_size", [0, -1]), ("kernel", [_a(1, 2, 4, 8, 8)]),
                      ("stride", [0]), ("padding", [-1]),
                      ("dilation", [0]), ("activation", ["swish"]),
                      ("bias", [np.zeros(3, F32)])]),
    "max_pool1d": (fc.max_pool1d, dict(x=X1, kernel_size=2), POOL_TYPES
                   + [("dilation", [1.5, True]), ("ceil_mode", ["yes"])],
                   POOL_VALUES[:-1] + [("dilation", [0])]),
    "max_pool2d": (fc.max_pool2d, dict(x=X2, kernel_size=2), POOL_TYPES
                   + [("dilation", [1.5, True]), ("ceil_mode", ["yes"])],
                   POOL_VALUES + [("dilation", [0])]),
    "max_pool3d": (fc.max_pool3d, dict(x=X3, kernel_size=2), POOL_TYPES
                   + [("dilation", [1.5])], POOL_VALUES + [("dilation", [0])]),
    "avg_pool1d": (fc.avg_pool1d, dict(x=X1, kernel_size=2),
                   POOL_TYPES + [("divisor_override", [1.5, "2", True])],
                   POOL_VALUES[:-1] + [("divisor_override", [0])]),
    "avg_pool2d": (fc.avg_pool2d, dict(x=X2, kernel_size=2),
                   POOL_TYPES + [("divisor_override", [1.5, "2", True]), ("ceil_mode", ["yes"])],
                   POOL_VALUES + [("divisor_override", [0])]),
    "avg_pool3d": (fc.avg_pool3d, dict(x=X3, kernel_size=2),
                   POOL_TYPES + [("divisor_override", [1.5])],
                   POOL_VALUES + [("divisor_override", [0])]),
    "max_unpool2d": (fc.max_unpool2d, dict(x=POOLED, indices=IDX, kernel_size=2),
                     [("kernel_size", [2.5, "2", True]), ("stride", [1.5, True]),
                      ("padding", [0.5, True]), ("output_size", [8, (8.0, 8), ("a", "b")]),
                      ("x", [NOT_AN_ARRAY]), ("indices", [NOT_AN_ARRAY, IDX.astype(F32)])],
                     [("kernel_size", [0]), ("stride", [0]), ("padding", [-1]),
                      ("output_size", [(100, 100), (8,)]), ("indices", [IDX[:, :1]])]),
    "global_avg_pool": (fc.global_avg_pool, dict(x=X2),
                        [("x", [NOT_AN_ARRAY]), ("layout", LAYOUT_TYPES), ("out", [[0.0]])],
                        [("x", [X2[0, 0]]), ("layout", ["NWHC"]),
                         ("out", [np.zeros((2, 2), F32)])]),
    "add": (fc.add, dict(x=X2, y=X2),
            [("x", [NOT_AN_ARRAY]), ("y", [NOT_AN_ARRAY]), ("activation", [1, True]),
             ("negative_slope", ["0.1", None]), ("out", [[0.0]])],
            [("y", [X2[0]]), ("activation", ["swish"]), ("out", [np.zeros((2, 2), F32)])]),
    "fold_batchnorm": (fc.fold_batchnorm,
                       dict(weight=W2, bias=B4, running_mean=B4, running_var=np.ones(4, F32)),
                       [("weight", [NOT_AN_ARRAY]), ("running_mean", [NOT_AN_ARRAY]),
                        ("gamma", ["g"]), ("groups", INT_TYPES[:-2]), ("eps", ["1e-5", None])],
                       [("weight", [B4]), ("running_mean", [np.zeros(3, F32)]),
                        ("groups", [0, 3]), ("eps", [-1.0, float("nan")])]),
    "set_num_threads": (lambda n=None: fc.set_num_threads(fc.get_num_threads() if n is None
                                                          else n), {},
                        [("n", [1.5, "2", True])], [("n", [0, -1, 10**6])]),
}


def _layer(cls, weight):
    return lambda **kw: cls(weight, **kw)


_LAYER_TYPES = [t for t in CONV_TYPES if t[0] not in ("x", "weight", "bias", "out")]
_LAYER_VALUES = [v for v in CONV_VALUES if v[0] not in ("bias", "out")]
_TLAYER_TYPES = [t for t in TRANSPOSE_TYPES if t[0] not in ("x", "weight", "out")]
for _cls, _w in ((fc.Conv1d, W1), (fc.Conv2d, W2), (fc.Conv3d, W3)):
    OPS[_cls.__name__] = (_layer(_cls, _w), {}, _LAYER_TYPES, _LAYER_VALUES)
for _cls, _w in ((fc.ConvTranspose1d, W1), (fc.ConvTranspose2d, W2), (fc.ConvTranspose3d, W3)):
    OPS[_cls.__name__] = (_layer(_cls, _w), {}, _TLAYER_TYPES,
                          [v for v in TRANSPOSE_VALUES if v[0] != "output_padding"]
                          + [("output_padding", [-1])])
OPS["Involution2d"] = (fc.Involution2d, dict(channels=4, kernel_size=3, group_channels=2,
                                             reduction_ratio=2, seed=0),
                       [(a, [1.5, "4", True, None]) for a in
                        ("channels", "kernel_size", "stride", "group_channels", "reduction_ratio")],
                       [("channels", [0, 3]), ("kernel_size", [0]), ("stride", [0]),
                        ("group_channels", [0, 3]), ("reduction_ratio", [0, 8])])


def _cases(kind):
    for op, (_, _, types, values) in OPS.items():
        for arg, bads in (types if kind == "type" else values):
            for i, bad in enumerate(bads):
                yield pytest.param(op, arg, bad, id=f"{op}-{arg}-{i}")


def _call(op, **over):
    fn, good, _, _ = OPS[op]
    return fn(**{**good, **over})


@pytest.mark.parametrize("op", list(OPS))
def test_the_good_call_works(op):
    _call(op)


@pytest.mark.parametrize("op, arg, bad", list(_cases("type")))
def test_wrong_type_is_type_error_naming_the_argument(op, arg, bad):
    with pytest.raises(TypeError, match=arg) as e:
        _call(op, **{arg: bad})
    assert not isinstance(e.value, ValueError)


@pytest.mark.parametrize("op, arg, bad", list(_cases("value")))
def test_wrong_value_is_value_error_naming_the_argument(op, arg, bad):
    with pytest.raises(ValueError, match=arg) as e:
        _call(op, **{arg: bad})
    assert not isinstance(e.value, TypeError)


@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d",
                                "involution2d", "Conv2d", "ConvTranspose2d"])
def test_numpy_integer_scalars_are_ints(op):
    i = np.int64
    over = {"stride": i(1)}
    if op in ("conv2d", "Conv2d"):
        over.update(padding=(i(1), np.int32(1)), dilation=[i(1), i(1)], groups=i(2))
    elif op in ("conv_transpose2d", "ConvTranspose2d"):
        over.update(padding=i(0), output_padding=(i(0), i(0)), groups=np.int16(1))
    elif op == "involution2d":
        over.update(kernel_size=np.int32(3), padding=((i(1), i(1)), (i(1), i(1))))
    else:
        over.update(kernel_size=(i(2), np.uint8(2)), padding=np.int8(0))
    fn, good, _, _ = OPS[op]
    if op == "conv2d":
        good = dict(good, weight=W2[:, :2])
    fn(**{**good, **over})
    fc.set_num_threads(np.int64(fc.get_num_threads()))
    fc.Involution2d(np.int64(4), np.int32(3), group_channels=np.int64(2), reduction_ratio=i(2))


def test_layer_call_arguments():
    layer = fc.Conv2d(W2, padding=1)
    with pytest.raises(TypeError, match="x"):
        layer(NOT_AN_ARRAY)
    with pytest.raises(TypeError, match="out"):
        layer(X2, out=[0.0])
    with pytest.raises(ValueError, match="out"):
        layer(X2, out=np.zeros((1, 1), F32))
    with pytest.raises(ValueError, match="x"):
        layer(X2[0, 0])


def test_involution_state_dict_container():
    with pytest.raises(TypeError, match="state_dict"):
        fc.Involution2d.from_state_dict([("conv1.conv.weight", W2)])
    with pytest.raises(ValueError, match="state_dict"):
        fc.Involution2d.from_state_dict({"conv1.conv.weight": W2})
    with pytest.raises(TypeError, match="state_dict"):
        fc.Involution2d.from_state_dict(dict(fc.Involution2d(4, 3, group_channels=2,
                                                             seed=0).state_dict(),
                                             **{"conv1.bn.weight": "w"}))


@pytest.mark.parametrize("arg, good, bad", [("padding", (1, 1), (1.0, 1)),
                                            ("padding", ((1, 1), (1, 1)), ((1, 1), (1, True))),
                                            ("stride", (1, 1), (1, 1.0)),
                                            ("dilation", (1, 1), (True, 1)),
                                            ("groups", 1, 1.0)])
def test_a_cached_spec_does_not_accept_an_equal_float_or_bool(arg, good, bad):
    """Repeated calls reuse their checked spec by argument values, and 1.0 == 1 ==
    True as keys: a float or bool after the equal int is still a TypeError."""
    fc.conv2d(X2, W2, **{arg: good})
    fc.conv2d(X2, W2, **{arg: good})
    with pytest.raises(TypeError, match=arg):
        fc.conv2d(X2, W2, **{arg: bad})
