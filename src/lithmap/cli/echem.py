"""Commands of electrochemistry: gitt, cycles, pitt."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer

from ..errors import LithmapError
from . import _all_or_nothing, _outputs, _progress, app, example_mask_path, friendly  # noqa: F401


@app.command()
@friendly
def gitt(
    files: list[Path] = typer.Argument(..., help="GITT record: CSV files (one or more pulses each, joined by time) or one cycler file"),
    radius: str = typer.Option(..., help="particle radius, e.g. 5.22um"),
    out: Path = typer.Option(..., help="output CSV, one row per pulse"),
    column: str = typer.Option("Voltage [V]", help="voltage column (e.g. 'Positive electrode potential [V]')"),
    time_column: str = typer.Option("Time [s]", help="time column (s)"),
    current_column: str = typer.Option("Current [A]", help="current column (A, + = charge)"),
    capacity: Optional[str] = typer.Option(None, help="cell capacity for coulomb counting, e.g. 4.6mAh (gives theta)"),
    theta_start: Optional[float] = typer.Option(None, help="lithium fraction at the start (with --capacity)"),
    fit_window: str = typer.Option("2s:60s", help="sqrt(t) fit window after switch-on"),
    drift_limit: float = typer.Option(5.0, help="end-of-rest drift limit, mV/h"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """GITT: D by Weppner-Huggins per pulse with flags; CSV (feeds simulate --diffusivity) + D plot."""
    from ..echem.gitt import analyse_gitt, read_gitt_csv, write_gitt_csv
    from ..io.units import parse_quantity
    from ..report.plots import plot_gitt

    figure = _outputs(out, overwrite=overwrite, inputs=files)
    r = parse_quantity(radius, "m", name="radius")
    lo, _, hi = fit_window.partition(":")
    window = (parse_quantity(lo, "s", name="fit_window"), parse_quantity(hi, "s", name="fit_window"))
    cap = parse_quantity(capacity, "mA*h", name="capacity") if capacity is not None else None
    step = None
    if all(Path(f).suffix.lower() == ".csv" for f in files):
        t, e, i = read_gitt_csv(files, time_column=time_column, voltage_column=column, current_column=current_column)
    elif len(files) == 1:  # a cycler's own file (BioLogic, Neware, ...): pulses from its step index
        from ..io.cycler import read_cycler

        rec = read_cycler(files[0])
        t, e, i, step = rec.time.values, rec.voltage.values, rec.current.values, rec.step.values
    else:
        raise LithmapError("give either CSV pulse files or one cycler file (.mpr, .mpt, .txt, .ndax, .nda)")
    ds = analyse_gitt(t, e, i, radius=r, fit_window=window, drift_limit=drift_limit, capacity_mAh=cap,
                      theta_start=theta_start, step=step)
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
    file: Path = typer.Argument(..., help="cycler file: BioLogic .mpr/.mpt/.txt, Neware .ndax/.nda, Arbin or plain CSV"),
    out: Path = typer.Option(..., help="output CSV, one row per cycle"),
    mass: Optional[str] = typer.Option(None, help="active mass, e.g. 5.1mg (adds mAh/g columns)"),
    capacity: Optional[str] = typer.Option(None, help="practical specific capacity for the C-rate, e.g. 210mAh/g"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Per-cycle charge/discharge capacity, CV parts and coulombic efficiency; CSV + plot."""
    from ..echem.cycling import analyse_cycles, write_cycles_csv
    from ..io.cycler import read_cycler
    from ..io.units import parse_quantity
    from ..report.plots import plot_cycler

    figure = _outputs(out, overwrite=overwrite, inputs=[file])
    m = parse_quantity(mass, "mg", name="mass") if mass is not None else None
    if m is not None and not m > 0:
        raise LithmapError(f"mass={mass!r} is invalid; expected a positive active mass such as 5mg")
    spec = parse_quantity(capacity, "mA*h/g", name="capacity") if capacity is not None else None
    if spec is not None and not spec > 0:
        raise LithmapError(f"capacity={capacity!r} is invalid; expected a positive specific capacity such as 210mAh/g")
    if spec is not None and m is None:
        raise LithmapError("--capacity needs --mass (1C = mass x specific capacity in one hour)")
    rec = read_cycler(file, mass_mg=m)
    res = analyse_cycles(rec, mass_mg=m, specific_capacity=spec)
    write_cycles_csv(res, out)
    with _all_or_nothing(out):
        fig = plot_cycler(rec, figure)
    for c in res.cycle.values:
        r = res.sel(cycle=c)
        typer.echo(f"cycle {int(c)}: charge {float(r.charge_capacity_mAh):.4g} mAh (CV {float(r.charge_cv_mAh):.3g}), "
                   f"discharge {float(r.discharge_capacity_mAh):.4g} mAh (CV {float(r.discharge_cv_mAh):.3g}), "
                   f"CE {float(r.coulombic_efficiency):.4g}")
    typer.echo(f"wrote {out} and {fig}")


@app.command()
@friendly
def pitt(
    file: Path = typer.Argument(..., help="PITT record: any cycler file lithmap reads (or a CSV with Time [s], Voltage [V], Current [A])"),
    radius: str = typer.Option(..., help="particle radius, e.g. 5.22um"),
    out: Path = typer.Option(..., help="output CSV, one row per potential step"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """PITT: D per potential step from the long-time decay and the Cottrell regime, with flags."""
    from ..echem.gitt import write_gitt_csv
    from ..echem.pitt import analyse_pitt
    from ..io.cycler import read_cycler
    from ..io.units import parse_quantity

    _outputs(out, overwrite=overwrite, inputs=[file], figure=False)
    rec = read_cycler(file)
    ds = analyse_pitt(rec.time.values, rec.voltage.values, rec.current.values,
                      radius=parse_quantity(radius, "m", name="radius"))
    write_gitt_csv(ds, out)
    d = ds.diffusivity_m2_s.values
    typer.echo(f"wrote {out}: {ds.sizes['step']} steps, D {np.nanmin(d):.3g}-{np.nanmax(d):.3g} m^2/s, "
               f"{int(sum(bool(f) for f in ds.flags.values))} flagged")
