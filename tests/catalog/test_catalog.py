"""Generic tests over the whole catalog, driven by the Cases of tests/catalog/cases_*.py.

Adding a function means adding its spec and its Case; these tests then cover it:
1. completeness: every registered function has a Case and every Case a function;
2. metadata: summary, formula, range, parameter docs, aliases, kinks, VJP;
3. gradient checks (hypothesis) on Case.sample, in float64 and in float32;
4. dtype preservation: float32, float64 and float16 in, the same dtype out;
5. every golden Value, Grad and Raises of every Case;
6. extremes (NaN, ±inf, ±0, huge): forward, VJP and the gradient checker without a
   NumPy warning.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnfunc.catalog import REGISTRY, check_gradient, evaluate, gradient, lookup, value_and_grad
from nnfunc.catalog.spec import REQUIRED
from nnfunc.errors import InvalidArgumentError
from tests.catalog.cases import Case


def _gather() -> tuple[dict[str, Case], list[str]]:
    """CASES of every cases_*.py module; and the names defined by more than one."""
    cases: dict[str, Case] = {}
    twice: list[str] = []
    for path in sorted(Path(__file__).parent.glob("cases_*.py")):
        module = importlib.import_module(f"tests.catalog.{path.stem}")
        for name, case in getattr(module, "CASES", {}).items():
            if name in cases:
                twice.append(f"{name} ({path.stem})")
            cases[name] = case
    return cases, twice


CASES, DUPLICATES = _gather()
NAMES = sorted(set(REGISTRY) | set(CASES))
COVERED = sorted(set(REGISTRY) & set(CASES))  # the ones the behaviour tests can run
DTYPES = (np.float16, np.float32, np.float64)

# The hypothesis tests share the profile's budget (tests/conftest.py): the catalog has
# ~60 functions, so the dtype test draws a third as many samples as the gradient checks.
FEWER = settings(max_examples=max(3, settings.default.max_examples // 3))


def _entries(kind: str) -> list:
    return [
        pytest.param(name, i, entry, id=f"{name}-{kind}{i}")
        for name in COVERED
        for i, entry in enumerate(getattr(CASES[name], kind))
    ]


# ---------------------------------------------------------------------------------
# 1. Completeness
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_function_has_a_case_and_every_case_a_function(name):
    assert name in REGISTRY, f"a Case names {name!r}, which is not a registered function"
    assert name in CASES, f"{name} is registered but has no Case in tests/catalog/cases_*.py"


def test_no_function_has_two_cases():
    assert not DUPLICATES, f"defined again in: {DUPLICATES}"


# ---------------------------------------------------------------------------------
# 2. Metadata
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_metadata_is_complete(name):
    spec = REGISTRY[name]
    assert spec.name == name and spec.kind in ("activation", "loss")
    for attr in ("summary", "formula", "output_range", "source"):
        text = getattr(spec, attr)
        assert isinstance(text, str) and text.strip(), f"{name}: empty {attr}"
        assert "\n" not in text, f"{name}: {attr} is one line"
    assert spec.vjp is not None and callable(spec.vjp), f"{name}: no VJP"
    assert spec.differentiable, f"{name}: no differentiable input"
    assert len({i.name for i in spec.inputs}) == len(spec.inputs), f"{name}: input names repeat"
    assert len({p.name for p in spec.params}) == len(spec.params), f"{name}: param names repeat"
    for p in spec.params:
        assert p.doc.strip(), f"{name}: parameter {p.name} has no doc"
        if p.default is not REQUIRED and p.default is not None and p.kind != "tensor":
            assert p.validate(p.default) == p.default, f"{name}: {p.name}'s default is invalid"
    # Kinks are described exactly when the checker is told where they are.
    assert bool(spec.kinks) == (spec.kink_mask is not None), (
        f"{name}: kinks {spec.kinks!r} but kink_mask {spec.kink_mask!r}: give both or neither"
    )
    assert all(k.strip() for k in spec.kinks + spec.notes)
    assert lookup(name) is spec
    for alias in spec.aliases:
        assert alias != name and lookup(alias) is spec, f"{name}: alias {alias} resolves elsewhere"


# ---------------------------------------------------------------------------------
# 3. Gradient checks on hypothesis samples
# ---------------------------------------------------------------------------------


def _assert_clean(report, sample) -> None:
    assert report.passed, f"{report}\n{sample!r}"
    assert not any(r.skipped for r in report.inputs), f"{report}\n{sample!r}"
    # Case.sample stays inside the domain, so the VJP must be finite there.
    assert not any("analytic gradient is not finite" in n for n in report.notes), str(report)


@pytest.mark.parametrize("name", COVERED)
@given(data=st.data())
def test_gradcheck_float64(name, data):
    sample = data.draw(CASES[name].sample(np.dtype(np.float64)), label="sample")
    report = check_gradient(name, *sample.inputs, parameters=sample.params)
    _assert_clean(report, sample)


@pytest.mark.parametrize("name", COVERED)
@given(data=st.data())
def test_gradcheck_float32(name, data):
    # The analytic side is the float32 VJP under test; the numerical side is float64.
    sample = data.draw(CASES[name].sample(np.dtype(np.float32)), label="sample")
    atol, rtol = CASES[name].float32_tolerance
    report = check_gradient(name, *sample.inputs, atol=atol, rtol=rtol, parameters=sample.params)
    _assert_clean(report, sample)


# ---------------------------------------------------------------------------------
# 4. dtype preservation
# ---------------------------------------------------------------------------------


def _float_dtype(inputs) -> np.dtype:
    real = [np.asarray(a).dtype for a in inputs if np.asarray(a).dtype.kind == "f"]
    return np.result_type(*real) if real else np.dtype(np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", COVERED)
@FEWER
@given(data=st.data())
def test_dtype_is_preserved(name, dtype, data):
    sample = data.draw(CASES[name].sample(np.dtype(dtype)), label="sample")
    assert _float_dtype(sample.inputs) == dtype, "Case.sample must honour the dtype"
    y, grads = value_and_grad(name, *sample.inputs, **sample.params)
    assert y.dtype == dtype
    assert evaluate(name, *sample.inputs, **sample.params).dtype == dtype
    spec = REGISTRY[name]
    diff = [
        np.asarray(x)
        for x, inp in zip(sample.inputs, spec.inputs, strict=True)
        if inp.differentiable
    ]
    assert len(grads) == len(diff)
    for g, x in zip(grads, diff, strict=True):
        assert g.shape == x.shape and g.dtype == x.dtype


# ---------------------------------------------------------------------------------
# 5. Golden values, gradients and errors
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "i", "value"), _entries("values"))
def test_value(name, i, value):
    actual = evaluate(name, *value.inputs, **value.params)
    assert np.shape(actual) == np.shape(value.expected), value.source
    np.testing.assert_allclose(
        actual,
        value.expected,
        rtol=value.rtol,
        atol=value.atol,
        equal_nan=True,
        err_msg=value.source,
    )


@pytest.mark.parametrize(("name", "i", "grad"), _entries("grads"))
def test_grad(name, i, grad):
    actual = gradient(name, *grad.inputs, grad_output=grad.grad_output, **grad.params)
    assert len(actual) == len(grad.expected), (
        f"one gradient per differentiable input: {grad.source}"
    )
    for k, (a, e) in enumerate(zip(actual, grad.expected, strict=True)):
        assert np.shape(a) == np.shape(e), f"gradient {k}: {grad.source}"
        np.testing.assert_allclose(
            a,
            e,
            rtol=grad.rtol,
            atol=grad.atol,
            equal_nan=True,
            err_msg=f"gradient {k}: {grad.source}",
        )


@pytest.mark.parametrize(("name", "i", "raises"), _entries("errors"))
def test_raises(name, i, raises):
    for call in (evaluate, gradient):
        with pytest.raises(InvalidArgumentError) as exc:
            call(name, *raises.inputs, **raises.params)
        assert exc.value.field == raises.field, f"{call.__name__}: {exc.value} ({raises.why})"
        assert raises.field in str(exc.value), f"the message names the field: {exc.value}"


# ---------------------------------------------------------------------------------
# 6. Extremes
# ---------------------------------------------------------------------------------


def _cast(x, dtype):
    """A float input in ``dtype``, out-of-range magnitudes as ±inf (no cast warning)."""
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        return x
    big = np.abs(arr) > np.finfo(dtype).max
    return np.where(big, np.copysign(np.inf, arr), arr).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(("name", "i", "sample"), _entries("extremes"))
def test_extremes_do_not_warn(name, i, sample, dtype):
    inputs = tuple(_cast(x, dtype) for x in sample.inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any NumPy warning fails, not only RuntimeWarning
        y, grads = value_and_grad(name, *inputs, **sample.params)
        reference = evaluate(name, *sample.inputs, **sample.params)
        if dtype == np.float64:  # the checker (kink mask, perturbed forwards) too
            for mode in ("full", "fast"):
                check_gradient(name, *inputs, mode=mode, parameters=sample.params)
    assert y.dtype == _float_dtype(inputs)
    assert y.shape == reference.shape
    spec = REGISTRY[name]
    diff = [np.asarray(x) for x, inp in zip(inputs, spec.inputs, strict=True) if inp.differentiable]
    for g, x in zip(grads, diff, strict=True):
        assert g.shape == x.shape and g.dtype == x.dtype
