"""Griffe extension of the lithmap API pages (mkdocs.yml, mkdocstrings ``extensions``): two house habits of
the docstrings, made to render in Markdown.

- The Parameters section of a function without arguments is written ``None`` (tests/test_house.py asks every
  public function for the section); griffe would read that ``None`` as a parameter and warn that the
  signature has no such argument. The section is dropped from such functions.
- Cross-references are written with Sphinx roles (``:func:`simulate```, ``:class:`~lithmap.physics.Sphere```),
  which Markdown would print as they stand; they become plain code (``simulate``, ``Sphere``).
"""

from __future__ import annotations

import re

from griffe import Extension

NO_PARAMETERS = re.compile(r"^Parameters\n-+\nNone\n+", re.M)
ROLE = re.compile(r":(?:func|class|meth|attr|data|mod|obj|exc|const):`(~?)([^`]+)`")


def _role(match: re.Match) -> str:
    target = match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"


class LithmapDocstrings(Extension):
    """Drop ``Parameters / None`` from functions that take no argument; Sphinx roles → code."""

    def on_instance(self, *, obj, **kwargs) -> None:  # noqa: ARG002 (griffe's hook signature)
        docstring = getattr(obj, "docstring", None)
        if docstring is None:
            return
        text = ROLE.sub(_role, docstring.value)
        if obj.is_function and not any(p.name not in ("self", "cls") for p in obj.parameters):
            text = NO_PARAMETERS.sub("", text)
        docstring.value = text
