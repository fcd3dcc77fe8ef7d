"""``nnfunc loadtest`` against the in-process server: short bounded runs whose report
must have its structure and counts that add up. No timing is asserted anywhere."""

from __future__ import annotations

import json
import math

import numpy as np

from nnfunc import cli, loadtest
from nnfunc.loadtest import Config, WorkloadSpec

LATENCY_KEYS = {"min", "mean", "stddev", "p50", "p90", "p95", "p99", "p99.9", "max"}


def _run_json(capsys, *argv: str) -> tuple[int, dict]:
    status = loadtest.main([*argv, "--json", "--no-progress"])
    out = capsys.readouterr().out
    return status, json.loads(out)


def _check_level(level: dict, count: int | None = None) -> None:
    """The invariants every level of a report keeps."""
    assert level["count"] == level["ok"] + level["errors"]
    assert sum(level["status"].values()) == level["count"]
    assert level["status"].get("OK", 0) == level["ok"]
    assert sum(h["count"] for h in level["histogram"]) == level["ok"]
    assert sum(level["workloads"].values()) == level["count"]
    assert sum(e["count"] for e in level["top_errors"]) <= level["errors"]
    assert set(level["latency_ms"]) == LATENCY_KEYS
    if level["ok"]:
        lat = level["latency_ms"]
        assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"]
        assert lat["p99"] <= lat["p99.9"] <= lat["max"] and lat["min"] <= lat["mean"] <= lat["max"]
        bounds = [h["le_ms"] for h in level["histogram"]]
        assert bounds == sorted(bounds)
    th = level["throughput"]
    assert set(th) >= {"calls_per_s", "elements_per_s", "mb_per_s"}
    assert math.isclose(th["mb_per_s"], th["mb_sent_per_s"] + th["mb_received_per_s"])
    assert set(level["client_cpu"]) == {"user_s", "system_s", "cores"}
    if count is not None:
        assert level["count"] == count


def test_a_closed_loop_sweep_reports_one_level_per_concurrency(capsys, address):
    status, rep = _run_json(
        capsys,
        "--target", address,
        "--function", "relu",
        "--shape", "4x8",
        "--concurrency", "1,4",
        "--requests", "40",
        "--warmup", "0",
        "--verify", "0.25",
    )  # fmt: skip
    assert status == 0 and rep["passed"] and rep["thresholds"] == []
    assert [lv["level"] for lv in rep["levels"]] == ["c=1", "c=4"]
    assert [lv["concurrency"] for lv in rep["levels"]] == [1, 4]
    for lv in rep["levels"]:
        _check_level(lv, count=40)
        assert lv["ok"] == 40 and lv["errors"] == 0
        assert lv["workloads"] == {"Evaluate relu 4x8 float32": 40}
        assert lv["verify"] == {"checked": 10, "mismatches": 0}
        assert lv["throughput"]["elements_per_s"] > 0
    assert rep["config"]["mode"] == "closed" and rep["config"]["requests"] == 40


def test_an_open_loop_counts_every_call_it_meant_to_send(capsys, address):
    status, rep = _run_json(
        capsys,
        "--target", address,
        "--rpc", "gradient",
        "--function", "softmax",
        "--shape", "3x5",
        "--param", "dim=-1",
        "--rate", "400",
        "--arrivals", "poisson",
        "--requests", "30",
        "--warmup", "0",
        "--verify", "1",
    )  # fmt: skip
    assert status == 0
    (lv,) = rep["levels"]
    assert lv["level"] == "rate=400/s" and lv["rate"] == 400 and lv["concurrency"] is None
    _check_level(lv, count=30)
    assert lv["verify"] == {"checked": 30, "mismatches": 0}
    assert rep["config"]["arrivals"] == "poisson"


