"""``nnfunc plot``: pictures through a real server, numbers against closed forms."""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit

from nnfunc import plot
from nnfunc.catalog import REGISTRY
from nnfunc.errors import InvalidArgumentError, NotFoundError

try:
    import matplotlib  # noqa: F401

    HAVE_MATPLOTLIB = True
except ImportError:
    HAVE_MATPLOTLIB = False
needs_matplotlib = pytest.mark.skipif(not HAVE_MATPLOTLIB, reason="needs the 'plot' extra")


@pytest.fixture(scope="module")
def address():
    """A real server, in-process on an ephemeral port (tests/service/conftest.py's way)."""
    from nnfunc.server import Settings, start

    handle = start(Settings(host="127.0.0.1", port=0, log_level="WARNING"))
    yield f"127.0.0.1:{handle.port}"
    handle.stop(grace=1.0)


@pytest.fixture
def service(address):
    from nnfunc.client import Client

    with Client(address, timeout=30.0) as c:
        yield plot.ServiceSource(c)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def drawn_fraction(path: Path) -> float:
    """The fraction of pixels that are not white."""
    from PIL import Image

    with Image.open(path) as img:
        rgb = np.asarray(img.convert("RGB"))
    return float((rgb.min(axis=-1) < 250).mean())


# -- the command ---------------------------------------------------------------------------


@needs_matplotlib
@pytest.mark.parametrize(
    ("names", "extra", "size"),
    [
        (["relu"], ["--derivative"], (1100, 400)),  # 11 × 4 in at 100 dpi
        (["softmax"], [], (640, 400)),  # 6.4 × 4 in
        (["cross_entropy"], ["--derivative", "--dpi", "50"], (550, 200)),
        (["gelu", "silu", "mish"], ["--size", "5", "3", "--range", "-4", "2"], (500, 300)),
        (["dice"], ["--derivative"], (1100, 400)),  # one call per x, in a Batch
    ],
)
def test_plot_writes_a_png_of_the_expected_size(address, tmp_path, capsys, names, extra, size):
    out = tmp_path / "out.png"
    status = plot.main([*names, *extra, "-o", str(out), "--target", address])
    assert status == 0, capsys.readouterr().err
    assert png_size(out) == size
    assert 0.01 < drawn_fraction(out) < 0.5  # curves and text, on a white ground
    assert f"wrote {out}" in capsys.readouterr().out


@needs_matplotlib
def test_plot_writes_svg(address, tmp_path):
    out = tmp_path / "out.svg"
    assert plot.main(["hardtanh", "-d", "-o", str(out), "--target", address]) == 0
    text = out.read_text()
    assert text.startswith("<?xml") and "<svg" in text
    assert "hardtanh(x)" in text  # the title, as text (svg.fonttype none)


@needs_matplotlib
def test_pictures_are_deterministic(tmp_path):
    curve = plot.trace("hardswish", plot.CatalogSource())
    for suffix in (".svg", ".png"):
        a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
        plot.draw([curve], a, derivative=True)
        plot.draw([curve], b, derivative=True)
        assert a.read_bytes() == b.read_bytes()
    assert b"<dc:date>" not in (tmp_path / "a.svg").read_bytes()
    assert b"Software" not in (tmp_path / "a.png").read_bytes()


