"""Regenerate the illustrated catalog (docs/catalog.md, docs/catalog.html, docs/catalog/*.png)
from the registry, or check that it is fresh.

    python scripts/gen_catalog.py              # rewrite the pages and every picture
    python scripts/gen_catalog.py relu gelu    # the pages, and only these pictures
    python scripts/gen_catalog.py --check      # exit 1 when a page is stale or a picture missing

Everything comes from the catalog in-process (no server): the text from each function's
spec, the pictures and the values at the kinks from nnfunc.plot with the catalog as its
source, the same numbers the service returns. Pictures need matplotlib (the 'plot' extra);
the pages and --check do not.
"""

from __future__ import annotations

import argparse
import html
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MARKDOWN = DOCS / "catalog.md"
HTML = DOCS / "catalog.html"
PICTURES = DOCS / "catalog"
for _root in ("client", "server", "proto"):
    if str(ROOT / _root) not in sys.path:
        sys.path.insert(0, str(ROOT / _root))

from nnfunc import catalog, plot  # noqa: E402
from nnfunc.catalog import FunctionSpec  # noqa: E402

# The pictures: two panels (the function, its derivative), small enough for a page of 89.
SIZE = (6.4, 2.4)  # inches
DPI = 80  # 512 × 192 pixels
FONT_SIZE = 8.0
TORCH = "torch.nn.functional."

INTRO = (
    "Every function of the nnfunc catalog: one picture and one sentence each, then its "
    "formula, parameters, output range, kinks (with the gradient returned there), aliases "
    "and the framework that defines it."
)
HOW_TO_READ = (
    "Each picture shows the function (left) and its derivative (right) as the catalog "
    "computes them, the numbers the service returns (`nnfunc plot NAME --derivative` draws "
    "the same picture through a server). A dot marks a kink: the value and the gradient "
    "returned exactly there. Elementwise functions are drawn as they are; the others along "
    "the one-dimensional view named in the picture's title and under it (softmax of "
    "[x, 0], a loss as a function of the prediction for a fixed target, per sample)."
)


def groups() -> list[tuple[str, str, list[FunctionSpec]]]:
    """(anchor, title, specs) in the registry's order: activations then losses, torch's
    first, then those beyond torch."""
    specs = list(catalog.REGISTRY.values())
    out = []
    for kind, noun in (("activation", "Activations"), ("loss", "Losses")):
        for torch, where in ((True, "torch.nn.functional"), (False, "beyond torch")):
            chosen = [s for s in specs if s.kind == kind and s.source.startswith(TORCH) == torch]
            anchor = f"{noun.lower()}-{'torch' if torch else 'beyond-torch'}"
            out.append((anchor, f"{noun}: {where} ({len(chosen)})", chosen))
    return out


def curves() -> dict[str, plot.Curve]:
    """Every function along its view, computed in-process."""
    source = plot.CatalogSource()
    return {name: plot.trace(name, source) for name in catalog.REGISTRY}


# -- facts shared by both pages -----------------------------------------------------------


def _num(v: float, digits: int = 6) -> str:
    if v == 0:
        return "0"  # also -0.0
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}g}"


def _default(p: Any) -> str:
    if p.required:
        return "required"
    if isinstance(p.default, str):
        return repr(p.default)
    if isinstance(p.default, float):
        return _num(p.default, 10)
    return str(p.default)


def _params(spec: FunctionSpec) -> list[str]:
    return [
        f"{p.name} ({p.kind}) = {_default(p)}, allowed {p.allowed}: {p.doc}" for p in spec.params
    ]


def _inputs(spec: FunctionSpec) -> str:
    return ", ".join(
        i.name + ("" if i.differentiable else " (no gradient)") + (f": {i.doc}" if i.doc else "")
        for i in spec.inputs
    )


def _marked(curve: plot.Curve) -> str:
    """What the picture marks, with the computed value and gradient at each kink."""
    if not curve.kinks:
        return "no kink on this view"
    marks = "; ".join(
        f"x = {_num(k.x, 10)} (value {_num(k.y)}, gradient {_num(k.dy)})" for k in curve.kinks
    )
    return f"kinks marked at {marks}"


