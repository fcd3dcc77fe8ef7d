"""Behaviour of the classification, margin and embedding losses beyond the generic tests:
reductions against each other, torch's output shapes, kink masks, broadcasting, and the
quiet path taken for non-tame inputs (its arithmetic itself: tests/catalog/test_safe.py)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from nnfunc.catalog import evaluate, gradient, lookup
from nnfunc.catalog import losses_classification as L
from nnfunc.errors import InvalidArgumentError

RNG = np.random.default_rng(7)


def _softmax(v):
    e = np.exp(v - v.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --- cross_entropy / nll_loss ---------------------------------------------------------


def test_weighted_smoothing_mean_divides_both_terms_by_sum_of_target_weights():
    # catalog-reference §2.1 #7: (1−ε)·Σ w_y·nll_n / Σw_y + ε/C·Σ_n Σ_c w_c·nlq_nc / Σw_y
    x = RNG.normal(size=(4, 3))
    t = np.array([0, 2, -100, 1])
    w = np.array([0.5, 2.0, 1.5])
    eps = 0.2
    nlq = -np.log(_softmax(x))  # −log q, by hand
    keep = t != -100
    tk = t[keep]
    den = w[tk].sum()
    nll = (w[tk] * nlq[keep, tk]).sum() / den
    smooth = (nlq[keep] * w).sum() / den
    expected = (1 - eps) * nll + eps / 3 * smooth
    got = evaluate("cross_entropy", x, t, weight=w, label_smoothing=eps)
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_sum_is_the_sum_of_none_and_spatial_shapes(name):
    x = RNG.normal(size=(2, 4, 3, 2))
    t = RNG.integers(0, 4, size=(2, 3, 2))
    per = evaluate(name, x, t, reduction="none")
    assert per.shape == (2, 3, 2)
    assert evaluate(name, x, t, reduction="sum") == pytest.approx(per.sum(), rel=1e-12)
    assert evaluate(name, x, t) == pytest.approx(per.mean(), rel=1e-12)


def test_probability_targets_need_not_sum_to_one():
    # catalog-reference §6 #4: not checked; the loss is −Σ y_c log q_c as given
    x = np.array([[1.0, -1.0]])
    y = np.array([[2.0, 3.0]])
    nlq = -np.log(_softmax(x[0]))
    assert evaluate("cross_entropy", x, y) == pytest.approx(2 * nlq[0] + 3 * nlq[1])


def test_probability_targets_accept_a_negative_ignore_index():
    # torch's check is ignore_index < 0 (LossNLL.cpp), not "the default only"
    x, y = np.array([[0.0, 0.0]]), np.array([[0.5, 0.5]])
    assert evaluate("cross_entropy", x, y, ignore_index=-1) == pytest.approx(math.log(2))


def test_float16_is_computed_in_float32_and_returned_in_float16():
    x = np.array([[1.0, 2.0, 3.0]], np.float16)
    y = evaluate("cross_entropy", x, np.array([2]))
    assert y.dtype == np.float16
    assert float(y) == pytest.approx(math.log(1 + math.exp(-1) + math.exp(-2)), rel=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_quiet_path_agrees_with_fast_path_on_finite_rows(dtype, smoothing):
    # One −inf logit in an extra row sends the call down the quiet path; the other rows'
    # losses and gradients must not change.
    x = RNG.normal(size=(5, 4)).astype(dtype)
    t = np.array([0, 3, 1, 2, 0])
    xq = np.concatenate([x, np.array([[-np.inf, 0, 1, 2]], dtype)])
    tq = np.concatenate([t, [1]])
    w = np.array([1.0, 2.0, 0.5, 1.5])
    kw = {"weight": w, "label_smoothing": smoothing, "reduction": "none"}
    assert L._tame_row_max(x, w) is not None and L._tame_row_max(xq, w) is None
    fast = evaluate("cross_entropy", x, t, **kw)
    quiet = evaluate("cross_entropy", xq, tq, **kw)
    np.testing.assert_allclose(quiet[:5], fast, rtol=1e-6 if dtype == np.float32 else 1e-13)
    g = RNG.uniform(-1, 1, 5)
    (gf,) = gradient("cross_entropy", x, t, grad_output=g, **kw)
    (gq,) = gradient("cross_entropy", xq, tq, grad_output=np.append(g, 1.0), **kw)
    np.testing.assert_allclose(gq[:5], gf, rtol=1e-5, atol=1e-6)


def test_huge_logits_do_not_overflow_and_give_the_exact_loss():
    # float64 logits 1e308 apart: x − m overflows to −inf in torch too (q = 0, loss inf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = np.array([[1e308, -1e308, 1e308]])
        assert evaluate("cross_entropy", x, np.array([0])) == pytest.approx(math.log(2))
        assert evaluate("cross_entropy", x, np.array([1])) == math.inf
        (g,) = gradient("cross_entropy", x, np.array([0]))
        np.testing.assert_allclose(g, [[-0.5, 0.0, 0.5]])


# --- margin losses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "x", "t", "shape"),
    [
        ("multi_margin_loss", np.zeros(3), np.array(1), ()),
        ("multi_margin_loss", np.zeros(3), np.array([1]), (1,)),
        ("multi_margin_loss", np.zeros((2, 3)), np.array([1, 0]), (2,)),
        ("multi_margin_loss", np.zeros(()), np.array(0), ()),
        ("multilabel_margin_loss", np.zeros(3), np.array([1, -1, 0]), ()),
        ("multilabel_margin_loss", np.zeros((2, 3)), np.array([[1, -1, 0], [0, 1, 2]]), (2,)),
    ],
)
def test_none_reduction_shapes_follow_torch(name, x, t, shape):
    # torch's kernels: a 1-d target gives (N,) for multi_margin; multilabel's (C) input a 0-d loss
    assert evaluate(name, x, t, reduction="none").shape == shape


def test_multilabel_lists_stop_at_the_first_minus_one():
    x = RNG.normal(size=(1, 5))
    a = evaluate("multilabel_margin_loss", x, np.array([[3, 1, -1, 0, 2]]))
    b = evaluate("multilabel_margin_loss", x, np.array([[3, 1, -1, -1, -1]]))
    assert a == b
    # by hand: targets {3, 1}, others {0, 2, 4}
    expected = sum(max(0.0, 1 - (x[0, j] - x[0, i])) for j in (3, 1) for i in (0, 2, 4)) / 5
    assert a == pytest.approx(expected, rel=1e-12)


def test_multi_margin_nan_score_adds_nothing():
    # torch's kernel tests z > 0, which is false for NaN
    x = np.array([[np.nan, 0.0, 0.0]])
    assert evaluate("multi_margin_loss", x, np.array([1])) == pytest.approx(1 / 3)


def test_kink_masks_mark_every_input_of_the_hinge():
    spec = lookup("margin_ranking_loss")
    x1, x2, y = np.array([1.0, 3.0]), np.array([1.0, 1.0]), np.array([1.0, 1.0])
    m1, m2 = spec.kink_mask(1e-6, x1, x2, y, margin=0.0, reduction="mean")
    assert m1.tolist() == [True, False] and m2.tolist() == [True, False]
    spec = lookup("multi_margin_loss")
    (m,) = spec.kink_mask(
        1e-6,
        np.array([[0.0, 1.0, -5.0]]),
        np.array([1]),
        p=1,
        margin=1.0,
        weight=None,
        reduction="mean",
    )
    assert m.tolist() == [[True, True, False]]  # x_i at z = 0, and x_y, not the far class


# --- embedding losses ------------------------------------------------------------------


def test_triplet_broadcasting_equals_explicit_tiling_and_sums_the_gradient():
    a = RNG.normal(size=(1, 3))
    p, n = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    tiled = np.repeat(a, 4, axis=0)
    kw = {"swap": True, "reduction": "sum"}
    assert evaluate("triplet_margin_loss", a, p, n, **kw) == pytest.approx(
        evaluate("triplet_margin_loss", tiled, p, n, **kw), rel=1e-12
    )
    ga = gradient("triplet_margin_loss", a, p, n, **kw)[0]
    gt = gradient("triplet_margin_loss", tiled, p, n, **kw)[0]
    np.testing.assert_allclose(ga, gt.sum(axis=0, keepdims=True), rtol=1e-12)


def test_triplet_p_norm_by_hand():
    a, p, n = np.array([1.0, -2.0]), np.array([0.0, 0.0]), np.array([3.0, 1.0])
    d = lambda u: (abs(u[0]) ** 3 + abs(u[1]) ** 3) ** (1 / 3)  # noqa: E731
    expected = max(d(a - p) - d(a - n) + 1.0, 0.0)
    got = evaluate("triplet_margin_loss", a, p, n, p=3.0, eps=0.0)
    assert got == pytest.approx(expected, rel=1e-12)


def test_cosine_gradient_scales_back_for_huge_rows():
    # cos is scale-free, so ∂cos/∂x1 at s·x1 is ∂cos/∂x1 at x1 divided by s
    x1, x2, y = np.array([[3.0, 4.0]]), np.array([[1.0, 0.0]]), np.array([1.0])
    s = 2.0**1000
    g_small = gradient("cosine_embedding_loss", x1, x2, y)[0]
    g_huge = gradient("cosine_embedding_loss", x1 * s, x2, y)[0]
    np.testing.assert_allclose(g_huge * s, g_small, rtol=1e-10)


def test_cross_entropy_refuses_zero_classes_with_probability_targets():
    """(N, 0) logits have no class to normalise over: refused by name (found by fuzzing;
    index targets were already refused as out of range)."""
    with pytest.raises(InvalidArgumentError) as err:
        evaluate("cross_entropy", np.zeros((3, 0)), np.zeros((3, 0)))
    assert err.value.field == "inputs[0]"
