"""The ``nnfunc`` command, called as cli.main([...]) against the real in-process server.

Golden values are closed forms worked by hand; JSON output is parsed, human output
is checked for the values it must show.
"""

from __future__ import annotations

import json
import math
import socket

import numpy as np
import pytest

from nnfunc import cli
from nnfunc._types import FunctionInfo, ParameterInfo


@pytest.fixture
def nnfunc_cmd(address, capsys):
    """Runs a command against the test server: (exit status, stdout, stderr)."""

    def run(*argv: str):
        command, *rest = argv
        code = cli.main([command, "--target", address, *rest])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def values(doc: dict) -> list:
    return [float(v) if isinstance(v, str) else v for v in np.ravel(doc["values"])]


# -- list and describe ------------------------------------------------------------------


def test_list(nnfunc_cmd):
    code, out, err = nnfunc_cmd("list")
    assert code == 0 and not err
    rows = [line.split()[:2] for line in out.splitlines()]
    assert ["relu", "activation"] in rows and ["sigmoid", "activation"] in rows


def test_list_json_by_kind(nnfunc_cmd):
    code, out, _ = nnfunc_cmd("list", "--kind", "activation", "--json")
    assert code == 0
    infos = json.loads(out)
    assert {"relu", "softmax"} <= {i["name"] for i in infos}
    assert all(i["kind"] == "activation" for i in infos)
    relu = next(i for i in infos if i["name"] == "relu")
    assert relu["inputs"][0]["name"] == "input" and relu["summary"]


def test_describe(nnfunc_cmd):
    code, out, _ = nnfunc_cmd("describe", "softmax")
    assert code == 0
    assert out.startswith("softmax (activation)")
    assert "formula:" in out and "dim: int, default -1" in out


def test_describe_json(nnfunc_cmd):
    code, out, _ = nnfunc_cmd("describe", "softmax", "--json")
    info = json.loads(out)
    assert code == 0 and info["name"] == "softmax"
    (dim,) = [p for p in info["params"] if p["name"] == "dim"]
    assert dim["type"] == "int" and dim["default"] == -1 and dim["required"] is False


# -- eval, grad, loss, check --------------------------------------------------------------


def test_eval_human(nnfunc_cmd):
    # relu(x) = max(0, x); negative numbers and -inf are values, not options
    code, out, _ = nnfunc_cmd("eval", "relu", "1", "-2", "-inf", "2.5")
    assert code == 0
    assert out.strip() == "[1.0, 0.0, 0.0, 2.5]"


