"""The viewer command: lithmap results in napari (the optional extra ``lithmap[view]``)."""

from __future__ import annotations

from pathlib import Path

import typer

from . import app, friendly


@app.command()
@friendly
def view(
    results: list[Path] = typer.Argument(..., help=(
        "NetCDF files or Zarr stores written by lithmap (contrast, simulate, fit, lcf, clusters, reconstruct, "
        "stress, ...); several overlay (positions in um, time in s)")),
):
    """Open results in napari: movie, contrast, masks, simulated θ and maps as layers, time as a slider.

    Needs napari (pip install "lithmap\\[view]") and a display; napari also opens these files itself (File > Open).
    """
    from .. import view_result

    viewer = view_result(*results, show=True)
    typer.echo(f"viewed {', '.join(str(p) for p in results)}: {len(viewer.layers)} layers")
