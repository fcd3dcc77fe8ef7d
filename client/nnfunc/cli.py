"""The ``nnfunc`` command: run the server, or call it from a shell.

    nnfunc serve --port 50051
    nnfunc list
    nnfunc describe swish
    nnfunc eval leaky_relu 1 -2 3 --param negative_slope=0.2 --dtype float32
    nnfunc grad softmax '[[1, 2], [3, 4]]' --param dim=1
    nnfunc loss cross_entropy '[[2, 0, -1]]' --input 0
    nnfunc check gelu 0.5,-1,2 --param approximate=tanh --json
    nnfunc loadtest --function relu --shape 8 --concurrency 1,8,32 --duration 5s

Exit status: 0 on success, 1 on any error (a usage error, a failed call, a failed
gradient check); the message goes to stderr, or to stdout as JSON with --json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from nnfunc import plot
from nnfunc._channel import DEFAULT_TARGET
from nnfunc._types import CheckReport, FunctionInfo, InputInfo
from nnfunc.errors import Error, InvalidArgumentError

_INPUTS_HELP = """\
inputs:
  The values after NAME form the first input: numbers separated by spaces or
  commas (1 -2 3, or 1,-2,3), or one JSON array for more dimensions
  ('[[1, 2], [3, 4]]'). inf, -inf and nan are numbers. Each --input VALUES adds
  the next input, in the function's order (a loss's target):
      nnfunc loss mse_loss 1,2,3 --input 0,2,4
      nnfunc loss cross_entropy '[[2, 0, -1], [0, 1, 0]]' --input 0,1
  Whole numbers given to an index input (a class-index target) are sent as int64;
  every other input, and every tensor parameter, as --dtype (float64 by default).

parameters:
  --param NAME=VALUE, repeatable: true/false, a number, a string, or comma-
  separated numbers / a JSON array for a tensor parameter (weight, pos_weight);
  the function's description (nnfunc describe NAME) gives the types.
"""

_COMMON_HELP = f"the server, host:port (env NNFUNC_TARGET, default {DEFAULT_TARGET})"

# A number, a comma list of numbers, or a JSON array: never an option, even with a '-'.
_NUMBER = re.compile(
    r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|infinity|nan)$", re.I
)
_INT = re.compile(r"^[+-]?\d+$")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # exit status 1, not argparse's 2
        raise _UsageError(f"{self.prog}: error: {message}\n{self.format_usage().rstrip()}")


def _looks_numeric(token: str) -> bool:
    parts = [p for p in token.split(",") if p.strip()]
    return bool(parts) and all(_NUMBER.match(p.strip()) for p in parts)


def _protect_negatives(argv: Sequence[str]) -> list[str]:
    """argparse reads "-inf" or "-1e-3" as options: a leading space makes them values
    (``float`` ignores it)."""
    return [f" {a}" if a.startswith("-") and _looks_numeric(a) else a for a in argv]


# -- values -----------------------------------------------------------------------------


def parse_values(tokens: Sequence[str], where: str) -> tuple[np.ndarray, bool]:
    """(array, whether every value was written as a whole number) of CLI tokens."""
    text = " ".join(t.strip() for t in tokens).strip()
    if text.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidArgumentError(f"{where}: not a JSON array ({exc})", field=where) from None
        try:
            arr = np.array(data)
        except ValueError as exc:  # ragged nesting
            raise InvalidArgumentError(f"{where}: {exc}", field=where) from None
        if arr.dtype.kind not in "iuf" and arr.size:
            raise InvalidArgumentError(f"{where}: expected numbers, got {text}", field=where)
        return arr, arr.dtype.kind in "iu"
    parts = [p for t in tokens for p in t.replace(",", " ").split()]
    if not parts:
        raise InvalidArgumentError(f"{where}: no values given", field=where)
    bad = [p for p in parts if not _NUMBER.match(p)]
    if bad:
        raise InvalidArgumentError(f"{where}: {bad[0]!r} is not a number", field=where)
    if all(_INT.match(p) for p in parts):
        return np.array([int(p) for p in parts], dtype=np.int64), True
    return np.array([float(p) for p in parts], dtype=np.float64), False


def _input_array(tokens: Sequence[str], k: int, info: InputInfo | None, dtype: str) -> np.ndarray:
    arr, whole = parse_values(tokens, f"inputs[{k}]")
    index = info is not None and not info.differentiable and "int64" in info.dtypes
    if index and (whole or set(info.dtypes) == {"int64"}):  # type: ignore[union-attr]
        return arr.astype(np.int64) if whole else arr
    return arr.astype(dtype)


def parse_param(text: str, info: FunctionInfo, dtype: str) -> tuple[str, Any]:
    """NAME=VALUE as (name, value), typed by the function's description."""
    name, sep, raw = text.partition("=")
    name, raw = name.strip(), raw.strip()
    if not sep or not name:
        raise InvalidArgumentError(f"--param {text!r}: expected NAME=VALUE", field="parameters")
    where = f"parameters.{name}"
    kind = next((p.type for p in info.params if p.name == name), None)
    low = raw.lower()
    if kind == "str":  # before None: 'none' is a choice of reduction and approximate
        return name, raw
    if low in ("none", "null"):
        return name, None
    if kind == "bool" or (kind is None and low in ("true", "false")):
        if low in ("true", "1", "yes"):
            return name, True
        if low in ("false", "0", "no"):
            return name, False
        raise InvalidArgumentError(f"{where}: expected true or false, got {raw!r}", field=where)
    if kind == "tensor" or (kind is None and ("," in raw or raw.startswith("["))):
        return name, parse_values([raw], where)[0].astype(dtype)
    if kind in ("int", "float") or (kind is None and _NUMBER.match(raw)):
        if not _NUMBER.match(raw):
            raise InvalidArgumentError(f"{where}: expected a number, got {raw!r}", field=where)
        if kind == "int" or (kind is None and _INT.match(raw)):
            if not _INT.match(raw):
                raise InvalidArgumentError(f"{where}: expected an int, got {raw!r}", field=where)
            return name, int(raw)
        return name, float(raw)
    return name, raw


