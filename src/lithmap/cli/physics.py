"""Commands of the particle engine: simulate, plot, sweep, materials."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer

from ..errors import LithmapError
from . import EXAMPLE_PIXEL_SIZE, _all_or_nothing, _outputs, _progress, app, example_mask_path, friendly  # noqa: F401


def _times(spec: Optional[str]):
    """'10s' → every 10 s; '0,60,120' → those times; None → automatic."""

    from ..io.units import parse_quantity

    if spec is None:
        return None, None
    if "," in spec:
        vals = [parse_quantity(v, "s", name="times") for v in spec.split(",") if v.strip()]
        return np.array(vals), None
    step = parse_quantity(spec, "s", name="times")
    if step <= 0:
        raise LithmapError(f"times={spec!r} is invalid; expected a positive interval such as '10s'")
    return None, step


def _diffusivity_option(text: Optional[str]):
    """--diffusivity: a CSV table path, or a positive constant with units (error names the text)."""
    from ..io.units import parse_quantity

    if text is None:
        return None
    if Path(text).suffix.lower() == ".csv":
        return text
    value = parse_quantity(text, "m^2/s", name="diffusivity")
    if not value > 0:
        raise LithmapError(f"diffusivity={text!r} is invalid; expected a positive value such as 1e-14cm^2/s")
    return value


@app.command()
@friendly
def simulate(
    shape: str = typer.Option(..., help="sphere:8um | cylinder:1um | disc:1um | ellipse:2umx1.2um (semi-axes) | MASK.png | example"),
    protocol: list[str] = typer.Option(..., help="e.g. 'Charge at C/3 for 1 hour' (repeat or join steps with 'then')"),
    out: Path = typer.Option(..., help="output NetCDF file"),
    pixel_size: Optional[str] = typer.Option(None, help="pixel size of a mask or of the 2D output grid, e.g. 50nm"),
    material: Optional[str] = typer.Option(None, help="material preset (nmc811)"),
    diffusivity: Optional[str] = typer.Option(None, help="constant D with units (1e-14cm^2/s) or CSV table (theta, diffusivity_m2_s)"),
    alpha: Optional[float] = typer.Option(None, help="scale factor on D (default: the material's, else 1)"),
    theta0: float = typer.Option(0.97, help="initial lithium fraction"),
    times: Optional[str] = typer.Option(None, help="output interval (10s) or comma-separated times; default automatic"),
    surface_spacing: Optional[str] = typer.Option(None, help="mesh spacing at the surface, e.g. 5nm (default refined)"),
    tol: float = typer.Option(1e-3, help="local error tolerance on theta per time step (global error measured <= 3e-4)"),
    stop_at_limit: bool = typer.Option(False, help="end the run when the surface empties/fills instead of failing"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
    plot: bool = typer.Option(False, help="also write the standard PNG figures beside OUT"),
):
    """Simulate lithium diffusion with D(θ) in one particle and write a NetCDF result."""

    from ..io.results import check_output_path, write_result
    from ..io.units import parse_quantity
    from ..physics.engine import SolverOptions
    from ..physics.geometry import from_mask, parse_shape
    from ..physics.materials import get_material
    from ..physics.protocol import parse_protocol
    from ..physics.simulate import resolve_material
    from ..physics.simulate import simulate as run_simulation

    check_output_path(out, overwrite=overwrite)
    px = parse_quantity(pixel_size, "m", name="pixel_size") if pixel_size is not None else None
    if px is not None and px <= 0:
        raise LithmapError(f"pixel_size={pixel_size!r} is invalid; expected a positive length")
    if shape.strip().lower() == "example":
        geom = from_mask(example_mask_path(), px or EXAMPLE_PIXEL_SIZE, source="example particle")
    else:
        geom = parse_shape(shape, pixel_size=px)
    d = _diffusivity_option(diffusivity)
    mat = resolve_material(get_material(material) if material else None, d)
    steps = parse_protocol(protocol)
    t_eval, interval = _times(times)
    if interval is not None:
        t_eval = interval  # a single number: record at every multiple of it
    mesh_options = None
    if surface_spacing is not None:
        mesh_options = {"surface_spacing": parse_quantity(surface_spacing, "m", name="surface_spacing")}
    total = sum(s.duration or 0 for s in steps) or None
    with _progress(total) as callback:
        ds = run_simulation(
            geom, steps, material=mat, alpha=alpha, theta0=theta0, times=t_eval,
            mesh_options=mesh_options, options=SolverOptions(tol=tol), stop_at_limit=stop_at_limit,
            progress=callback,
        )
    write_result(ds, out, overwrite=overwrite)
    msg = (
        f"wrote {out}: {ds.time.size} times to {float(ds.time[-1]):.1f} s, theta_mean "
        f"{float(ds.theta_mean[0]):.4f} -> {float(ds.theta_mean[-1]):.4f} ({ds.attrs['termination']})"
    )
    typer.echo(msg)
    if plot:
        from ..report.plots import plot_simulation

        files = plot_simulation(ds, out.parent, prefix=out.stem)
        typer.echo("figures: " + ", ".join(str(f) for f in files))


@app.command()
@friendly
def plot(
    result: Path = typer.Argument(..., help="a NetCDF file written by 'lithmap simulate'"),
    out_dir: Optional[Path] = typer.Option(None, help="folder for the PNG files (default: beside RESULT)"),
):
    """Plot θ maps/profiles over time, a kymograph and the centre-vs-surface trace as PNG."""
    from ..io.results import read_result
    from ..report.plots import plot_simulation

    ds = read_result(result)
    missing = [v for v in ("theta", "theta_centre", "theta_surface", "theta_mean") if v not in ds]
    if missing:
        raise LithmapError(f"result {str(result)!r} lacks {missing}; is it a 'lithmap simulate' output?")
    files = plot_simulation(ds, out_dir or result.parent, prefix=result.stem)
    typer.echo("wrote " + ", ".join(str(f) for f in files))


@app.command()
@friendly
def sweep(
    radius: str = typer.Option(..., help="comma-separated radii with units, e.g. 0.5um,1um,2um"),
    alpha: str = typer.Option("1", help="comma-separated D scale factors"),
    rate: str = typer.Option(..., help="comma-separated C-rates, e.g. 0.1,0.333,1"),
    protocol: str = typer.Option("Charge at {rate} for 1 hour", help="template with {rate}"),
    out: Path = typer.Option(..., help="output NetCDF file"),
    shape: str = typer.Option("sphere", help="sphere or cylinder"),
    material: Optional[str] = typer.Option(None, help="material preset (nmc811)"),
    diffusivity: Optional[str] = typer.Option(None, help="constant D with units or CSV table"),
    theta0: float = typer.Option(0.97, help="initial lithium fraction"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Solve radius × alpha × rate particle runs together in one batch (stop times, end states)."""

    from ..io.results import check_output_path, write_result
    from ..io.units import parse_quantity
    from ..physics.materials import get_material
    from ..physics.simulate import resolve_material
    from ..physics.simulate import sweep as run_sweep

    check_output_path(out, overwrite=overwrite)
    radii = np.array([parse_quantity(v, "m", name="radius") for v in radius.split(",") if v.strip()])
    alphas = np.array([parse_quantity(v, "", name="alpha") for v in alpha.split(",") if v.strip()])
    rates = np.array([parse_quantity(v, "", name="rate") for v in rate.split(",") if v.strip()])
    d = _diffusivity_option(diffusivity)
    mat = resolve_material(get_material(material) if material else None, d)
    from ..physics.protocol import parse_protocol

    longest = None  # the slowest rate's protocol length sets the bar (sweep() validates the rates)
    if rates.size and np.all(rates > 0) and "{rate}" in protocol:
        longest = sum(st.duration or 0 for st in parse_protocol(protocol.replace("{rate}", f"{float(rates.min())!r}C")))
    with _progress(longest) as callback:
        ds = run_sweep(shape, radius=radii, alpha=alphas, rate=rates, protocol=protocol, material=mat,
                       theta0=theta0, progress=callback)
    write_result(ds, out, overwrite=overwrite)
    typer.echo(f"wrote {out}: {radii.size * alphas.size * rates.size} runs")


@app.command()
def materials():
    """List the material presets and where their numbers come from."""
    from ..physics.materials import PRESETS

    for name, factory in PRESETS.items():
        m = factory()
        typer.echo(f"{name}: alpha={m.alpha:g}, practical {m.practical_capacity} mAh/g, window {m.voltage_window} V")
        for k, v in m.provenance.items():
            typer.echo(f"  {k}: {v}")
