"""The report command: lithmap results in, one HTML page with its figures and data out
(:func:`lithmap.build_report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app, friendly


@app.command()
@friendly
def report(
    results: list[Path] = typer.Argument(
        ..., help="lithmap results: NetCDF/Zarr (simulate, sweep, contrast, fit, lcf, clusters, reconstruct, stress), "
                  "CSV (gitt, pitt, cycles, shells, particles), PNG/GIF figures, or folders of them"),
    out: Path = typer.Option(..., help="report folder: OUT/index.html, OUT/figures/, OUT/data/"),
    title: Optional[str] = typer.Option(None, help="page title (default 'lithmap report')"),
    overwrite: bool = typer.Option(False, help="replace an earlier report in OUT (never a folder without index.html)"),
):
    """An HTML report a researcher can send a colleague: every figure with a caption carrying its numbers,
    contrast movies, and data/ with every number shown (CSV) and copies of the inputs.

    Each file's kind is recognised from its variables. No network or JavaScript is needed.

    Cites Xu, Merryweather et al., Joule 2022 and Liu, Zeng et al., Nat. Nanotechnol. 2024."""
    from .. import build_report

    page = build_report(list(results), out, title=title, overwrite=overwrite)
    figures = sorted(p for p in (page.parent / "figures").iterdir() if p.suffix in (".png", ".gif"))
    tables = sorted((page.parent / "data").glob("*.csv"))
    typer.echo(f"wrote {page}: {len(figures)} figures and movies, {len(tables)} tables in {page.parent / 'data'}")