def test_eval_json_keeps_the_dtype(nnfunc_cmd):
    code, out, _ = nnfunc_cmd("eval", "sigmoid", "0,-inf,inf,nan", "--dtype", "float32", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["function"] == "sigmoid"
    y = doc["output"]
    assert y["dtype"] == "float32" and y["shape"] == [4]
    # σ(0) = 1/2, σ(−∞) = 0, σ(∞) = 1, σ(NaN) = NaN (spelled as ProtoJSON does)
    assert y["values"][:3] == [0.5, 0.0, 1.0] and y["values"][3] == "NaN"


def test_eval_json_array_and_parameter(nnfunc_cmd):
    ln3 = repr(math.log(3.0))
    code, out, _ = nnfunc_cmd(
        "eval", "softmax", f"[[0, {ln3}], [2, 2]]", "--param", "dim=1", "--json"
    )
    y = json.loads(out)["output"]
    # softmax of [0, ln 3] = [1, 3] / 4; of equal entries, halves
    assert code == 0 and y["shape"] == [2, 2]
    np.testing.assert_allclose(np.array(y["values"]), [[0.25, 0.75], [0.5, 0.5]])


def test_grad_with_grad_output(nnfunc_cmd):
    # −4 · σ'(0) = −4 · 1/4 = −1, and 2 · σ'(0) = 1/2 (a leading '-' is a value, not a flag)
    code, out, _ = nnfunc_cmd("grad", "sigmoid", "0", "0", "--grad-output", "-4,2", "--json")
    doc = json.loads(out)
    assert code == 0
    assert doc["gradients"]["input"]["values"] == [-1.0, 0.5]
    code, out, _ = nnfunc_cmd("grad", "relu", "-1", "0", "3")
    # catalog-reference §1.1 row 3: relu'(0) = 0 in torch
    assert code == 0 and out.strip() == "d/dinput: [0.0, 0.0, 1.0]"


def test_loss(nnfunc_cmd, client_names):
    if "mse_loss" not in client_names:
        pytest.skip("mse_loss is not registered yet")
    code, out, _ = nnfunc_cmd("loss", "mse_loss", "1,2,3", "--input", "0,2,5", "--json")
    doc = json.loads(out)
    # mean((x − t)²) = 5/3; ∂/∂x = 2 (x − t) / 3
    assert code == 0 and doc["value"]["shape"] == []
    assert doc["value"]["values"] == pytest.approx(5 / 3)
    np.testing.assert_allclose(doc["gradients"]["input"]["values"], [2 / 3, 0.0, -4 / 3])
    code, out, _ = nnfunc_cmd("loss", "mse_loss", "1,3", "-i", "1,1", "-p", "reduction=sum")
    # Σ (x − t)² = 4, ∂/∂x = [0, 4]
    assert code == 0 and out.splitlines() == ["value: 4.0", "d/dinput: [0.0, 4.0]"]


def test_loss_with_class_index_target(nnfunc_cmd, client_names):
    if "cross_entropy" not in client_names:
        pytest.skip("cross_entropy is not registered yet")
    # equal logits over 3 classes: the loss is ln 3 whatever the class (a whole-number
    # target is sent as int64 class indices)
    code, out, _ = nnfunc_cmd("loss", "cross_entropy", "[[0, 0, 0]]", "--input", "2", "--json")
    assert code == 0, out
    assert json.loads(out)["value"]["values"] == pytest.approx(math.log(3.0))


def test_check_passes_and_fails(nnfunc_cmd):
    code, out, _ = nnfunc_cmd("check", "sigmoid", "0.5", "-1", "2")
    assert code == 0 and "PASSED" in out
    # the true gradient σ'(0) = 1/4 is not 1: the check fails and the status says so
    code, out, _ = nnfunc_cmd("check", "sigmoid", "0", "--grad", "1", "--mode", "full", "--json")
    rep = json.loads(out)
    assert code == 1 and rep["passed"] is False and rep["checked_supplied"] is True
    assert rep["inputs"][0]["numerical"] == pytest.approx(0.25, rel=1e-6)


# -- errors -----------------------------------------------------------------------------


def test_unknown_function_is_a_clear_error(nnfunc_cmd):
    code, out, err = nnfunc_cmd("eval", "relux", "1")
    assert code == 1 and not out
    assert "NOT_FOUND" in err and "'relu'" in err and "Traceback" not in err


def test_errors_as_json(nnfunc_cmd):
    code, out, _ = nnfunc_cmd("eval", "softmax", "1,2", "--param", "dim=7", "--json")
    error = json.loads(out)["error"]
    assert code == 1
    assert error["code"] == "INVALID_ARGUMENT" and error["field"] == "parameters.dim"


@pytest.mark.parametrize(
    "argv",
    [
        ("eval", "relu", "abc"),
        ("eval", "relu"),
        ("eval", "relu", "[1, [2]]"),
        ("eval", "relu", "1", "--param", "oops"),
        ("check", "sigmoid", "1", "--eps", "-1"),
    ],
)
def test_bad_values_exit_1_without_a_traceback(nnfunc_cmd, argv):
    code, _, err = nnfunc_cmd(*argv)
    assert code == 1 and "Traceback" not in err and err.startswith("nnfunc: ")


def test_usage_errors_exit_1(capsys):
    assert cli.main([]) == 1
    assert cli.main(["frobnicate"]) == 1
    assert cli.main(["eval", "--dtype", "int8", "relu", "1"]) == 1
    err = capsys.readouterr().err
    assert "usage:" in err and "Traceback" not in err


def test_help_documents_the_input_syntax(capsys):
    assert cli.main(["eval", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--input" in out and "JSON array" in out and "NAME=VALUE" in out


def test_target_from_the_environment(address, monkeypatch, capsys):
    monkeypatch.setenv("NNFUNC_TARGET", address)
    assert cli.main(["eval", "relu", "-3", "4"]) == 0
    assert capsys.readouterr().out.strip() == "[0.0, 4.0]"


def test_an_unreachable_server_is_a_clear_error(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = cli.main(["list", "--target", f"127.0.0.1:{port}", "--timeout", "3"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and f"127.0.0.1:{port}" in err


def test_serve_delegates_to_the_server(capsys):
    assert cli.main(["serve", "--help"]) == 0
    assert "--port" in capsys.readouterr().out


# -- parsing (no server) ----------------------------------------------------------------


def _info(*params: ParameterInfo) -> FunctionInfo:
    return FunctionInfo("f", "loss", "", "", (), params, "", (), (), "", ())


@pytest.mark.parametrize(
    ("text", "param", "expected"),
    [
        ("negative_slope=0.2", ParameterInfo("negative_slope", "float", False, 0.01), 0.2),
        ("negative_slope=1", ParameterInfo("negative_slope", "float", False, 0.01), 1.0),
        ("dim=-1", ParameterInfo("dim", "int", False, -1), -1),
        ("log_target=true", ParameterInfo("log_target", "bool", False, False), True),
        ("log_target=False", ParameterInfo("log_target", "bool", False, False), False),
        ("reduction=sum", ParameterInfo("reduction", "str", False, "mean"), "sum"),
        ("approximate=none", ParameterInfo("approximate", "str", False, "none"), "none"),
        ("beta=inf", ParameterInfo("beta", "float", False, 1.0), math.inf),
        ("weight=null", ParameterInfo("weight", "tensor", False, None), None),
        ("other=3", None, 3),
        ("other=0.5", None, 0.5),
        ("other=yes", None, "yes"),
        ("other=true", None, True),
    ],
)
def test_parse_param_by_type(text, param, expected):
    info = _info(*([param] if param else []))
    name, value = cli.parse_param(text, info, "float64")
    assert name == text.split("=")[0] and value == expected and type(value) is type(expected)


def test_parse_tensor_param():
    info = _info(ParameterInfo("weight", "tensor", False, None))
    _, w = cli.parse_param("weight=1,2,0.5", info, "float32")
    assert w.dtype == np.float32 and w.tolist() == [1.0, 2.0, 0.5]
    _, w = cli.parse_param("weight=[[1, 2]]", info, "float64")
    assert w.shape == (1, 2)
    _, unknown = cli.parse_param("pos=1,2", _info(), "float64")
    assert unknown.tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("tokens", "expected", "whole"),
    [
        (["1", "-2", "3"], [1, -2, 3], True),
        (["1,-2", "3.5"], [1.0, -2.0, 3.5], False),
        ([" -inf", "1e-3"], [-math.inf, 1e-3], False),
        (["[[1, 2], [3, 4]]"], [[1, 2], [3, 4]], True),
    ],
)
def test_parse_values(tokens, expected, whole):
    arr, is_whole = cli.parse_values(tokens, "inputs[0]")
    assert arr.tolist() == expected and is_whole is whole


@pytest.fixture(scope="module")
def client_names(address):
    import nnfunc

    with nnfunc.Client(address) as c:
        return {i.name for i in c.list_functions()}


def test_check_second_order(address, capsys):
    """`nnfunc check tanh 0.3 -1 --order 2` checks the VJP's own VJP."""
    assert cli.main(["check", "tanh", "0.3", "-1", "--order", "2", "--target", address]) == 0
    assert "order 2" in capsys.readouterr().out
