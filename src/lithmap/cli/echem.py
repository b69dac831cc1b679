"""Commands of electrochemistry: gitt, cycles, pitt. Each reads the record with
:func:`lithmap.read_cycler`, analyses it with one public function and writes CSV (+ figure)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer

from . import _all_or_nothing, _outputs, app, friendly, with_unit


@app.command()
@friendly
def gitt(
    files: list[Path] = typer.Argument(
        ..., help="GITT record: CSV files (one or more pulses each, joined by time) or one cycler file"),
    radius: str = typer.Option(..., help="particle radius, e.g. 5.22um"),
    out: Path = typer.Option(..., help="output CSV, one row per pulse"),
    column: str = typer.Option(
        "Voltage [V]", help="voltage column of CSV files (e.g. 'Positive electrode potential [V]')"),
    time_column: str = typer.Option("Time [s]", help="time column of CSV files (s)"),
    current_column: str = typer.Option("Current [A]", help="current column of CSV files (A, + = charge)"),
    capacity: Optional[str] = typer.Option(None, help="cell capacity for coulomb counting, e.g. 4.6mAh (gives theta)"),
    theta_start: Optional[float] = typer.Option(None, help="lithium fraction at the start (with --capacity)"),
    fit_window: str = typer.Option("2s:60s", help="sqrt(t) fit window after switch-on"),
    drift_limit: str = typer.Option("5", help="end-of-rest drift limit, mV/h (or with units, e.g. 2e-6V/s)"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """GITT: D by Weppner-Huggins per pulse with flags; CSV (feeds simulate --diffusivity) + D plot."""
    from ..echem.gitt import analyse_gitt, write_gitt_csv
    from ..io.cycler import read_cycler
    from ..report.plots import plot_gitt

    figure = _outputs(out, overwrite=overwrite, inputs=files)
    lo, _, hi = fit_window.partition(":")
    rec = read_cycler(files, columns={"time": time_column, "voltage": column, "current": current_column})
    ds = analyse_gitt(rec, radius=with_unit(radius, "m"), fit_window=(with_unit(lo, "s"), with_unit(hi, "s")),
                      capacity=with_unit(capacity, "mA*h"), theta_start=theta_start,
                      drift_limit=with_unit(drift_limit, "mV/h"))
    write_gitt_csv(ds, out)
    with _all_or_nothing(out):
        fig = plot_gitt(ds, figure)
    flagged = int(sum(bool(f) for f in ds.flags.values))
    d = ds.diffusivity_m2_s.values
    span = f"D {np.nanmin(d):.3g}-{np.nanmax(d):.3g} m^2/s" if np.isfinite(d).any() else "no D (no rests found)"
    typer.echo(f"wrote {out} and {fig}: {ds.sizes['pulse']} pulses, {span}, {flagged} flagged")


@app.command()
@friendly
def cycles(
    file: Path = typer.Argument(
        ..., help="cycler file: BioLogic .mpr/.mpt/.txt, Neware .ndax/.nda, Arbin or plain CSV"),
    out: Path = typer.Option(..., help="output CSV, one row per cycle"),
    mass: Optional[str] = typer.Option(None, help="active mass, e.g. 5.1mg (adds mAh/g columns)"),
    capacity: Optional[str] = typer.Option(None, help="practical specific capacity for the C-rate, e.g. 210mAh/g"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Per-cycle charge/discharge capacity, CV parts and coulombic efficiency; CSV + plot."""
    from ..echem.cycling import analyse_cycles, write_cycles_csv
    from ..io.cycler import read_cycler
    from ..report.plots import plot_cycler

    figure = _outputs(out, overwrite=overwrite, inputs=[file])
    rec = read_cycler(file, mass=with_unit(mass, "mg"))
    res = analyse_cycles(rec, specific_capacity=with_unit(capacity, "mA*h/g"))
    write_cycles_csv(res, out)
    with _all_or_nothing(out):
        fig = plot_cycler(rec, figure)
    for c in res.cycle.values:
        r = res.sel(cycle=c)
        typer.echo(f"cycle {int(c)}: charge {float(r.charge_capacity):.4g} mAh (CV {float(r.charge_cv):.3g}), "
                   f"discharge {float(r.discharge_capacity):.4g} mAh (CV {float(r.discharge_cv):.3g}), "
                   f"CE {float(r.coulombic_efficiency):.4g}")
    typer.echo(f"wrote {out} and {fig}")


@app.command()
@friendly
def pitt(
    file: Path = typer.Argument(
        ..., help="PITT record: any cycler file lithmap reads (or a CSV with Time [s], Voltage [V], Current [A])"),
    radius: str = typer.Option(..., help="particle radius, e.g. 5.22um"),
    out: Path = typer.Option(..., help="output CSV, one row per potential step"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """PITT: D per potential step from the long-time decay and the Cottrell regime, with flags."""
    from ..echem.gitt import write_gitt_csv
    from ..echem.pitt import analyse_pitt
    from ..io.cycler import read_cycler

    _outputs(out, overwrite=overwrite, inputs=[file], figure=False)
    ds = analyse_pitt(read_cycler(file), radius=with_unit(radius, "m"))
    write_gitt_csv(ds, out)
    d = ds.diffusivity_m2_s.values
    typer.echo(f"wrote {out}: {ds.sizes['step']} steps, D {np.nanmin(d):.3g}-{np.nanmax(d):.3g} m^2/s, "
               f"{int(sum(bool(f) for f in ds.flags.values))} flagged")
