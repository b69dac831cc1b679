"""The house rules of issue 9, checked over the whole package: every public function documented
with a runnable example, one spelling, the papers cited by name, every command with --help."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import lithmap
from lithmap.cli import app

SRC = Path(lithmap.__file__).parent
PUBLIC = [n for n in lithmap.__all__ if not n.isupper()]


def _public_functions():
    for name in PUBLIC:
        obj = getattr(lithmap, name)
        if inspect.isfunction(obj):
            yield name, obj


@pytest.mark.parametrize("name", [n for n, _ in _public_functions()])
def test_public_function_has_numpy_docstring_with_example(name):
    doc = inspect.getdoc(getattr(lithmap, name)) or ""
    missing = [s for s in ("Parameters", "Returns", "Examples") if not re.search(rf"^{s}\n-+$", doc, re.M)
               and not (s == "Examples" and ">>>" in doc)]
    if name in {"example_file", "example_files"}:
        missing = [s for s in missing if s != "Parameters"]  # no-argument helpers
    assert not missing, f"lithmap.{name}: docstring lacks {missing}"


@pytest.mark.parametrize("name", [n for n in PUBLIC if inspect.isclass(getattr(lithmap, n))])
def test_public_class_has_docstring_with_example(name):
    doc = inspect.getdoc(getattr(lithmap, name)) or ""
    assert doc, f"lithmap.{name} has no docstring"
    if issubclass(getattr(lithmap, name), Exception):
        return
    assert ">>>" in doc, f"lithmap.{name}: docstring has no example"


def test_one_spelling_in_public_names():
    american = [n for n in dir(lithmap) if re.search(r"(normaliz|analyz|synchroniz|lyze|color)", n, re.I)]
    assert not american, american


def test_no_internal_shorthand_for_the_papers():
    """What a user reads names the papers (Xu, Merryweather et al., Joule 2022; Liu, Zeng et al.,
    Nat. Nanotechnol. 2024), never the project's internal file names."""
    hits = []
    for p in SRC.rglob("*.py"):
        for k, line in enumerate(p.read_text().splitlines(), 1):
            if re.search(r"\bseed[12]\b|seed[12]'s|seeds/", line):
                hits.append(f"{p.relative_to(SRC)}:{k}: {line.strip()[:80]}")
    assert not hits, "\n".join(hits)


def test_every_command_has_help():
    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    commands = sorted(app.registered_commands, key=lambda c: c.name or c.callback.__name__)
    names = [c.name or c.callback.__name__ for c in commands]
    for needed in ("simulate", "gitt", "cycles", "lcf", "contrast"):
        assert needed in names
    for name in names:
        res = runner.invoke(app, [name, "--help"])
        assert res.exit_code == 0, (name, res.output)
        assert name in top.output


def test_materials_cite_the_optical_paper():
    res = CliRunner().invoke(app, ["materials"])
    assert res.exit_code == 0
    assert "Xu, Merryweather et al., Joule 2022" in res.output