def test_errors_are_counted_by_status_with_their_messages(capsys, address):
    # threshold needs its parameters: every call fails INVALID_ARGUMENT
    status, rep = _run_json(
        capsys, "--target", address, "-f", "threshold", "-n", "12", "--warmup", "0",
        "--fail-if", "errors>0",
    )  # fmt: skip
    assert status == 1 and not rep["passed"]
    (lv,) = rep["levels"]
    _check_level(lv, count=12)
    assert lv["status"] == {"INVALID_ARGUMENT": 12} and lv["ok"] == 0
    (top,) = lv["top_errors"]
    assert top["code"] == "INVALID_ARGUMENT" and top["count"] == 12
    assert "threshold" in top["message"]
    assert lv["histogram"] == [] and lv["latency_ms"]["p50"] is None
    assert rep["thresholds"] == [
        {"threshold": "errors>0", "level": "c=1", "actual": 12, "failed": True}
    ]


def test_fail_if_passes_and_fails_on_counts(capsys, address):
    args = ["--target", address, "-n", "10", "--warmup", "0", "--no-progress"]
    assert loadtest.main([*args, "--fail-if", "errors>0,error_rate>1%"]) == 0
    assert "passed: error_rate>1%, errors>0" in capsys.readouterr().out
    assert loadtest.main([*args, "--fail-if", "count<11"]) == 1
    assert "FAILED count<11 at c=1" in capsys.readouterr().out


def test_a_weighted_mix_from_a_toml_file(capsys, address, tmp_path):
    mix = tmp_path / "mix.toml"
    mix.write_text(
        "[[call]]\nfunction = 'relu'\nshape = [8]\nweight = 3\n\n"
        "[[call]]\nrpc = 'loss'\nfunction = 'cross_entropy'\nshape = '6x10'\n"
        "params = { label_smoothing = 0.1 }\n\n"
        "[[call]]\nrpc = 'evaluate'\nfunction = 'tanh'\nshape = [5]\ndtype = 'float64'\n"
        "encoding = 'typed'\nweight = 2\n"
    )
    status, rep = _run_json(
        capsys, "--target", address, "--mix", str(mix), "-c", "3", "-n", "60", "--warmup", "0",
        "--verify", "1", "--connections", "2",
    )  # fmt: skip
    assert status == 0
    (lv,) = rep["levels"]
    _check_level(lv, count=60)
    assert set(lv["workloads"]) <= set(rep["config"]["workloads"])
    assert rep["config"]["weights"] == [3, 1, 2]
    assert lv["verify"] == {"checked": 60, "mismatches": 0}


