"""The illustrated catalog (docs/catalog.md, docs/catalog.html, docs/catalog/*.png) is fresh
and complete: it fails when the registry changed and `python scripts/gen_catalog.py`
was not run. Needs no matplotlib (the pictures are checked for presence and size, never
byte-compared: their pixels depend on the matplotlib version)."""

from __future__ import annotations

import importlib.util
import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest

from nnfunc.catalog import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
REGENERATE = "stale: run `python scripts/gen_catalog.py` and commit docs/"


def _load_generator():
    spec = importlib.util.spec_from_file_location(
        "gen_catalog", ROOT / "scripts" / "gen_catalog.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def traced():
    return gen.curves()


def test_markdown_page_is_fresh(traced):
    assert gen.MARKDOWN.read_text(encoding="utf-8") == gen.markdown(traced), REGENERATE


def test_html_page_is_fresh(traced):
    assert gen.HTML.read_text(encoding="utf-8") == gen.page_html(traced), REGENERATE


def test_every_function_has_its_picture_and_no_other():
    have = {p.stem for p in gen.PICTURES.glob("*.png")}
    assert sorted(set(REGISTRY) - have) == [], REGENERATE
    assert sorted(have - set(REGISTRY)) == [], REGENERATE
    for name in REGISTRY:
        data = gen.picture(name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        assert struct.unpack(">II", data[16:24]) == (512, 192), name  # 6.4 × 2.4 in at 80 dpi


def test_pictures_stay_small():
    total = sum(gen.picture(n).stat().st_size for n in REGISTRY)
    assert total < 1_000_000, f"{total} bytes for {len(REGISTRY)} pictures"


def test_every_function_is_on_both_pages_with_its_sentence():
    md = gen.MARKDOWN.read_text(encoding="utf-8")
    page = gen.HTML.read_text(encoding="utf-8")
    for name, spec in REGISTRY.items():
        assert f"\n### {gen._md(name)}\n" in md, name
        assert f"](catalog/{name}.png)" in md, name
        assert f'id="{name}"' in page and f'src="catalog/{name}.png"' in page, name
        assert gen._md(spec.summary) in md, name
        for kink in spec.kinks:
            assert gen._md(kink) in md, (name, kink)


def test_groups_put_torch_first_then_beyond_torch():
    titles = [title for _, title, _ in gen.groups()]
    assert [t.split(" (")[0] for t in titles] == [
        "Activations: torch.nn.functional",
        "Activations: beyond torch",
        "Losses: torch.nn.functional",
        "Losses: beyond torch",
    ]
    listed = [s.name for _, _, specs in gen.groups() for s in specs]
    assert sorted(listed) == sorted(REGISTRY)


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("src", "href"):
            if key in a:
                self.refs.append((tag, key, a[key]))


def test_html_opens_from_disk_without_network():
    text = gen.HTML.read_text(encoding="utf-8")
    parser = _Refs()
    parser.feed(text)
    assert "<style>" in text and not re.search(r"<link|<script", text)
    for tag, _key, ref in parser.refs:
        assert not re.match(r"[a-z]+:", ref), (tag, ref)  # no http:, no file: ...
        if ref.startswith("#"):
            assert ref[1:] in parser.ids, ref
        else:
            assert (gen.HTML.parent / ref).is_file(), ref


def test_check_mode_passes_on_the_committed_page(traced):
    assert gen.stale(traced) == []