def _fields(spec: FunctionSpec, curve: plot.Curve) -> list[tuple[str, list[str]]]:
    """(label, lines) rows of a function's card; empty rows left out."""
    rows = [
        ("formula", [spec.formula]),
        ("inputs", [_inputs(spec)]),
        ("parameters", _params(spec) or ["none"]),
        ("output range", [spec.output_range] if spec.output_range else []),
        ("kinks", list(spec.kinks) or ["none (differentiable everywhere)"]),
        ("picture", [f"{curve.label}; {_marked(curve)}"]),
        ("aliases", [", ".join(spec.aliases)] if spec.aliases else []),
        ("source", [spec.source]),
        ("notes", list(spec.notes)),
    ]
    return [(label, lines) for label, lines in rows if lines]


# -- Markdown ----------------------------------------------------------------------------


def _md(text: str) -> str:
    """Plain text safe in Markdown: no emphasis, no HTML."""
    for ch in ("\\", "*", "_", "`", "<", ">", "[", "]"):
        text = text.replace(ch, "\\" + ch)
    return text


def markdown(traced: dict[str, plot.Curve]) -> str:
    out = [
        "# The nnfunc catalog",
        "",
        "<!-- Generated by scripts/gen_catalog.py from the registry: do not edit. -->",
        "",
        _md(INTRO) + f" {len(catalog.REGISTRY)} functions; also as [HTML](catalog.html).",
        "",
        HOW_TO_READ.replace("[x, 0]", "\\[x, 0\\]"),
        "",
    ]
    table = groups()
    for anchor, title, specs in table:
        links = ", ".join(f"[{_md(s.name)}](#{s.name})" for s in specs)
        out.append(f"- [{_md(title)}](#{anchor}): {links}")
    out.append("")
    for anchor, title, specs in table:
        out += [f'<a id="{anchor}"></a>', "", f"## {_md(title)}", ""]
        for s in specs:
            curve = traced[s.name]
            out += [
                f"### {_md(s.name)}",
                "",
                f"![{_md(s.name)}: the function and its derivative](catalog/{s.name}.png)",
                "",
                _md(s.summary),
                "",
            ]
            for label, lines in _fields(s, curve):
                if label == "formula":
                    out.append(f"- **{label}**: `{lines[0]}`")
                elif len(lines) == 1:
                    out.append(f"- **{label}**: {_md(lines[0])}")
                else:
                    out.append(f"- **{label}**:")
                    out += [f"  - {_md(line)}" for line in lines]
            out.append("")
    return "\n".join(out)


# -- HTML --------------------------------------------------------------------------------

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f;
       max-width: 1180px; margin: 0 auto; padding: 1.5em; }