def test_csv_has_one_row_per_level(capsys, address):
    status = loadtest.main(
        ["--target", address, "-c", "1,2", "-n", "6", "--warmup", "0", "--csv", "--no-progress"]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert status == 0 and len(lines) == 3
    assert lines[0].split(",") == loadtest.CSV_FIELDS
    assert [row.split(",")[0] for row in lines[1:]] == ["c=1", "c=2"]


def test_the_text_report_and_the_cli_subcommand(capsys, address):
    status = cli.main(["loadtest", "--target", address, "-n", "20", "--warmup", "0"])
    out = capsys.readouterr().out
    assert status == 0
    assert "workload: Evaluate relu 8 float32" in out and "c=1" in out
    assert "latency histogram" in out and "p99.9" in out


def test_several_client_processes_split_the_requests(address):
    cfg = Config(
        target=[address, address],  # a list: balanced round robin
        workloads=[WorkloadSpec(function="sigmoid", shape=(16,))],
        concurrency=[3],
        duration=None,
        requests=25,
        warmup=0.0,
        procs=2,
    )
    ((c, r, res),) = loadtest.run(cfg)
    lv = loadtest.summarize(c, r, res)
    _check_level(lv, count=25)
    assert lv["ok"] == 25


def test_a_duration_bounded_level_with_warmup(address):
    cfg = Config(
        target=address,
        workloads=[WorkloadSpec(function="relu", shape=(4,))],
        concurrency=[2],
        duration=0.3,
        warmup=0.1,
    )
    ((c, r, res),) = loadtest.run(cfg)
    lv = loadtest.summarize(c, r, res)
    _check_level(lv)
    assert lv["ok"] > 0 and lv["errors"] == 0


def test_an_unknown_function_stops_the_run_with_a_clear_message(capsys, address):
    assert loadtest.main(["--target", address, "-f", "nope", "-n", "1", "--no-progress"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err


def test_bad_arguments_are_refused(capsys):
    for argv in (
        ["--concurrency", "0"],
        ["--fail-if", "p99>>3"],
        ["--fail-if", "latency>1"],
        ["--verify", "2"],
        ["--input", "gaussian"],
        ["--duration", "soon"],
    ):
        assert loadtest.main([*argv, "-n", "1", "--target", "127.0.0.1:1"]) == 1, argv
        assert "nnfunc loadtest:" in capsys.readouterr().err


# -- the parts ---------------------------------------------------------------------------


def test_parsers():
    assert loadtest.parse_duration("500ms") == 0.5
    assert loadtest.parse_duration("2m") == 120 and loadtest.parse_duration("1.5") == 1.5
    assert loadtest.parse_shape("4096x1000") == (4096, 1000)
    assert loadtest.parse_shape("1M") == (1 << 20,) and loadtest.parse_shape("") == ()
    assert loadtest.parse_levels("1,8,32") == [1, 8, 32]
    p99, errors, rate = loadtest.parse_thresholds("p99>50ms, errors>0,error_rate>=2%")
    assert (p99.metric, p99.op, p99.value) == ("p99", ">", 0.05)
    assert (errors.metric, errors.value) == ("errors", 0)
    assert (rate.op, rate.value) == (">=", 0.02)
    assert loadtest.parse_thresholds("max<=2s")[0].value == 2.0


def test_input_generators_are_seeded_and_shaped():
    spec = WorkloadSpec(function="cross_entropy", rpc="loss", shape=(6, 10))
    a = loadtest.build_inputs(spec, "cross_entropy", 2, np.random.default_rng(5))
    b = loadtest.build_inputs(spec, "cross_entropy", 2, np.random.default_rng(5))
    assert a[0].shape == (6, 10) and a[0].dtype == np.float32
    assert a[1].shape == (6,) and a[1].dtype == np.int64 and a[1].min() >= 0 and a[1].max() < 10
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    rng = np.random.default_rng(0)
    probs = loadtest.Gen.parse("probs").make(rng, (4, 7), np.float64)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0)
    signs = loadtest.Gen.parse("signs@rows").make(rng, (4, 7), np.float32)
    assert signs.shape == (4,) and set(np.unique(signs)) <= {-1.0, 1.0}
    assert loadtest.Gen.parse("uniform:2,3@5x2").make(rng, (1,), np.float32).shape == (5, 2)


TORCH_LOSSES = {
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cosine_embedding_loss",
    "cross_entropy", "gaussian_nll_loss", "hinge_embedding_loss", "huber_loss", "kl_div",
    "l1_loss", "margin_ranking_loss", "mse_loss", "multi_margin_loss",
    "multilabel_margin_loss", "multilabel_soft_margin_loss", "nll_loss", "poisson_nll_loss",
    "smooth_l1_loss", "soft_margin_loss", "triplet_margin_loss",
}  # fmt: skip


def test_default_inputs_fit_every_activation_and_torch_loss():
    from nnfunc import catalog

    for name in catalog.names():
        spec = catalog.lookup(name)
        if spec.kind == "loss" and name not in TORCH_LOSSES:
            continue  # other losses may need data of their own: --input says what
        if name != "threshold" and any(p.default is catalog.REQUIRED for p in spec.params):
            continue  # --param gives what only the caller knows
        work = WorkloadSpec(function=name, shape=(4, 6))
        index = [i.kind == "index" for i in spec.inputs]
        rng = np.random.default_rng(0)
        inputs = loadtest.build_inputs(work, name, len(spec.inputs), rng, index)
        params = {"threshold": 0.1, "value": 2.0} if name == "threshold" else {}
        catalog.evaluate(name, *inputs, **params)  # raises if the defaults do not fit