# -- output -----------------------------------------------------------------------------


def _json_number(x: float) -> float | str:
    # JSON has no NaN or infinities: spell them as ProtoJSON does
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return {
            "dtype": obj.dtype.name,
            "shape": list(obj.shape),
            "values": _jsonable(obj.tolist()),
        }
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return _json_number(float(obj))
    if isinstance(obj, np.integer | np.bool_):
        return obj.item()
    return obj


def _emit_json(obj: Any) -> None:
    print(json.dumps(_jsonable(obj), indent=2, allow_nan=False))


def _fmt(arr: np.ndarray) -> str:
    # str of a NumPy scalar: the shortest digits that read back to the same value in
    # the array's own dtype (0.1 in float32 prints 0.1, not 0.10000000149011612)
    return np.array2string(
        arr,
        separator=", ",
        threshold=1000,
        max_line_width=100,
        formatter={"float_kind": str},
    )


def _describe_text(info: FunctionInfo) -> str:
    lines = [
        f"{info.name} ({info.kind})"
        + (f", aliases: {', '.join(info.aliases)}" if info.aliases else "")
    ]
    lines.append(f"  {info.summary}")
    lines.append(f"  formula:       {info.formula}")
    if info.output_range:
        lines.append(f"  output range:  {info.output_range}")
    lines.append("  inputs:")
    for i in info.inputs:
        grad = "differentiable" if i.differentiable else "not differentiable"
        desc = f"  {i.description}" if i.description else ""
        lines.append(f"    {i.name}: {grad}, {' | '.join(i.dtypes)}{desc}")
    if info.params:
        lines.append("  parameters:")
        for p in info.params:
            default = "required" if p.required else f"default {_param_text(p.default)}"
            allowed = f", {p.allowed}" if p.allowed and p.allowed != "any" else ""
            desc = f"  {p.description}" if p.description else ""
            lines.append(f"    {p.name}: {p.type}, {default}{allowed}{desc}")
    for k in info.kinks:
        lines.append(f"  kink: {k}")
    for n in info.notes:
        lines.append(f"  note: {n}")
    if info.source:
        lines.append(f"  source: {info.source}")
    return "\n".join(lines)


