"""Regenerate the Python stubs of proto/nnfunc/v1, or check that the committed ones match.

    python scripts/gen_proto.py          # write proto/nnfunc/v1/*_pb2*.py(i)
    python scripts/gen_proto.py --check  # exit 1 when the committed stubs drift

Needs the dev extra (grpcio-tools and mypy-protobuf at their pinned versions).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE = PROTO_ROOT / "nnfunc" / "v1"
GENERATED = ("*_pb2.py", "*_pb2.pyi", "*_pb2_grpc.py", "*_pb2_grpc.pyi")


def generate(out: Path) -> None:
    from grpc_tools import protoc

    # mypy-protobuf's plugins (protoc-gen-mypy*) sit beside this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in PACKAGE.glob("*.proto"))
    wkt = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{wkt}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def stubs(folder: Path) -> dict[str, Path]:
    return {p.name: p for pattern in GENERATED for p in (folder / "nnfunc" / "v1").glob(pattern)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = stubs(Path(tmp))
        committed = stubs(PROTO_ROOT)
        if args.check:
            drift = sorted(
                name
                for name in set(fresh) | set(committed)
                if name not in fresh
                or name not in committed
                or not filecmp.cmp(fresh[name], committed[name], shallow=False)
            )
            if drift:
                print("generated stubs drift from proto/: " + ", ".join(drift), file=sys.stderr)
                print("run: python scripts/gen_proto.py", file=sys.stderr)
                return 1
            print(f"stubs up to date ({len(fresh)} files)")
            return 0
        for path in committed.values():
            path.unlink()
        for name, path in fresh.items():
            shutil.copyfile(path, PACKAGE / name)
        print(f"wrote {len(fresh)} files to {PACKAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
