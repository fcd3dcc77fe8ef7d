"""Placeholder: the gradient checker is written in its own change."""

from dataclasses import dataclass


@dataclass
class InputReport:
    name: str


@dataclass
class GradcheckReport:
    passed: bool


def check_gradient(*args, **kwargs):
    raise NotImplementedError
