"""Commands of the particle engine: simulate, plot, sweep, materials. Each parses its options,
calls one public function of :mod:`lithmap` and writes the result."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer

from ..errors import LithmapError
from . import _outputs, _progress, app, friendly


def _file_inputs(*values) -> list[str]:
    """The options that name existing files (a shape or diffusivity may also be text like 'sphere:8um')."""
    return [v for v in values if v is not None and Path(v).is_file()]


@app.command()
@friendly
def simulate(
    shape: str = typer.Option(..., help="sphere:8um | cylinder:1um | disc:1um | ellipse:2umx1.2um (semi-axes) | "
                              "MASK.png | RESULT.nc (the mask of a 'lithmap contrast' result; theta on its grid) "
                              "| example"),
    protocol: list[str] = typer.Option(..., help="e.g. 'Charge at C/3 for 1 hour' (repeat or join steps with 'then')"),
    out: Path = typer.Option(..., help="output NetCDF file"),
    pixel_size: Optional[str] = typer.Option(None, help="pixel size of a mask or of the 2D output grid, e.g. 50nm"),
    material: Optional[str] = typer.Option(None, help="material preset (nmc811: Xu, Merryweather et al., Joule 2022)"),
    diffusivity: Optional[str] = typer.Option(
        None, help="constant D with units (1e-14cm^2/s) or CSV table (theta, diffusivity_m2_s)"),
    alpha: Optional[float] = typer.Option(None, help="scale factor on D (default: the material's, else 1)"),
    theta0: float = typer.Option(0.97, help="initial lithium fraction"),
    times: Optional[str] = typer.Option(None, help="output interval (10s) or comma-separated times; default automatic"),
    surface_spacing: Optional[str] = typer.Option(None, help="mesh spacing at the surface, e.g. 5nm (default refined)"),
    tol: float = typer.Option(
        1e-3, help="local error tolerance on theta per time step (global error measured <= 3e-4)"),
    stop_at_limit: bool = typer.Option(False, help="end the run when the surface empties/fills instead of failing"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
    plot: bool = typer.Option(False, help="also write the standard PNG figures beside OUT"),
):
    """Simulate lithium diffusion with D(θ) in one particle and write a NetCDF result."""
    from .. import SolverOptions, plot_simulation, protocol_duration, write_result
    from .. import simulate as run_simulation

    _outputs(out, overwrite=overwrite, inputs=_file_inputs(shape, diffusivity), figure=False)
    mesh_options = None if surface_spacing is None else {"surface_spacing": surface_spacing}
    with _progress(protocol_duration(protocol)) as callback:
        ds = run_simulation(
            shape, protocol, material=material, diffusivity=diffusivity, alpha=alpha, theta0=theta0, times=times,
            pixel_size=pixel_size, mesh_options=mesh_options, options=SolverOptions(tol=tol),
            stop_at_limit=stop_at_limit, progress=callback,
        )
    write_result(ds, out, overwrite=overwrite)
    typer.echo(
        f"wrote {out}: {ds.time.size} times to {float(ds.time[-1]):.1f} s, theta_mean "
        f"{float(ds.theta_mean[0]):.4f} -> {float(ds.theta_mean[-1]):.4f} ({ds.attrs['termination']})"
    )
    if plot:
        files = plot_simulation(ds, out.parent, prefix=out.stem)
        typer.echo("figures: " + ", ".join(str(f) for f in files))


@app.command()
@friendly
def plot(
    result: Path = typer.Argument(..., help="a NetCDF file written by 'lithmap simulate'"),
    out_dir: Optional[Path] = typer.Option(None, help="folder for the PNG files (default: beside RESULT)"),
):
    """Plot θ maps/profiles over time, a kymograph and the centre-vs-surface trace as PNG."""
    from .. import plot_simulation

    files = plot_simulation(result, out_dir or result.parent, prefix=result.stem)
    typer.echo("wrote " + ", ".join(str(f) for f in files))


@app.command()
@friendly
def sweep(
    radius: str = typer.Option(..., help="comma-separated radii with units, e.g. 0.5um,1um,2um"),
    alpha: str = typer.Option("1", help="comma-separated D scale factors"),
    rate: str = typer.Option(..., help="comma-separated C-rates, e.g. 0.1,0.333,1 or C/10,C/3,1C"),
    protocol: str = typer.Option("Charge at {rate} for 1 hour", help="template with {rate}"),
    out: Path = typer.Option(..., help="sweep.nc (one process) or sweep.zarr (Dask tasks, resumable: a rerun "
                             "computes only the missing cases)"),
    shape: str = typer.Option("sphere", help="sphere or cylinder"),
    material: Optional[str] = typer.Option(None, help="material preset (nmc811: Xu, Merryweather et al., Joule 2022)"),
    diffusivity: Optional[str] = typer.Option(None, help="constant D with units or CSV table"),
    theta0: float = typer.Option(0.97, help="initial lithium fraction"),
    tol: float = typer.Option(1e-3, help="local error tolerance on theta per time step"),
    stop_at_limit: bool = typer.Option(True, help="end a run when its surface empties/fills (else that case fails)"),
    scheduler: Optional[str] = typer.Option(None, help="with a .zarr --out: a running Dask scheduler, "
                                            "tcp://HOST:PORT"),
    workers: Optional[int] = typer.Option(None, help="with a .zarr --out: local worker processes "
                                          "(default: one per core)"),
    cases_per_task: Optional[int] = typer.Option(None, help="with a .zarr --out: cases solved in one Dask task "
                                                 "(default: ~4 tasks per worker, at most 100 cases each)"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists (a .zarr of the same sweep is resumed "
                                   "without it)"),
):
    """Solve radius × alpha × rate particle runs: in one batch into a .nc, or as Dask tasks into a .zarr store
    that a rerun completes."""
    from .. import SolverOptions

    options = SolverOptions(tol=tol)
    if out.suffix.lower() == ".zarr":
        return _sweep_distributed(out, shape, radius, alpha, rate, protocol, material, diffusivity, theta0, options,
                                  stop_at_limit, scheduler, workers, cases_per_task, overwrite)
    if scheduler is not None or workers is not None or cases_per_task is not None:
        raise LithmapError(f"--out {str(out)!r}: --scheduler, --workers and --cases-per-task need a Zarr store "
                           "(--out sweep.zarr)")
    from .. import sweep as run_sweep
    from .. import sweep_duration, write_result

    _outputs(out, overwrite=overwrite, inputs=_file_inputs(diffusivity), figure=False)
    with _progress(sweep_duration(protocol, rate)) as callback:
        ds = run_sweep(shape, radius=radius, alpha=alpha, rate=rate, protocol=protocol, material=material,
                       diffusivity=diffusivity, theta0=theta0, options=options, stop_at_limit=stop_at_limit,
                       progress=callback)
    write_result(ds, out, overwrite=overwrite)
    typer.echo(f"wrote {out}: {ds.stop_time.size} runs")


def _sweep_distributed(out, shape, radius, alpha, rate, protocol, material, diffusivity, theta0, options,
                       stop_at_limit, scheduler, workers, cases_per_task, overwrite):
    """The .zarr path of ``sweep``: Dask tasks, results in the store as they finish, a rerun resumes."""
    from ..inverse.distributed import FAILED, distributed_sweep, sweep_cases

    if out.resolve() in {Path(f).resolve() for f in _file_inputs(diffusivity)}:
        raise LithmapError(f"output {str(out)!r} would overwrite an input; choose another --out")
    with _progress(sweep_cases(radius, alpha, rate), label="sweeping", unit="cases", absolute=False) as callback:
        ds = distributed_sweep(
            out, shape, radius=radius, alpha=alpha, rate=rate, protocol=protocol, material=material,
            diffusivity=diffusivity, theta0=theta0, options=options, stop_at_limit=stop_at_limit,
            scheduler=scheduler, workers=workers,
            cases_per_task=cases_per_task, overwrite=overwrite, progress=callback, log=typer.echo,
        )
    failed = ds.status.values == FAILED
    if failed.any():
        lines = []
        for idx in zip(*np.nonzero(failed)):
            case = ds.isel(radius=idx[0], alpha=idx[1], rate=idx[2])
            lines.append(f"  radius={float(case.radius):g} m, alpha={float(case.alpha):g}, rate={float(case.rate):g}C: "
                         f"{case.failure.item()}")
        shown = "\n".join(lines[:10]) + (f"\n  ... and {len(lines) - 10} more" if len(lines) > 10 else "")
        typer.echo(f"{int(failed.sum())} of {failed.size} cases failed (recorded in {out}; a rerun retries them):\n"
                   f"{shown}", err=True)
        raise typer.Exit(1)
    typer.echo(f"wrote {out}: {ds.stop_time.size} runs")


@app.command()
def materials():
    """List the material presets and where their numbers come from."""
    from .. import describe_materials

    typer.echo(describe_materials())