def _param_text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return _fmt(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "None" if value is None else repr(value)


def _check_text(rep: CheckReport) -> str:
    verdict = "PASSED" if rep.passed else "FAILED"
    whose = "the given gradient" if rep.checked_supplied else "the catalog's gradient"
    lines = [
        f"check {rep.function} ({whose}): {verdict}  "
        f"[order {rep.order}, mode {rep.mode}, eps {rep.eps:g}, atol {rep.atol:g}, "
        f"rtol {rep.rtol:g}]"
    ]
    for i in rep.inputs:
        if i.skipped:
            lines.append(f"  {i.name}: skipped ({i.skipped})")
            continue
        where = f" at {list(i.worst_index)}" if i.worst_index is not None else ""
        state = "passed" if i.passed else "FAILED"
        lines.append(
            f"  {i.name}: {state}  max abs error {i.max_abs_error:.3g}, "
            f"max rel error {i.max_rel_error:.3g}; worst{where}: analytic {i.analytic:.17g}, "
            f"numerical {i.numerical:.17g}; {i.checked_elements} checked, "
            f"{i.kink_elements} near a kink"
        )
    lines.extend(f"  note: {n}" for n in rep.notes)
    return "\n".join(lines)


# -- commands ---------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> Any:
    from nnfunc.client import Client

    return Client(args.target, timeout=args.timeout, root_certificates=args.root_certificates)


def _inputs(args: argparse.Namespace, info: FunctionInfo) -> list[np.ndarray]:
    groups = ([args.values] if args.values else []) + [[g] for g in args.input]
    if not groups:
        raise InvalidArgumentError(
            f"inputs: give {info.name}'s input values after its name (see --help)", field="inputs"
        )
    return [
        _input_array(tokens, k, info.inputs[k] if k < len(info.inputs) else None, args.dtype)
        for k, tokens in enumerate(groups)
    ]


def _params(args: argparse.Namespace, info: FunctionInfo) -> dict[str, Any]:
    return dict(parse_param(p, info, args.dtype) for p in args.param)


def _cmd_list(args: argparse.Namespace) -> int:
    with _client(args) as c:
        infos = c.list_functions(args.kind)
    if args.json:
        _emit_json(infos)
        return 0
    width = max((len(i.name) for i in infos), default=0)
    for i in infos:
        print(f"{i.name:<{width}}  {i.kind:<10}  {i.summary}")
    return 0


def _cmd_describe(args: argparse.Namespace) -> int:
    with _client(args) as c:
        info = c.describe(args.name)
    if args.json:
        _emit_json(info)
    else:
        print(_describe_text(info))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    with _client(args) as c:
        info = c.describe(args.name)
        y = c.evaluate(info.name, *_inputs(args, info), **_params(args, info))
    if args.json:
        _emit_json({"function": info.name, "output": y})
    else:
        print(_fmt(y))
    return 0


def _cmd_grad(args: argparse.Namespace) -> int:
    with _client(args) as c:
        info = c.describe(args.name)
        g = parse_values(args.grad_output, "grad_output")[0] if args.grad_output else None
        grads = c.gradient(info.name, *_inputs(args, info), grad_output=g, **_params(args, info))
    grads = grads if isinstance(grads, tuple) else (grads,)
    named = dict(zip(info.differentiable, grads, strict=False))
    if args.json:
        _emit_json({"function": info.name, "gradients": named})
    else:
        for name, grad in named.items():
            print(f"d/d{name}: {_fmt(grad)}")
    return 0


def _cmd_loss(args: argparse.Namespace) -> int:
    with _client(args) as c:
        info = c.describe(args.name)
        r = c.loss(info.name, *_inputs(args, info), **_params(args, info))
    named = dict(zip(r.input_names, r.grads, strict=False))
    if args.json:
        _emit_json({"function": info.name, "value": r.value, "gradients": named})
    else:
        print(f"value: {_fmt(r.value)}")
        for name, grad in named.items():
            print(f"d/d{name}: {_fmt(grad)}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    with _client(args) as c:
        info = c.describe(args.name)
        inputs = _inputs(args, info)
        grads = tuple(
            parse_values([g], f"gradients[{k}]")[0].astype(args.dtype)
            for k, g in enumerate(args.grad)
        )
        g_out = parse_values(args.grad_output, "grad_output")[0] if args.grad_output else None
        rep = c.check_gradient(
            info.name,
            *inputs,
            grad=grads or None,
            grad_output=g_out,
            eps=args.eps,
            atol=args.atol,
            rtol=args.rtol,
            mode=args.mode,
            seed=args.seed,
            order=args.order,
            parameters=_params(args, info),  # gaussian_nll_loss's eps is not the step
        )
    if args.json:
        _emit_json(rep)
    else:
        print(_check_text(rep))
    return 0 if rep.passed else 1


def build_parser() -> argparse.ArgumentParser:
    from nnfunc import __version__

    parser = _Parser(
        prog="nnfunc",
        description="Activation and loss functions, their exact gradients and gradient "
        "checks: run the server, or call it.",
        epilog="Exit status: 0 on success, 1 on any error or failed check.",
    )
    parser.add_argument("--version", action="version", version=f"nnfunc {__version__}")
    common = _Parser(add_help=False)
    common.add_argument(
        "--target", default=os.environ.get("NNFUNC_TARGET") or DEFAULT_TARGET, help=_COMMON_HELP
    )
    common.add_argument("--timeout", type=float, default=30.0, help="deadline in seconds (30)")
    common.add_argument(
        "--root-certificates", metavar="PEM", help="use TLS, trusting these root certificates"
    )
    common.add_argument("--json", action="store_true", help="print JSON (for scripts)")

    calls = _Parser(add_help=False)
    calls.add_argument("name", help="a function name or alias")
    calls.add_argument("values", nargs="*", metavar="VALUE", help="the first input's values")
    calls.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="VALUES",
        help="the next input's values (repeat per input)",
    )
    calls.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter (repeatable)",
    )
    calls.add_argument(
        "--dtype",
        default="float64",
        choices=["float16", "float32", "float64"],
        help="the dtype of real inputs (float64)",
    )

    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    sub.add_parser("serve", help="run the server (nnfunc serve --help lists its flags)")
    sub.add_parser("loadtest", help="load-test a server (nnfunc loadtest --help lists its flags)")
    p = sub.add_parser("list", parents=[common], help="list the functions")
    p.add_argument("--kind", choices=["activation", "loss"], help="only this kind")
    p.set_defaults(run=_cmd_list)
    p = sub.add_parser("describe", parents=[common], help="describe one function")
    p.add_argument("name", help="a function name or alias")
    p.set_defaults(run=_cmd_describe)
    p = sub.add_parser("plot", parents=[common], help="plot functions and their derivatives")
    plot.add_arguments(p)
    p.set_defaults(run=lambda a: plot.run(a, _client))
    formatter = argparse.RawDescriptionHelpFormatter
    for name, run, text in (
        ("eval", _cmd_eval, "evaluate a function"),
        ("grad", _cmd_grad, "the gradient (vector-Jacobian product) of a function"),
        ("loss", _cmd_loss, "a loss's value and its gradients"),
        ("check", _cmd_check, "check a gradient against central differences"),
    ):
        p = sub.add_parser(
            name,
            parents=[common, calls],
            help=text,
            description=text,
            epilog=_INPUTS_HELP,
            formatter_class=formatter,
        )
        p.set_defaults(run=run)
        if name in ("grad", "check"):
            p.add_argument(
                "--grad-output",
                metavar="VALUES",
                nargs="+",
                help="the upstream gradient (ones by default)",
            )
    p = sub.choices["check"]
    p.add_argument(
        "--grad",
        action="append",
        default=[],
        metavar="VALUES",
        help="check this gradient instead of the catalog's (one per differentiable input)",
    )
    p.add_argument("--eps", type=float, help="finite-difference step (1e-6)")
    p.add_argument("--atol", type=float, help="absolute tolerance (1e-5)")
    p.add_argument("--rtol", type=float, help="relative tolerance (1e-3)")
    p.add_argument("--mode", choices=["auto", "full", "fast"], default="auto")
    p.add_argument("--seed", type=int, default=0, help="seed of the fast mode's directions")
    p.add_argument(
        "--order", type=int, choices=[1, 2], default=1, help="2: check the VJP's own VJP"
    )
    return parser