h1 { margin-bottom: .2em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
nav p { margin: .3em 0; }
nav a, .card h3 a { color: #0b57d0; text-decoration: none; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr));
        gap: 1.2em; }
.card { border: 1px solid #e3e3e3; border-radius: 8px; padding: .8em 1em; }
.card h3 { margin: 0 0 .3em; font-family: ui-monospace, Menlo, Consolas, monospace; }
.card img { display: block; max-width: 100%; height: auto; margin: .3em 0; }
.summary { margin: .4em 0 .6em; }
dl { display: grid; grid-template-columns: 7.5em 1fr; gap: .25em .8em; margin: 0;
     font-size: 13px; }
dt { color: #666; }
dd { margin: 0; }
dd ul { margin: 0; padding-left: 1.1em; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
.muted { color: #666; }
"""


def page_html(traced: dict[str, plot.Curve]) -> str:
    e = html.escape
    table = groups()
    w, h = round(SIZE[0] * DPI), round(SIZE[1] * DPI)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>The nnfunc catalog</title>",
        "<!-- Generated by scripts/gen_catalog.py from the registry: do not edit. -->",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<h1>The nnfunc catalog</h1>",
        f"<p>{e(INTRO)} {len(catalog.REGISTRY)} functions.</p>",
        f'<p class="muted">{e(HOW_TO_READ).replace("`", "")}</p>',
        "<nav>",
    ]
    for anchor, title, specs in table:
        links = ", ".join(f'<a href="#{e(s.name)}">{e(s.name)}</a>' for s in specs)
        out.append(f'<p><a href="#{anchor}"><b>{e(title)}</b></a>: {links}</p>')
    out.append("</nav>")
    for anchor, title, specs in table:
        out += [f'<h2 id="{anchor}">{e(title)}</h2>', '<div class="grid">']
        for s in specs:
            curve = traced[s.name]
            out += [
                f'<section class="card" id="{e(s.name)}">',
                f'<h3><a href="#{e(s.name)}">{e(s.name)}</a></h3>',
                f'<img src="catalog/{e(s.name)}.png" width="{w}" height="{h}" '
                f'alt="{e(s.name)}: the function and its derivative">',
                f'<p class="summary">{e(s.summary)}</p>',
                "<dl>",
            ]
            for label, lines in _fields(s, curve):
                if label == "formula":
                    body = f"<code>{e(lines[0])}</code>"
                elif len(lines) == 1:
                    body = e(lines[0])
                else:
                    body = "<ul>" + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ul>"
                out.append(f"<dt>{e(label)}</dt><dd>{body}</dd>")
            out += ["</dl>", "</section>"]
        out.append("</div>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


# -- pictures ----------------------------------------------------------------------------


def picture(name: str) -> Path:
    return PICTURES / f"{name}.png"


def draw_pictures(traced: dict[str, plot.Curve], names: Sequence[str]) -> int:
    """Draw the pictures of ``names``; their total size in bytes."""
    PICTURES.mkdir(parents=True, exist_ok=True)
    total = 0
    for name in names:
        path = picture(name)
        plot.draw(
            [traced[name]],
            path,
            derivative=True,
            size=SIZE,
            dpi=DPI,
            font_size=FONT_SIZE,
            compact=True,
        )
        total += path.stat().st_size
    return total


def stale(traced: dict[str, plot.Curve]) -> list[str]:
    """What --check complains about: stale pages, missing or stray pictures."""
    problems = []
    for path, text in ((MARKDOWN, markdown(traced)), (HTML, page_html(traced))):
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            problems.append(f"{path.relative_to(ROOT)} is stale")
    have = {p.stem for p in PICTURES.glob("*.png")}
    problems += [f"docs/catalog/{n}.png is missing" for n in sorted(set(catalog.REGISTRY) - have)]
    problems += [f"docs/catalog/{n}.png is stray" for n in sorted(have - set(catalog.REGISTRY))]
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="redraw only these pictures (default: all)")
    parser.add_argument("--check", action="store_true", help="exit 1 when anything is stale")
    args = parser.parse_args(argv)
    traced = curves()
    if args.check:
        problems = stale(traced)
        for p in problems:
            print(p, file=sys.stderr)
        if problems:
            print("run: python scripts/gen_catalog.py", file=sys.stderr)
        return 1 if problems else 0
    unknown = sorted(set(args.names) - set(traced))
    if unknown:
        parser.error(f"not in the catalog: {', '.join(unknown)}")
    DOCS.mkdir(exist_ok=True)
    MARKDOWN.write_text(markdown(traced), encoding="utf-8")
    HTML.write_text(page_html(traced), encoding="utf-8")
    names = args.names or list(traced)
    for stray in set(p.stem for p in PICTURES.glob("*.png")) - set(traced):
        picture(stray).unlink()
    drawn = draw_pictures(traced, names)
    total = sum(picture(n).stat().st_size for n in traced)
    print(
        f"wrote {MARKDOWN.relative_to(ROOT)}, {HTML.relative_to(ROOT)} and {len(names)} "
        f"pictures ({drawn / 1024:.0f} KiB; all {len(traced)}: {total / 1024:.0f} KiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
