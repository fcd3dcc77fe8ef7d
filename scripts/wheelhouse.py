"""Download the wheels an image build needs into deploy/wheelhouse, for offline builds.

    python scripts/wheelhouse.py                     # Python 3.11, x86_64 manylinux
    python scripts/wheelhouse.py --python-version 3.12 --arch aarch64

The Dockerfile installs offline from the wheelhouse when it holds wheels (and from the
package index otherwise): this is for hosts whose builds cannot reach an index, or to
make a build reproducible. It holds the runtime dependencies of pyproject.toml and the
build backend (the image builds the project's own wheel from the sources, so a stale
project wheel can never be installed by mistake). pip runs on the host, with the
host's network settings; the wheels are chosen for the image's Python, not the host's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / "deploy" / "wheelhouse"


def requirements(pyproject: Path) -> list[str]:
    """The runtime dependencies and the build system's requirements."""
    data = tomllib.loads(pyproject.read_text())
    return [*data["project"]["dependencies"], *data["build-system"]["requires"]]


def pip_download(dest: Path, reqs: list[str], python_version: str, arch: str) -> list[str]:
    platforms = [f"manylinux_2_{v}_{arch}" for v in (28, 17)] + [f"manylinux2014_{arch}"]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(dest)]
    cmd += ["--only-binary=:all:", "--python-version", python_version]
    for p in platforms:
        cmd += ["--platform", p]
    return cmd + reqs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dest", type=Path, default=DEFAULT_DIR, help=f"default {DEFAULT_DIR}")
    p.add_argument("--python-version", default="3.11", help="the image's Python (3.11)")
    p.add_argument("--arch", default="x86_64", help="x86_64 or aarch64")
    args = p.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    cmd = pip_download(
        args.dest, requirements(ROOT / "pyproject.toml"), args.python_version, args.arch
    )
    result = subprocess.run(cmd)
    if result.returncode == 0:
        wheels = sorted(args.dest.glob("*.whl"))
        print(f"{len(wheels)} wheels in {args.dest}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