def _report(exc: Exception, as_json: bool) -> None:
    if isinstance(exc, Error):
        code, message, field = exc.code, exc.message, exc.field
    else:
        code, message, field = "INVALID_ARGUMENT", str(exc), None
    if as_json:
        print(json.dumps({"error": {"code": code, "message": message, "field": field}}))
    else:
        print(f"nnfunc: {code}: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; the exit status (0 success, 1 any error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        from nnfunc.server import main as serve

        try:
            return serve(argv[1:]) or 0
        except SystemExit as exc:  # the server's --help
            return exc.code if isinstance(exc.code, int) else 0
    if argv[:1] == ["loadtest"]:
        from nnfunc.loadtest import main as loadtest

        return loadtest(argv[1:])
    try:
        args = build_parser().parse_args(_protect_negatives(argv))
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return 1
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    try:
        return args.run(args)
    except Error as exc:
        if exc.code == "UNAVAILABLE":
            exc = type(exc)(
                f"{exc.message} (is the server running at {args.target}? set --target or "
                "NNFUNC_TARGET)",
                field=exc.field,
                details=exc.details,
            )
        _report(exc, args.json)
        return 1
    except BrokenPipeError:  # the reader left early (nnfunc list | head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, OSError) as exc:  # a bad --target, an unreadable certificate file
        _report(exc, args.json)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
