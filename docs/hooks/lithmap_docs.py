"""MkDocs hook of the lithmap site (``hooks:`` in mkdocs.yml; importable as ``lithmap_docs`` from the
tutorials' code blocks while the site builds).

- A line ``::: exports ROOM`` in a page becomes one mkdocstrings block per name of
  ``lithmap.ROOM.EXPORTS``, in that table's order, pointing at the module that defines it: each API
  page lists exactly what its room exports and cannot drift from the code.
- :func:`show` puts a figure of an executed tutorial into the built site, beside the page, and returns
  the ``<img>`` tag that shows it (the tutorials print it on lines hidden from the reader).
- While the site builds, ``tempfile`` works in one folder of its own, removed at the end, so the files the
  tutorials write into ``tempfile.mkdtemp()`` folders do not pile up.
"""

from __future__ import annotations

import importlib
import re
import shutil
import sys
import tempfile
from pathlib import Path

MARKER = re.compile(r"^::: exports (\w+)\s*$", re.M)
_PAGE = {"dir": None}  # the built page's folder in the site, set before each page is rendered
_TEMP = {"dir": None, "before": None}
# MkDocs registers a hook module under its path as written in mkdocs.yml; the code blocks import it by name
if __name__ in sys.modules:
    sys.modules["lithmap_docs"] = sys.modules[__name__]


def exports_of(room: str) -> list[str]:
    """The mkdocstrings identifiers of ``lithmap.<room>``'s exports, in the EXPORTS table's order."""
    package = importlib.import_module(f"lithmap.{room}")
    return [f"lithmap.{room}.{module}.{name}" for name, module in package.EXPORTS.items()]


def _expand(match: re.Match) -> str:
    return "\n\n".join(f"::: {identifier}" for identifier in exports_of(match.group(1)))


def on_pre_build(config):  # noqa: ARG001 (MkDocs hook signature)
    _TEMP["before"], _TEMP["dir"] = tempfile.tempdir, tempfile.mkdtemp(prefix="lithmap-docs-")
    tempfile.tempdir = _TEMP["dir"]


def on_post_build(config):  # noqa: ARG001 (MkDocs hook signature)
    tempfile.tempdir = _TEMP["before"]
    if _TEMP["dir"]:
        shutil.rmtree(_TEMP["dir"], ignore_errors=True)
        _TEMP["dir"] = None


def on_build_error(error):  # noqa: ARG001 (MkDocs hook signature)
    on_post_build(None)


def on_page_markdown(markdown, page, config, files):  # noqa: ARG001 (MkDocs hook signature)
    _PAGE["dir"] = Path(config.site_dir) / Path(page.file.dest_uri).parent
    return MARKER.sub(_expand, markdown)


def show(*figures, name: str | None = None, width: int | None = None) -> str:
    """Copy figure files (paths, or a matplotlib figure saved as ``name``.png) into the built page's
    ``figures/`` folder and return the ``<img>`` tags that show them, for the code block to print (its
    Markdown output: markdown-exec captures the block's own ``print``, not this module's)."""
    import matplotlib.pyplot as plt

    if _PAGE["dir"] is None:
        raise RuntimeError("lithmap_docs.show is only available while the site builds")
    folder = _PAGE["dir"] / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    tags = []
    style = f' style="max-width: {width}px"' if width else ""
    for figure in figures:
        if isinstance(figure, (str, Path)):
            file = Path(figure).name
            shutil.copyfile(figure, folder / file)
        else:
            file = f"{name or figure.get_label() or 'figure'}.png"
            figure.savefig(folder / file, dpi=100, bbox_inches="tight")
            plt.close(figure)
        tags.append(f'<img src="figures/{file}" alt="{Path(file).stem}"{style}>')
    return "\n".join(tags) + "\n"
