"""Catalog records as protos: FunctionSpec -> FunctionInfo, GradcheckReport ->
CheckGradientResponse, Settings -> ServerLimits. Pure translation, no math."""

from __future__ import annotations

import math
from typing import Any

from nnfunc.catalog import FunctionSpec, Param
from nnfunc.v1 import function_service_pb2 as pb
from nnfunc.v1 import tensor_pb2

_KIND = {"activation": pb.FUNCTION_KIND_ACTIVATION, "loss": pb.FUNCTION_KIND_LOSS}
KIND_NAMES = {v: k for k, v in _KIND.items()}

_FLOATS = (tensor_pb2.DATA_TYPE_FLOAT16, tensor_pb2.DATA_TYPE_FLOAT32, tensor_pb2.DATA_TYPE_FLOAT64)
_INPUT_DTYPES = {
    "float": _FLOATS,
    "index": (tensor_pb2.DATA_TYPE_INT64,),
    "index_or_float": (*_FLOATS, tensor_pb2.DATA_TYPE_INT64),
}

_PARAM_TYPE = {
    "float": pb.PARAMETER_TYPE_DOUBLE,
    "int": pb.PARAMETER_TYPE_INT64,
    "bool": pb.PARAMETER_TYPE_BOOL,
    "str": pb.PARAMETER_TYPE_STRING,
    "tensor": pb.PARAMETER_TYPE_TENSOR,
}

MODES = {pb.CHECK_MODE_UNSPECIFIED: "auto", pb.CHECK_MODE_FULL: "full", pb.CHECK_MODE_FAST: "fast"}
_MODE_ENUM = {"full": pb.CHECK_MODE_FULL, "fast": pb.CHECK_MODE_FAST}


def _default(p: Param, out: pb.ParameterValue) -> None:
    """Fill ``out`` with the default, typed by the parameter's kind (unset when none)."""
    d = p.default
    if p.required or d is None:
        return
    if p.kind == "float":
        out.double_value = float(d)
    elif p.kind == "int":
        out.int64_value = int(d)
    elif p.kind == "bool":
        out.bool_value = bool(d)
    elif p.kind == "str":
        out.string_value = str(d)
    else:  # a tensor default other than None: none exist today, but keep it faithful
        from nnfunc.codec import to_tensor

        to_tensor(d, out=out.tensor_value)


def function_info(spec: FunctionSpec, out: pb.FunctionInfo | None = None) -> pb.FunctionInfo:
    info = pb.FunctionInfo() if out is None else out
    info.name = spec.name
    info.aliases.extend(spec.aliases)
    info.kind = _KIND[spec.kind]
    info.summary = spec.summary
    info.formula = spec.formula
    for inp in spec.inputs:
        info.inputs.add(
            name=inp.name,
            differentiable=inp.differentiable,
            dtypes=_INPUT_DTYPES[inp.kind],
            description=inp.doc,
        )
    for p in spec.params:
        msg = info.parameters.add(
            name=p.name,
            type=_PARAM_TYPE[p.kind],
            required=p.required,
            description=p.doc,
            allowed=p.allowed,
            choices=p.choices,
        )
        _default(p, msg.default_value)
    info.output_range = spec.output_range
    info.kinks.extend(spec.kinks)
    info.source = spec.source
    info.notes.extend(spec.notes)
    info.max_order = spec.max_order
    return info


def server_limits(settings: Any, *, max_check_elements: int, max_name_length: int):
    """The limits a server enforces, as the ServerLimits message."""
    return pb.ServerLimits(
        max_message_bytes=settings.max_message_bytes,
        max_elements=settings.max_elements,
        max_check_elements=max_check_elements,
        max_concurrent_rpcs=settings.max_concurrent_rpcs,
        max_call_seconds=settings.max_call_seconds,
        max_name_length=max_name_length,
    )


def _number(value: Any) -> float:
    """A report number as a double (None, meaning not computed, as NaN)."""
    return math.nan if value is None else float(value)


def check_response(report: Any) -> pb.CheckGradientResponse:
    """A GradcheckReport as the RPC's answer."""
    resp = pb.CheckGradientResponse(
        passed=bool(report.passed),
        mode=_MODE_ENUM.get(str(report.mode), pb.CHECK_MODE_UNSPECIFIED),
        eps=float(report.eps),
        atol=float(report.atol),
        rtol=float(report.rtol),
        checked_supplied=bool(report.checked_supplied),
        notes=[str(n) for n in report.notes],
        order=int(getattr(report, "order", 1)),
    )
    for r in report.inputs:
        worst = r.worst_index
        resp.inputs.add(
            input=r.name,
            passed=bool(r.passed),
            max_abs_error=_number(r.max_abs_error),
            max_rel_error=_number(r.max_rel_error),
            worst_index=[] if worst is None else [int(i) for i in worst],
            analytic=_number(r.analytic),
            numerical=_number(r.numerical),
            checked_elements=int(r.checked_elements),
            kink_elements=int(r.kink_elements),
            skipped=r.skipped or "",
        )
    return resp
