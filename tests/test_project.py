"""Project hygiene that CI must enforce: stubs, docs, lint, types, the README's promise."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def tool(name: str) -> str:
    """A console script of this environment (the dev extra installs them all)."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[dev]'"
    return found


def test_generated_stubs_match_the_proto():
    result = run(sys.executable, "scripts/gen_proto.py", "--check")
    assert result.returncode == 0, result.stderr


def test_generated_docs_are_fresh():
    result = run(sys.executable, "scripts/gen_docs.py", "--check")
    assert result.returncode == 0, result.stderr


def test_proto_passes_buf_standard_lint():
    result = run(tool("buf"), "lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_lint_and_format():
    lint = run(tool("ruff"), "check", ".")
    assert lint.returncode == 0, lint.stdout
    fmt = run(tool("ruff"), "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout


def test_mypy():
    result = run(tool("mypy"), "client/nnfunc", "server/nnfunc")
    assert result.returncode == 0, result.stdout


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"^(python -m pip install [^\n]*pytest)$", readme, re.M)
    assert len(commands) == 1, "the README names one test command"
    assert commands[0] in ci, ".ci/run must run the README's test command verbatim"


@pytest.mark.parametrize("name", ["server", "client", "proto"])
def test_no_top_level_module_named_like_a_source_root(name):
    for root in ("client", "server", "proto"):
        assert not (ROOT / root / f"{name}.py").exists()
        assert not (ROOT / root / name / "__init__.py").exists()
