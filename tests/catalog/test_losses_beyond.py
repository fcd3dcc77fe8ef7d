"""Behaviour of the losses beyond torch beyond the generic tests: each framework's
reduction default, the identities that tie these losses to each other and to the torch
losses of the catalog (independent implementations), the frameworks' quirks, and the
quiet arithmetic on rows that are not tame."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from nnfunc.catalog import REGISTRY, evaluate, gradient
from nnfunc.errors import InvalidArgumentError

RNG = np.random.default_rng(11)

KERAS = (
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "categorical_focal_crossentropy",
    "categorical_generalized_cross_entropy",
    "cosine_similarity_loss",
)
OPTAX_UNREDUCED = (
    "log_cosh",
    "multiclass_hinge_loss",
    "perceptron_loss",
    "multiclass_perceptron_loss",
    "poly_loss_cross_entropy",
    "cosine_distance",
    "multiclass_sparsemax_loss",
    "generalized_kl_divergence",
)
SCALAR = ("dice", "tversky", "generalized_dice_loss")
ALL = (*KERAS, *OPTAX_UNREDUCED, *SCALAR, "sigmoid_focal_loss", "ranking_softmax_loss")


def _softmax(v):
    e = np.exp(v - v.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --- metadata: the framework named, its default reduction ----------------------------


@pytest.mark.parametrize("name", ALL)
def test_source_names_the_defining_framework(name):
    spec = REGISTRY[name]
    assert spec.kind == "loss"
    assert spec.source.split(".")[0] in ("keras", "optax", "torchvision"), spec.source


@pytest.mark.parametrize("name", KERAS)
def test_keras_losses_default_to_the_mean_over_samples(name):
    assert REGISTRY[name].param("reduction").default == "mean"


@pytest.mark.parametrize("name", OPTAX_UNREDUCED)
def test_optax_losses_default_to_unreduced(name):
    assert REGISTRY[name].param("reduction").default == "none"


def test_framework_defaults():
    # torchvision: alpha=0.25, gamma=2, reduction='none'; optax: poly epsilon=2.0, ranking
    # mean; keras: tversky alpha = beta = 0.5, GCE class q = 0.5 (ref §2.2)
    focal = REGISTRY["sigmoid_focal_loss"]
    assert [focal.param(p).default for p in ("alpha", "gamma", "reduction")] == [
        0.25,
        2.0,
        "none",
    ]
    assert REGISTRY["poly_loss_cross_entropy"].param("epsilon").default == 2.0
    assert REGISTRY["ranking_softmax_loss"].param("reduction").default == "mean"
    assert REGISTRY["tversky"].param("alpha").default == 0.5
    assert REGISTRY["categorical_generalized_cross_entropy"].param("q").default == 0.5
    assert REGISTRY["cosine_distance"].param("epsilon").default == 0.0
    for name in SCALAR:
        assert "reduction" not in {p.name for p in REGISTRY[name].params}


# --- reductions -----------------------------------------------------------------------


def test_keras_mean_of_no_samples_is_zero_and_optax_nan():
    # ref §0.5: Keras's divide_no_nan gives 0; torch's (and optax's jnp.mean) NaN
    empty = np.zeros((0, 3))
    assert evaluate("hinge", empty, empty) == 0.0
    assert math.isnan(evaluate("log_cosh", empty, empty, reduction="mean"))
    (g,) = gradient("hinge", empty, empty)
    assert g.shape == (0, 3)


@pytest.mark.parametrize("name", ["mean_squared_logarithmic_error", "squared_hinge"])
def test_keras_none_is_the_last_axis_mean_and_mean_is_their_mean(name):
    x = RNG.uniform(0.1, 2, size=(2, 3, 4))
    y = np.sign(RNG.normal(size=(2, 3, 4)))
    per = evaluate(name, x, y, reduction="none")
    assert per.shape == (2, 3)
    assert evaluate(name, x, y) == pytest.approx(per.mean(), rel=1e-12)
    assert evaluate(name, x, y, reduction="sum") == pytest.approx(per.sum(), rel=1e-12)


# --- identities with other catalog entries and with hand formulas --------------------


def test_hinge_converts_only_when_every_label_is_binary():
    x = np.array([[0.3, 0.4]])
    converted = evaluate("hinge", x, np.array([[0.0, 1.0]]))
    explicit = evaluate("hinge", x, np.array([[-1.0, 1.0]]))
    assert converted == explicit == pytest.approx(0.95)
    # one label outside {0, 1}: nothing is converted, y = 0 keeps its hinge of 1
    mixed = evaluate("hinge", np.array([[0.3, 0.4, 0.0]]), np.array([[0.0, 1.0, -1.0]]))
    assert mixed == pytest.approx((1.0 + 0.6 + 1.0) / 3)


def test_categorical_hinge_and_crammer_singer_agree_when_a_wrong_score_is_positive():
    # ref §2.2 #28: they differ only when the true class's 0 wins Keras's max
    s = np.array([[0.5, 2.0, -1.0], [-5.0, -1.0, -3.0]])
    y = np.array([0, 1])
    keras = evaluate("categorical_hinge", s, np.eye(3)[y], reduction="none")
    optax = evaluate("multiclass_hinge_loss", s, y)
    assert keras[0] == optax[0] == pytest.approx(2.5)
    assert (keras[1], optax[1]) == (2.0, 0.0)


def test_sigmoid_focal_loss_without_focusing_is_bce_with_logits():
    x = RNG.normal(size=(3, 4)) * 5
    y = RNG.uniform(size=(3, 4))
    focal = evaluate("sigmoid_focal_loss", x, y, gamma=0.0, alpha=-1.0)
    bce = evaluate("binary_cross_entropy_with_logits", x, y, reduction="none")
    np.testing.assert_allclose(focal, bce, rtol=1e-12)
    (gf,) = gradient("sigmoid_focal_loss", x, y, gamma=0.0, alpha=-1.0)
    (gb,) = gradient("binary_cross_entropy_with_logits", x, y, reduction="none")
    np.testing.assert_allclose(gf, gb, rtol=1e-12, atol=1e-15)


def test_sigmoid_focal_loss_matches_torchvisions_formula():
    # torchvision: ce·(1 − p_t)^γ·α_t with p = σ(x), p_t = p·y + (1 − p)(1 − y)
    x = np.linspace(-6, 6, 13)
    y = np.linspace(0, 1, 13)
    p = 1 / (1 + np.exp(-x))
    ce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    pt = p * y + (1 - p) * (1 - y)
    expected = (0.25 * y + 0.75 * (1 - y)) * ce * (1 - pt) ** 2
    np.testing.assert_allclose(evaluate("sigmoid_focal_loss", x, y), expected, rtol=1e-10)


def test_poly_loss_with_zero_epsilon_is_cross_entropy():
    x = RNG.normal(size=(4, 5))
    y = _softmax(RNG.normal(size=(4, 5)))
    poly = evaluate("poly_loss_cross_entropy", x, y, epsilon=0.0)
    ce = evaluate("cross_entropy", x, y, reduction="none")
    np.testing.assert_allclose(poly, ce, rtol=1e-12)


def test_ranking_softmax_loss_with_distributions_is_cross_entropy():
    x = RNG.normal(size=(3, 4))
    y = _softmax(RNG.normal(size=(3, 4)))
    ranking = evaluate("ranking_softmax_loss", x, y, reduction="none")
    np.testing.assert_allclose(ranking, evaluate("cross_entropy", x, y, reduction="none"), 1e-12)


def test_generalized_kl_is_kl_div_plus_the_mass_difference():
    x = RNG.normal(size=(2, 3))
    y = RNG.uniform(0, 2, size=(2, 3))
    kl = evaluate("kl_div", x, y, reduction="none").sum(axis=-1)
    expected = kl + (np.exp(x) - y).sum(axis=-1)
    np.testing.assert_allclose(evaluate("generalized_kl_divergence", x, y), expected, rtol=1e-12)


def test_tversky_with_halves_is_dice_up_to_epsilon():
    # I + ½Σy(1 − x) + ½Σx(1 − y) = ½(Σy + Σx): Keras's tversky(0.5, 0.5) is
    # 1 − 2I/(Σy + Σx + 2ε), its dice 1 − 2I/(Σy + Σx + ε)
    x = RNG.uniform(size=(2, 5))
    y = (RNG.uniform(size=(2, 5)) > 0.5).astype(float)
    i, total = (x * y).sum(), x.sum() + y.sum()
    assert evaluate("tversky", x, y) == pytest.approx(1 - 2 * i / (total + 2e-7), rel=1e-12)
    assert evaluate("dice", x, y) == pytest.approx(1 - 2 * i / (total + 1e-7), rel=1e-12)
    np.testing.assert_allclose(gradient("tversky", x, y)[0], gradient("dice", x, y)[0], 1e-6)


def test_cosine_distance_is_one_plus_keras_cosine_similarity():
    x, y = RNG.normal(size=(2, 4, 3))
    np.testing.assert_allclose(
        evaluate("cosine_distance", x, y),
        1 + evaluate("cosine_similarity_loss", x, y, reduction="none"),
        rtol=1e-12,
    )


def test_sparsemax_loss_gradient_is_a_distribution_minus_onehot():
    s = RNG.normal(size=(6, 5)) * 3
    t = RNG.integers(0, 5, size=6)
    (g,) = gradient("multiclass_sparsemax_loss", s, t)
    p = g + np.eye(5)[t]
    assert (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    assert (evaluate("multiclass_sparsemax_loss", s, t) >= -1e-15).all()
    # shift invariance (sparsemax and ⟨p, s − s_y⟩ both are)
    np.testing.assert_allclose(
        evaluate("multiclass_sparsemax_loss", s + 1e3, t),
        evaluate("multiclass_sparsemax_loss", s, t),
        atol=1e-10,
    )


def test_categorical_focal_without_focusing_is_clipped_keras_cross_entropy():
    # gamma = 0, alpha = 1: Keras's categorical_crossentropy on renormalised, clipped p
    p = RNG.uniform(0.05, 1, size=(3, 4))
    y = np.eye(4)[[0, 3, 1]]
    o = np.clip(p / p.sum(axis=-1, keepdims=True), 1e-7, 1 - 1e-7)
    expected = -(y * np.log(o)).sum(axis=-1)
    got = evaluate("categorical_focal_crossentropy", p, y, alpha=1.0, gamma=0.0, reduction="none")
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_generalized_dice_weights_rare_classes_up():
    # class 1 is rare (frequency 1 of 4): its error costs more than the same error on 0
    t = np.eye(2)[[0, 0, 0, 1]][None]
    good = np.where(t == 1, 0.9, 0.1)
    miss_rare = good.copy()
    miss_rare[0, 3] = [0.6, 0.4]
    miss_common = good.copy()
    miss_common[0, 0] = [0.4, 0.6]
    kw = {"apply_softmax": False}
    base = evaluate("generalized_dice_loss", good, t, **kw)
    assert evaluate("generalized_dice_loss", miss_rare, t, **kw) - base > (
        evaluate("generalized_dice_loss", miss_common, t, **kw) - base
    )


def test_log_cosh_is_accurate_where_the_naive_formula_is_exact():
    d = np.linspace(-20, 20, 81)
    np.testing.assert_allclose(evaluate("log_cosh", d, np.zeros_like(d)), np.log(np.cosh(d)), 1e-13)


# --- quiet arithmetic -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "target", "params"),
    [
        ("hinge", "pm", {"reduction": "none"}),
        ("categorical_hinge", "onehot", {"reduction": "none"}),
        ("cosine_similarity_loss", "real", {"reduction": "none"}),
        ("cosine_distance", "real", {}),
        ("poly_loss_cross_entropy", "prob", {}),
        ("generalized_kl_divergence", "prob", {}),
        ("mean_absolute_percentage_error", "real", {"reduction": "none"}),
    ],
)
def test_an_extreme_row_does_not_change_the_others(name, target, params):
    x = RNG.normal(size=(3, 4))
    y = {
        "pm": np.sign(RNG.normal(size=(3, 4))),
        "onehot": np.eye(4)[[0, 2, 3]],
        "real": RNG.normal(size=(3, 4)),
        "prob": _softmax(RNG.normal(size=(3, 4))),
    }[target]
    xe = np.vstack([x, [[np.inf, -1e300, np.nan, 1e300]]])
    ye = np.vstack([y, y[:1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain, quiet = evaluate(name, x, y, **params), evaluate(name, xe, ye, **params)
        (gp,), (gq,) = gradient(name, x, y, **params), gradient(name, xe, ye, **params)
    np.testing.assert_allclose(quiet[:3], plain, rtol=1e-12)
    np.testing.assert_allclose(gq[:3], gp, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("shape", [(3, 0), (0,)])
def test_categorical_hinge_refuses_zero_classes(shape):
    """The max over classes has no identity: refused by name, never a crash (fuzzing)."""
    with pytest.raises(InvalidArgumentError) as err:
        evaluate("categorical_hinge", np.zeros(shape), np.zeros(shape))
    assert err.value.field == "inputs[0]"
