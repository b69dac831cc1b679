"""The ``demo`` command: the whole pipeline on the example data shipped with lithmap, then the report."""

from __future__ import annotations

from pathlib import Path

import typer

from . import app, friendly


@app.command()
@friendly
def demo(
    out: Path = typer.Option(Path("demo-output"), help="folder of the report (index.html, figures, data/)"),
    overwrite: bool = typer.Option(False, help="replace an earlier report in OUT"),
):
    """Run the whole pipeline on the shipped example data and write OUT/index.html.

    GITT, cycler CE, simulations, the synthetic movie's contrast, alpha and
    D(theta) fitted to it, four studies of Xu, Merryweather et al., Joule 2022;
    LCF of a synthetic map of the real Mn standards, clusters, shells, a
    tomogram and stress (Liu, Zeng et al., Nat. Nanotechnol. 2024). One line
    per stage; about 1-2 minutes on 2 cores."""
    from .. import run_demo

    index = run_demo(out, overwrite=overwrite, progress=True)
    typer.echo(f"report: {index}")