def test_nnfunc_plot_through_the_cli(address, tmp_path, capsys):
    """`nnfunc plot` as a user types it: the CLI's common options (--target, --json)
    and the plot's own."""
    if not HAVE_MATPLOTLIB:
        pytest.skip("needs the 'plot' extra")
    from nnfunc import cli

    out = tmp_path / "p.png"
    argv = ["plot", "leaky_relu", "elu", "-p", "negative_slope=0.2", "-o", str(out)]
    assert cli.main([*argv, "--json", "--target", address]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pixels"] == [640, 400] and png_size(out) == (640, 400)
    kinks = {f["name"]: f["kinks"] for f in report["functions"]}
    # leaky_relu's kink at 0 with the slope given: gradient negative_slope there (torch;
    # catalog-reference §1.1); elu (alpha = 1) is C¹ at 0, so nothing is marked.
    assert kinks == {"leaky_relu": [[0.0, 0.0, 0.2]], "elu": []}


def test_missing_matplotlib_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    args = argparse.Namespace(names=["relu"])

    def factory(a):
        raise AssertionError("no call without matplotlib")

    assert plot.run(args, factory) == 1
    assert "pip install 'nnfunc[plot]'" in capsys.readouterr().err
    with pytest.raises(ImportError, match=r"nnfunc\[plot\]"):
        plot.draw([], "x.png")


def test_errors_name_the_field(address, tmp_path, capsys):
    out = str(tmp_path / "x.png")
    assert plot.main(["relux", "-o", out, "--target", address]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err
    assert plot.main(["relu", "-p", "alpha=2", "-o", out, "--target", address]) == 1
    assert "parameters.alpha" in capsys.readouterr().err
    assert plot.main(["relu", "--range", "2", "-2", "-o", out, "--target", address]) == 1
    assert "range" in capsys.readouterr().err
    if HAVE_MATPLOTLIB:
        assert plot.main(["relu", "-o", str(tmp_path / "x.jpg"), "--target", address]) == 1
        assert ".png or .svg" in capsys.readouterr().err


def test_unknown_function_in_process():
    with pytest.raises(NotFoundError):
        plot.trace("relux", plot.CatalogSource())
    with pytest.raises(InvalidArgumentError, match="points"):
        plot.trace("relu", plot.CatalogSource(), points=1)
    with pytest.raises(InvalidArgumentError, match="reduction other than 'none'"):
        plot.trace("mse_loss", plot.CatalogSource(), params={"reduction": "mean"})


# -- the numbers: the service's, and right ---------------------------------------------------


@pytest.mark.parametrize(
    "name", ["relu", "softmax", "hardtanh", "dice", "triplet_margin_loss", "cross_entropy", "prelu"]
)
def test_service_and_catalog_give_the_same_curves(service, name):
    """The page is drawn in-process; `nnfunc plot` through the service: same numbers."""
    a = plot.trace(name, service, points=201)
    b = plot.trace(name, plot.CatalogSource(), points=201)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.dy, b.dy)
    assert a.kinks == b.kinks


def test_relu_through_the_service(service):
    c = plot.trace("relu", service, points=101)
    # closed form: max(x, 0), slope 1 for x > 0 and 0 for x <= 0 (torch's relu'(0) = 0,
    # catalog-reference §1.1); the grid -6..6 in 101 points holds 0 itself.
    np.testing.assert_array_equal(c.y, np.maximum(c.x, 0))
    np.testing.assert_array_equal(c.dy, (c.x > 0).astype(float))
    assert c.kinks == (plot.Kink(0.0, 0.0, 0.0),)


def test_softmax_view_is_the_logistic_function(service):
    # softmax([x, 0])[0] = e^x/(e^x + 1) = σ(x); d/dx = σ(x)(1 − σ(x)), by hand
    c = plot.trace("softmax", service)
    s = 1 / (1 + np.exp(-c.x))
    np.testing.assert_allclose(c.y, s, rtol=1e-14)
    np.testing.assert_allclose(c.dy, s * (1 - s), rtol=1e-12, atol=1e-16)
    assert c.shows.startswith("softmax([x, 0])[0]")


def test_cross_entropy_view(service):
    # cross_entropy([x, 0], class 0) = −log σ(x) = log(1 + e^−x); d/dx = −σ(−x), by hand
    c = plot.trace("cross_entropy", service)
    np.testing.assert_allclose(c.y, np.log1p(np.exp(-c.x)), rtol=1e-12)
    np.testing.assert_allclose(c.dy, -expit(-c.x), rtol=1e-12)


def test_dice_one_element_per_call(service):
    # dice([x], [1]) = 1 − 2x/(1 + x + ε), ε = 1e−7 (Keras); d/dx = −2(1 + ε)/(1 + x + ε)²
    c = plot.trace("dice", service, points=41)
    eps = 1e-7
    np.testing.assert_allclose(c.y, 1 - 2 * c.x / (1 + c.x + eps), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(c.dy, -2 * (1 + eps) / (1 + c.x + eps) ** 2, rtol=1e-12)


def test_glu_view_shows_the_gate(service):
    # glu([1, x]) = 1·σ(x); d/dx = σ(x)(1 − σ(x)), by hand
    c = plot.trace("glu", service)
    s = expit(c.x)
    np.testing.assert_allclose(c.y, s, rtol=1e-14)
    np.testing.assert_allclose(c.dy, s * (1 - s), rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize(
    ("name", "params", "kinks"),
    [
        # torch 2.13's values at the kinks, catalog-reference §1.1 (and the specs' kinks)
        ("hardtanh", {}, [(-1.0, -1.0, 0.0), (1.0, 1.0, 0.0)]),
        ("relu6", {}, [(0.0, 0.0, 0.0), (6.0, 6.0, 0.0)]),
        ("hardswish", {}, [(-3.0, 0.0, 0.0), (3.0, 3.0, 1.0)]),
        ("hardshrink", {"lambd": 1.5}, [(-1.5, 0.0, 0.0), (1.5, 0.0, 0.0)]),
        ("threshold", {}, [(1.0, 0.0, 0.0)]),  # the view's threshold=1, value=0
        ("smooth_l1_loss", {"beta": 2.0}, [(-2.0, 1.0, -1.0), (2.0, 1.0, 1.0)]),
        ("huber_loss", {}, [(-1.0, 0.5, -1.0), (1.0, 0.5, 1.0)]),
        # jax's jnp.maximum splits a tie: hinge([1], [1]) has gradient −1/2 (spec, ref §2.2)
        ("hinge", {}, [(1.0, 0.0, -0.5)]),
        ("sparse_sigmoid", {}, [(-1.0, 0.0, 0.25), (1.0, 1.0, 0.25)]),
        # torch's clamp_min passes the full gradient at z = 0: −1 for margin_ranking (y = 1)
        ("margin_ranking_loss", {}, [(0.0, 0.0, -1.0)]),
        ("sigmoid", {}, []),
    ],
)
def test_kinks_are_found_with_the_values_at_them(service, name, params, kinks):
    c = plot.trace(name, service, params=params, x_range=(-6.5, 6.5), points=301)
    assert [(k.x, k.y, k.dy) for k in c.kinks] == kinks


def test_a_kink_off_the_grid_is_still_found_exactly():
    # leaky_relu's kink at 0 on a grid that steps over it
    c = plot.trace("leaky_relu", plot.CatalogSource(), x_range=(-1.0, 2.0), points=10)
    assert c.kinks == (plot.Kink(0.0, 0.0, 0.01),)
    assert 0.0 in c.x


def test_every_function_has_a_view_whose_slope_is_its_derivative():
    """For every registered function, the plotted derivative agrees with central
    differences of the plotted values (away from the marked kinks): the chain rule
    along each view is right, and every function draws."""
    source = plot.CatalogSource()
    bad = {}
    for name in REGISTRY:
        c = plot.trace(name, source, points=2001)
        assert np.isfinite(c.y).all() and np.isfinite(c.dy).all(), name
        x, y, dy = c.x, c.y, c.dy
        fd = (y[2:] - y[:-2]) / (x[2:] - x[:-2])
        mid = dy[1:-1]
        keep = np.ones(fd.size, bool)
        for k in c.kinks:
            keep &= np.abs(x[1:-1] - k.x) > 3 * (x[1] - x[0])
        err = np.abs(fd - mid)[keep] / (1 + np.abs(mid[keep]))
        if np.quantile(err, 0.99) > 2e-3:
            bad[name] = float(np.quantile(err, 0.99))
    assert not bad, bad
