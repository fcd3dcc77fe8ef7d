"""Checks specific to the elementwise activations that the generic catalog tests do not
express: torch's parameter names and defaults, aliases, kink masks, messages, and that
the VJPs (which work in place on their own temporaries) never touch their arguments."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from nnfunc import catalog
from nnfunc.errors import InvalidArgumentError
from tests.catalog.cases_activations import CASES

# torch 2.13 signatures of torch.nn.functional (catalog-reference §1.1), minus inplace.
TORCH_DEFAULTS = {
    "sigmoid": {},
    "tanh": {},
    "relu": {},
    "leaky_relu": {"negative_slope": 0.01},
    "rrelu": {"lower": 1 / 8, "upper": 1 / 3, "training": False},
    "prelu": {},
    "elu": {"alpha": 1.0},
    "selu": {},
    "celu": {"alpha": 1.0},
    "gelu": {"approximate": "none"},
    "silu": {},
    "mish": {},
    "softplus": {"beta": 1.0, "threshold": 20.0},
}
WITH_KINKS = {"relu", "leaky_relu", "rrelu", "prelu", "elu", "selu", "softplus"}


def test_every_function_here_has_a_case():
    assert set(TORCH_DEFAULTS) == set(CASES)


@pytest.mark.parametrize("name", sorted(TORCH_DEFAULTS))
def test_torch_names_defaults_and_metadata(name):
    spec = catalog.lookup(name)
    assert spec.kind == "activation" and spec.elementwise
    assert {p.name: p.default for p in spec.params} == TORCH_DEFAULTS[name]
    assert spec.summary and spec.formula and spec.output_range and spec.vjp is not None
    assert all(p.doc for p in spec.params)
    if name in WITH_KINKS:
        assert spec.kinks and spec.kink_mask is not None
    assert [i.name for i in spec.inputs] == (["input", "weight"] if name == "prelu" else ["input"])


@pytest.mark.parametrize(
    ("alias", "name"), [("swish", "silu"), ("logistic", "sigmoid"), ("expit", "sigmoid")]
)
def test_aliases(alias, name):
    assert catalog.lookup(alias) is catalog.lookup(name)


def test_kink_masks():
    x = np.array([-1.0, -1e-9, 0.0, 2e-9, 1.0])
    assert catalog.lookup("leaky_relu").kink_mask(1e-6, x, negative_slope=0.2)[0].tolist() == [
        False,
        True,
        True,
        True,
        False,
    ]
    # elu with alpha = 1 is C¹ at 0 (gradient 1 on both sides); alpha = 2 has a kink.
    elu = catalog.lookup("elu").kink_mask
    assert not elu(1e-6, x, alpha=1.0)[0].any()
    assert elu(1e-6, x, alpha=2.0)[0].tolist() == [False, True, True, True, False]
    # prelu: only the input has a kink; the function is linear in the slope.
    mx, mw = catalog.lookup("prelu").kink_mask(1e-6, x.reshape(1, 5), np.array([0.25]))
    assert mx.tolist() == [[False, True, True, True, False]] and mw.tolist() == [False]
    # softplus: the switch at beta·x = threshold, i.e. x = threshold/beta.
    sp = catalog.lookup("softplus").kink_mask
    assert sp(1e-6, np.array([10.0, 10.1]), beta=2.0, threshold=20.0)[0].tolist() == [True, False]
    assert not sp(1e-6, np.array([20.0]), beta=1.0, threshold=math.inf)[0].any()


@pytest.mark.parametrize(
    ("name", "inputs", "params", "needle"),
    [
        ("rrelu", (np.zeros(2),), {"training": True}, "parameters.training"),
        ("rrelu", (np.zeros(2),), {"lower": 0.4, "upper": 0.1}, "lower <= upper"),
        ("prelu", (np.zeros((2, 3)), np.zeros(2)), {}, "input.shape[1] = 3"),
        ("softplus", (np.zeros(2),), {"beta": 0.0}, "parameters.beta"),
        ("celu", (np.zeros(2),), {"alpha": 0.0}, "parameters.alpha"),
    ],
)
def test_messages_name_the_field(name, inputs, params, needle):
    with pytest.raises(InvalidArgumentError) as info:
        catalog.evaluate(name, *inputs, **params)
    assert needle in str(info.value)


def _arguments(name):
    x = np.linspace(-3, 3, 12).reshape(2, 3, 2)
    return (x, np.array([0.25, -0.5, 2.0])) if name == "prelu" else (x,)


@pytest.mark.parametrize("name", sorted(TORCH_DEFAULTS))
def test_vjp_leaves_its_arguments_alone(name):
    spec = catalog.lookup(name)
    inputs = _arguments(name)
    params = dict(TORCH_DEFAULTS[name])
    y = spec.forward(*inputs, **params)
    g = np.full(y.shape, 0.5)
    before = [a.copy() for a in (*inputs, y, g)]
    spec.vjp(g, y, *inputs, **params)
    for a, b in zip((*inputs, y, g), before, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(TORCH_DEFAULTS))
def test_float16_in_float16_out(name):
    inputs = tuple(a.astype(np.float16) for a in _arguments(name))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, grads = catalog.value_and_grad(name, *inputs, **TORCH_DEFAULTS[name])
    assert y.dtype == np.float16 and all(g.dtype == np.float16 for g in grads)


def test_prelu_weight_gradient_keeps_weight_shape_and_dtype():
    x = np.linspace(-2, 2, 24).reshape(2, 3, 4)
    for w in (np.array(0.25), np.array([0.25]), np.array([0.1, 0.2, 0.3], np.float32)):
        _, (dx, dw) = catalog.value_and_grad("prelu", x, w)
        assert dx.shape == x.shape and dw.shape == w.shape and dw.dtype == w.dtype


def test_leaky_relu_zero_slope_is_relu_everywhere():
    x = np.array([-np.inf, -1e300, -1.0, -0.0, 0.0, 2.0, np.inf, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = catalog.evaluate("leaky_relu", x, negative_slope=0.0)
    np.testing.assert_array_equal(got, [0, 0, 0, 0, 0, 2.0, np.inf, np.nan])


# ---------------------------------------------------------------------------
# Large inputs run block by block over threads (registry): the same bits as one call
# ---------------------------------------------------------------------------

_SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e38, -1e38, 88.8, -88.8, -100.0, 1e-40]


def _blocky_input(dtype) -> np.ndarray:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((37, 29)) * 6
    x.flat[::53][: len(_SPECIAL)] = _SPECIAL  # specials in some blocks, not in others
    x.flat[5] = 0.5  # on softshrink's and hardshrink's band edge
    with np.errstate(over="ignore"):  # ±1e38 is ±inf in float16 only: not tested here
        return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "name",
    sorted(n for n in catalog.names() if catalog.lookup(n).elementwise and n != "prelu"),
)
def test_blocks_give_the_same_bits_as_one_call(name, dtype, monkeypatch):
    spec = catalog.lookup(name)
    if spec.kind != "activation":
        pytest.skip("only elementwise activations run in blocks")
    params = {"threshold": 0.1, "value": 2.0} if name == "threshold" else {}
    x = _blocky_input(dtype)
    g = np.random.default_rng(8).standard_normal(x.shape).astype(dtype)
    g.flat[[3, 700]] = [np.inf, np.nan]  # a non-finite upstream gradient in one block
    from nnfunc.catalog import _ops

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y, (d,) = catalog.value_and_grad(name, x, grad_output=g, **params)
            return (
                catalog.evaluate(name, x, **params),
                *catalog.value_and_grad(name, x, **params)[1],
                y,
                d,
            )

    monkeypatch.setattr(spec, "parallel_min_size", None)  # the global threshold decides
    monkeypatch.setattr(_ops, "PARALLEL_MIN_SIZE", 1 << 60)
    whole = run()
    monkeypatch.setattr(_ops, "PARALLEL_MIN_SIZE", 1)
    monkeypatch.setattr(_ops, "BLOCK", 64)  # 17 blocks, uneven last one
    monkeypatch.setattr(_ops, "THREADS", 3)
    blocks = run()
    for a, b in zip(whole, blocks, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()  # bit for bit: signed zeros and NaNs too
