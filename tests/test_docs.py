"""The documentation site (issue 14): `mkdocs build --strict` with no warnings, every tutorial executed on the
shipped example data while the site builds (its figures in the built site, its printed numbers right), and
one API page per room that lists exactly that room's EXPORTS.

The build runs every tutorial (~1-2 minutes of CPU, mostly the α and D(θ) fits and the field of particles), so
that test is marked slow; the structural checks are fast and need neither mkdocs nor its plugins.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import lithmap

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIALS = ["simulate", "electrochemistry", "contrast", "fitting", "xray", "tomography", "stress", "scale"]
PAGES = ["index", "getting-started", *(f"tutorials/{t}" for t in TUTORIALS)]


def _config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def _nav_files(nav) -> list[str]:
    files = []
    for item in nav:
        if isinstance(item, str):
            files.append(item)
        elif isinstance(item, dict):
            for value in item.values():
                files.extend(_nav_files(value) if isinstance(value, list) else [value])
    return files


def _hook():
    spec = importlib.util.spec_from_file_location("lithmap_docs_under_test", DOCS / "hooks" / "lithmap_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_page_is_in_the_nav_and_every_room_has_an_api_page():
    nav = _nav_files(_config()["nav"])
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if "hooks" not in p.parts)
    assert sorted(nav) == pages, "mkdocs.yml nav and docs/*.md differ"
    for page in PAGES:
        assert f"{page}.md" in nav
    for room in lithmap.ROOMS:
        text = (DOCS / "api" / f"{room}.md").read_text()
        assert re.search(rf"^::: exports {room}$", text, re.M), f"docs/api/{room}.md does not list its exports"


def test_the_api_marker_expands_to_exactly_the_rooms_exports():
    hook = _hook()
    for room in lithmap.ROOMS:
        identifiers = hook.exports_of(room)
        exports = importlib.import_module(f"lithmap.{room}").EXPORTS
        assert [i.rsplit(".", 1)[1] for i in identifiers] == list(exports)
        for identifier in identifiers:  # each points at the module that defines the name
            module, name = identifier.rsplit(".", 1)
            assert hasattr(importlib.import_module(module), name), identifier
    page = hook.on_page_markdown("# io\n\n::: exports io\n", page=_FakePage("api/io.md"), config=_FakeConfig(),
                                 files=None)
    assert "::: lithmap.io.movies.read_movie" in page and "::: exports" not in page


def test_tutorials_cite_the_papers_by_name_and_show_python_and_cli():
    for tutorial in TUTORIALS:
        text = (DOCS / "tutorials" / f"{tutorial}.md").read_text()
        assert 'exec="on"' in text, f"{tutorial}: no executed code"
        assert "```bash" in text and "lithmap " in text, f"{tutorial}: no CLI equivalent"
        assert "Xu, Merryweather et al." in text or "Liu, Zeng et al." in text, f"{tutorial}: cites neither paper"
        assert not re.search(r"\bseed[12]\b|seeds/", text)


class _FakeFile:
    def __init__(self, dest_uri):
        self.dest_uri = dest_uri


class _FakePage:
    def __init__(self, src):
        self.file = _FakeFile(src.replace(".md", "/index.html"))


class _FakeConfig:
    site_dir = "/nonexistent-site"


def _text(html: str) -> str:
    """The page's article as plain text."""
    article = html[html.find("<article"):html.find("</article>")]
    return re.sub(r"<[^>]+>", "", article).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _build(out: Path) -> tuple[int, str]:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=900)
    return run.returncode, run.stdout + run.stderr


def _number(text: str, pattern: str) -> tuple[float, ...]:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the page"
    return tuple(float(g) for g in match.groups())


@pytest.mark.slow
def test_the_site_builds_strictly_with_every_tutorial_executed(tmp_path):
    """One build (~2-3 minutes on 2 cores; one test, so that pytest-xdist does not build it twice): no warning,
    every API page renders every export, every tutorial shows its figures from the built site and prints the
    numbers README.md states for the same runs."""
    pytest.importorskip("mkdocs")
    out = tmp_path / "site"
    returncode, log = _build(out)
    warnings = [line for line in log.splitlines() if line.lstrip().startswith(("WARNING", "ERROR"))]
    assert returncode == 0 and not warnings, "\n".join(warnings) or log[-3000:]

    for room in lithmap.ROOMS:  # the API pages carry every export's rendered docstring
        html = (out / "api" / room / "index.html").read_text()
        for name, module in importlib.import_module(f"lithmap.{room}").EXPORTS.items():
            assert f'id="lithmap.{room}.{module}.{name}"' in html, f"api/{room}: {name} not rendered"

    text = {}
    for tutorial in TUTORIALS:  # executed: figures written into the site beside the page, no failed block
        page = out / "tutorials" / tutorial / "index.html"
        html = page.read_text()
        images = re.findall(r'<img src="(figures/[^"]+)"', html)
        assert images, f"{tutorial}: no figure"
        for src in images:
            data = (page.parent / src).read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" or data[:6] in (b"GIF89a", b"GIF87a"), f"{tutorial}: {src}"
        assert "Traceback" not in html, f"{tutorial}: a code block failed"
        text[tutorial] = _text(html)

    # the printed numbers: the package's own, as README.md states them for the same runs
    start = _text((out / "getting-started" / "index.html").read_text())
    assert 2.6 < _number(start, r"Mn3O4 mean valence (\d\.\d+)")[0] < 2.7
    alpha, low, high = _number(text["fitting"], r"alpha = (\d\.\d+) \(95 %: (\d\.\d+)-(\d\.\d+)\); truth 2\.7")
    assert low < 2.7 < high and abs(alpha - 2.7) < 0.1
    assert 170 < _number(text["fitting"], r"PSF FWHM (\d+\.\d) nm")[0] < 185
    ratios = [float(r) for r in re.findall(r"e-\d\d\s+(\d\.\d\d)\n", text["fitting"])]
    assert len(ratios) == 6 and all(1 / 1.5 < r < 1.5 for r in ratios), ratios  # D(θ) fitted / truth per knot
    assert _number(text["xray"], r"mean-valence error rms (\d\.\d+)")[0] < 0.03
    assert _number(text["tomography"], r"sirt: particle IoU (\d\.\d+)")[0] > 0.97
    aligned, not_aligned = (_number(text["tomography"], rf"{label}: particle IoU (\d\.\d+)")[0]
                            for label in ("align=True", "not aligned"))
    assert aligned > not_aligned
    assert "8 of 8 cases already in sweep.zarr; nothing to compute" in text["scale"]
    fits = {float(r): float(a) for r, a in re.findall(r"particle \d+: radius (\d\.\d+) um, alpha (\d\.\d+)",
                                                      text["scale"])}
    assert len(fits) == 2 and fits[max(fits)] > 2 > fits[min(fits)], fits  # the 0.7 um disc had alpha 3, the other 1
