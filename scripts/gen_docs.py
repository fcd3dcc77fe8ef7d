"""Regenerate the README's tables from the code, or check that they are fresh.

    python scripts/gen_docs.py          # rewrite the marked sections of README.md
    python scripts/gen_docs.py --check  # exit 1 when they are stale

The catalog table comes from the registry; the configuration table from the server's
settings; so neither can drift from what the code does.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
for root in ("client", "server", "proto"):
    sys.path.insert(0, str(ROOT / root))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def catalog_section() -> str:
    from nnfunc import catalog

    specs = [catalog.REGISTRY[n] for n in catalog.names()]
    lines = []
    for kind, title in (("activation", "Activations"), ("loss", "Losses")):
        chosen = [s for s in specs if s.kind == kind]
        lines += [
            f"**{title}** ({len(chosen)})",
            "",
            "| function | inputs | parameters (defaults) | formula | what it is for |",
            "|---|---|---|---|---|",
        ]
        for s in chosen:
            inputs = ", ".join(i.name + ("" if i.differentiable else "°") for i in s.inputs)
            params = ", ".join(
                p.name if p.required else f"{p.name}={p.default!r}" for p in s.params
            )
            name = f"`{s.name}`" + (f" ({', '.join(s.aliases)})" if s.aliases else "")
            lines.append(
                f"| {name} | {inputs} | {_cell(params) or '—'} | {_cell(s.formula)} "
                f"| {_cell(s.summary)} |"
            )
        lines.append("")
    lines.append(
        "° not differentiable. `nnfunc describe NAME` (or DescribeFunction) gives each "
        "function's parameters' ranges, output range, kinks and the gradient there."
    )
    return "\n".join(lines)


def settings_section() -> str:
    """One row per flag of ``nnfunc serve``, straight from its argument parser."""
    import dataclasses

    from nnfunc.server.settings import ENV_PREFIX, Settings, parser

    defaults = Settings()
    fields = {f.name for f in dataclasses.fields(Settings)}
    lines = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    for action in parser()._actions:
        if action.dest not in fields:
            continue
        meaning = re.sub(r"\s*\[[^\]]*\]$", "", action.help or "")
        default = getattr(defaults, action.dest)
        if isinstance(default, bool):
            default = "on" if default else "off"
        lines.append(
            f"| `{action.option_strings[-1]}` | `{ENV_PREFIX}{action.dest.upper()}` "
            f"| `{default}` | {_cell(meaning)} |"
        )
    return "\n".join(lines)


SECTIONS = {"catalog": catalog_section, "settings": settings_section}


def render(text: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.S)
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    current = README.read_text()
    fresh = render(current)
    if args.check:
        if fresh != current:
            print("README.md tables are stale: run python scripts/gen_docs.py", file=sys.stderr)
            return 1
        print("README.md tables are fresh")
        return 0
    README.write_text(fresh)
    print("README.md tables regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
