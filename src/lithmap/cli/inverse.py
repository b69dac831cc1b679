"""Commands of the inverse problem: fit (the particle model fitted to an operando movie)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

import typer

from ..errors import LithmapError
from . import _all_or_nothing, _outputs, _progress, app, friendly

#: What ``lithmap fit --fit`` can fit.
FIT_KINDS = ("alpha", "diffusivity", "kinetics")


@app.command()
@friendly
def fit(
    results: list[Path] = typer.Argument(..., help=(
        "a NetCDF file written by 'lithmap contrast' (with --particles: 'lithmap contrast FIELD --particles'); "
        "several: each movie fitted as a Dask task, a table on dim movie")),
    out: Path = typer.Option(..., help="output NetCDF file (the figures are written beside it); with --particles "
                                       "or several results also a Zarr store (.zarr: written as tasks finish, a "
                                       "rerun resumes)"),
    material: Optional[str] = typer.Option(None, help="material preset (nmc811: Xu, Merryweather et al., Joule 2022)"),
    diffusivity: Optional[str] = typer.Option(
        None, help="constant D with units (1e-14cm^2/s) or CSV table (theta, diffusivity_m2_s)"),
    rate: Optional[str] = typer.Option(None, help="constant C-rate of the movie: C/3 (charge) or -C/3 (discharge); "
                                                  "default the rate the contrast result was calibrated with"),
    protocol: Optional[str] = typer.Option(None, help="the movie's protocol instead of --rate, e.g. 'Discharge at 1C "
                                                      "until 3.0 V then Hold at 3.0 V for 2 hours'"),
    log: Optional[Path] = typer.Option(None, help="cycler log of the movie: the protocol is its measured current"),
    log_offset: str = typer.Option("0s", help="the log's time at the movie's first frame, e.g. 35s (as for "
                                              "'lithmap contrast')"),
    mass: Optional[str] = typer.Option(None, help="active mass with --log, with units, e.g. 2.1mg"),
    theta0: Optional[float] = typer.Option(None, help="theta at the reference frame (default: the result's)"),
    what: str = typer.Option("alpha", "--fit", help="what to fit: alpha, diffusivity (D(theta) over knots) or "
                                                    "kinetics (D(theta) and an exchange-current scale)"),
    psf: str = typer.Option("auto", help="FWHM of the Gaussian point-spread function, e.g. 150nm; 'auto': "
                                         "estimated from the particle edge; 0: none"),
    calibration: str = typer.Option("fit", help="fit: the optical law fitted jointly (monotone); result: the "
                                                "contrast result's calibrated theta"),
    knots: int = typer.Option(6, help="theta knots of the fitted D(theta) (with --fit diffusivity/kinetics)"),
    figures: bool = typer.Option(True, help="write the model-vs-movie figures beside OUT (with --particles or "
                                            "several results: alpha per particle or movie, and against size)"),
    overwrite: bool = typer.Option(False, help="replace OUT (and its figures) if they exist"),
    particles: bool = typer.Option(False, "--particles", help="fit every labelled particle of the field, each on its "
                                                              "own outline, as Dask tasks: a table on dim particle"),
    scheduler: Optional[str] = typer.Option(None, help="with --particles or several results: a running Dask "
                                                       "scheduler, tcp://HOST:PORT"),
    workers: Optional[int] = typer.Option(None, help="with --particles or several results: local worker processes "
                                                     "(default: one per core)"),
    min_pixels: int = typer.Option(30, help="with --particles: smaller particles are recorded as not fitted"),
):
    """Fit α on D(θ), the whole D(θ), or D(θ) and j0, so the simulated particle matches a contrast result.

    With --particles, every particle of a field (lithmap fit_particles): α (and D(θ)) per particle
    with 95 % intervals, its size and centroid, which particles lag and whether α follows size
    (Xu, Merryweather et al., Joule 2022, fig. S7).

    With several results, every movie (lithmap fit_movies), each one Dask task: the same table on
    dim movie, with alpha per movie and against size drawn beside OUT."""
    from .. import fit_alpha, fit_diffusivity, write_result

    if what not in FIT_KINDS:
        raise LithmapError(f"--fit {what!r} is invalid; expected one of {list(FIT_KINDS)}")
    if len(results) > 1:
        if particles:
            raise LithmapError("--particles fits the particles of one field; give one FIELD result, or leave out "
                               "--particles to fit several movies")
        return _fit_movies(results, out, material=material, diffusivity=diffusivity, rate=rate, protocol=protocol,
                           log=log, mass=mass, theta0=theta0, what=what, psf=psf, calibration=calibration,
                           knots=knots, figures=figures, overwrite=overwrite, scheduler=scheduler, workers=workers)
    (result,) = results
    if particles:
        return _fit_particles(result, out, material=material, diffusivity=diffusivity, rate=rate, protocol=protocol,
                              log=log, mass=mass, theta0=theta0, what=what, psf=psf, calibration=calibration,
                              knots=knots, figures=figures, overwrite=overwrite, scheduler=scheduler, workers=workers,
                              min_pixels=min_pixels)
    if scheduler is not None or workers is not None:
        raise LithmapError("--scheduler and --workers go with --particles (a field of particles fitted as Dask tasks) "
                           "or several results (movies fitted as Dask tasks)")
    if material is None and diffusivity is None:
        raise LithmapError("give --material NAME or --diffusivity TABLE.csv|VALUE")
    if mass is not None and log is None:
        raise LithmapError("--mass goes with --log (the cycler log whose current is the protocol)")
    if log is not None and mass is None:
        raise LithmapError("--log needs --mass (the active mass turns the current into a C-rate)")
    inputs = [result, log] + ([diffusivity] if diffusivity is not None and Path(diffusivity).is_file() else [])
    _outputs(out, overwrite=overwrite, inputs=inputs, figure=False)
    if figures:
        from ..report.fit_figures import FIGURES

        for key in FIGURES:
            _outputs(out.with_name(f"{out.stem}_{key}.png"), overwrite=overwrite, inputs=inputs, figure=False)
    common = dict(material=material, diffusivity=diffusivity, rate=rate, protocol=protocol, log=log,
                  log_offset=log_offset, mass=mass, theta0=theta0, psf=None if psf in ("0", "none") else psf,
                  calibration=calibration)
    label = {"alpha": "fitting alpha", "diffusivity": "fitting D(theta)", "kinetics": "fitting D(theta) and j0"}
    with _progress(21.0 if what == "alpha" else 21.0 + 8 * (knots + 2), label=label[what],
                   unit="simulations") as bar:
        tick = None if bar is None else (lambda done, total: bar(done))
        if what == "alpha":
            ds = fit_alpha(result, progress=tick, **common)
        else:
            ds = fit_diffusivity(result, n_knots=knots, kinetics=what == "kinetics", progress=tick, **common)
    write_result(ds, out, overwrite=overwrite)
    with _all_or_nothing(out):
        written = []
        if figures:
            from .. import plot_fit

            written = plot_fit(ds, out.with_suffix(""), overwrite=overwrite)
    text = (f"wrote {out}: alpha = {float(ds.alpha):.4g} (95 % {float(ds.alpha_low):.4g} to "
            f"{float(ds.alpha_high):.4g})")
    if "diffusivity" in ds:
        d = ds["diffusivity"]
        text += (f"; D(theta) {float(d.min()):.3g} to {float(d.max()):.3g} m^2/s over theta "
                 f"{float(ds.theta[0]):.3g}-{float(ds.theta[-1]):.3g} ({ds.attrs['status']})")
    if "exchange_current_scale" in ds:
        text += (f"; j0 x {float(ds.exchange_current_scale):.3g} (95 % {float(ds.exchange_current_scale_low):.3g} "
                 f"to {float(ds.exchange_current_scale_high):.3g})")
    text += f"; misfit {float(ds.misfit):.3g} over {ds.attrs['n_data']} pixel-frames"
    if "diffusivity" in ds:
        text += f" at the fitted D(theta) ({float(ds.misfit_curve.min()):.3g} with alpha alone)"
    typer.echo(text)
    for path in written:
        typer.echo(f"wrote {path}")


#: What the table paths of ``fit`` are called in their messages, and how their cycler log is given.
_TABLE_PATHS = {
    "particle": ("with --particles", "synchronise the log with 'lithmap contrast FIELD --particles --log ...' (its "
                                     "current is then the protocol of every particle)"),
    "movie": ("with several results", "synchronise each log with 'lithmap contrast MOVIE --log ...' (its current "
                                      "is then the movie's protocol)"),
}


def _table_checks(dim, results, out, *, what, log, mass, calibration, material, diffusivity, figures, overwrite):
    """The option and output checks of the table paths of ``fit`` (``dim`` particle: --particles; movie: several
    results), before any work. Returns OUT's suffix and whether the figures are replaced (those of a .zarr store
    are its products, redrawn on every run of the same store; a .nc's are new files)."""
    from ..inverse.particles import PARTICLE_FITS
    from ..report.field_figures import figure_paths

    where, synchronise = _TABLE_PATHS[dim]
    if what not in PARTICLE_FITS:
        raise LithmapError(f"--fit {what!r} is invalid {where}; expected one of {list(PARTICLE_FITS)}")
    if log is not None or mass is not None:
        raise LithmapError(f"--log and --mass do not go {where}: {synchronise}")
    if dim == "particle" and calibration != "fit":
        raise LithmapError("--calibration result does not go with --particles: the optical law is fitted on each "
                           "particle")
    if material is None and diffusivity is None:
        raise LithmapError("give --material NAME or --diffusivity TABLE.csv|VALUE")
    suffix = out.suffix.lower()
    if suffix not in (".zarr", ".nc"):
        raise LithmapError(f"--out {str(out)!r} is invalid {where}; expected a .zarr store or a .nc file")
    inputs = list(results) + ([diffusivity] if diffusivity is not None and Path(diffusivity).is_file() else [])
    if suffix == ".nc":
        _outputs(out, overwrite=overwrite, inputs=inputs, figure=False)
    elif out.resolve() in {Path(str(i)).resolve() for i in inputs}:
        raise LithmapError(f"output {str(out)!r} would overwrite an input; choose another --out")
    replace_figures = overwrite or suffix == ".zarr"
    if figures and not replace_figures:
        for path in figure_paths(out, dim):
            _outputs(path, overwrite=False, inputs=inputs, figure=False)
    return suffix, replace_figures


def _fit_particles(result, out, *, material, diffusivity, rate, protocol, log, mass, theta0, what, psf, calibration,
                   knots, figures, overwrite, scheduler, workers, min_pixels):
    """The --particles path of ``fit``: one Dask task per particle; a .zarr OUT resumes, a .nc OUT is written once."""
    import numpy as np

    from ..inverse.particles import fit_particles
    from ..io.results import write_result
    from ..report.field_figures import plot_particle_fits

    suffix, replace_figures = _table_checks("particle", [result], out, what=what, log=log, mass=mass,
                                            calibration=calibration, material=material, diffusivity=diffusivity,
                                            figures=figures, overwrite=overwrite)
    common = dict(what=what, material=material, diffusivity=diffusivity, rate=rate, protocol=protocol, theta0=theta0,
                  psf=None if psf in ("0", "none") else psf, n_knots=knots, min_pixels=min_pixels,
                  scheduler=scheduler, workers=workers, log=typer.echo)
    count = None
    if result.exists():
        from ..io.results import read_result

        try:
            labels = np.asarray(read_result(result)["particle"].values)
            count = int(np.sum(np.unique(labels) > 0))
        except Exception:  # noqa: BLE001 - fit_particles says what is wrong with the result
            count = None
    with _progress(count, label="fitting particles", unit="particles", absolute=False) as bar:
        if suffix == ".zarr":
            ds = fit_particles(result, out, overwrite=overwrite, progress=bar, **common)
        else:
            ds = fit_particles(result, progress=bar, **common)
            write_result(ds, out, overwrite=overwrite)
    written = []
    with _all_or_nothing(out) if suffix == ".nc" else contextlib.nullcontext():
        if figures:
            written = plot_particle_fits(ds, out, overwrite=replace_figures)
    ok = _echo_table(ds, "particle", out, lambda k: f"particle {int(k)}")
    for path in written:
        typer.echo(f"wrote {path}")
    if not ok.any():
        raise typer.Exit(1)


def _echo_table(ds, dim: str, out, name_of):
    """Print one line per row of a table of fits (on ``dim``) and the summary; the rows fitted."""
    from ..inverse.distributed import COMPUTED

    ok = ds["status"].values == COMPUTED
    for i, k in enumerate(ds[dim].values):
        if ok[i]:
            lag = ", lags" if int(ds["lagging"][i]) else ""
            typer.echo(f"{name_of(k)}: alpha = {float(ds.alpha[i]):.4g} (95 % {float(ds.alpha_low[i]):.4g} to "
                       f"{float(ds.alpha_high[i]):.4g}), radius {float(ds.equivalent_radius[i]) * 1e6:.3g} um{lag}")
        else:
            typer.echo(f"{name_of(k)}: not fitted ({ds['failure'].values[i]})", err=True)
    typer.echo(f"wrote {out}: {int(ok.sum())} of {ok.size} {dim}s fitted; median alpha "
               f"{ds.attrs.get('alpha_median', float('nan')):.4g}; {ds.attrs.get('interpretation', '')}")
    return ok


def _fit_movies(results, out, *, material, diffusivity, rate, protocol, log, mass, theta0, what, psf, calibration,
                knots, figures, overwrite, scheduler, workers):
    """``fit`` of several results: one Dask task per movie; a .zarr OUT resumes, a .nc OUT is written once."""
    from ..inverse.particles import fit_movies
    from ..io.results import write_result
    from ..report.field_figures import plot_particle_fits

    suffix, replace_figures = _table_checks("movie", results, out, what=what, log=log, mass=mass,
                                            calibration=calibration, material=material, diffusivity=diffusivity,
                                            figures=figures, overwrite=overwrite)
    common = dict(what=what, material=material, diffusivity=diffusivity, rate=rate, protocol=protocol, theta0=theta0,
                  psf=None if psf in ("0", "none") else psf, calibration=calibration, n_knots=knots,
                  scheduler=scheduler, workers=workers, log=typer.echo)
    with _progress(len(results), label="fitting movies", unit="movies", absolute=False) as bar:
        if suffix == ".zarr":
            ds = fit_movies(results, out, overwrite=overwrite, progress=bar, **common)
        else:
            ds = fit_movies(results, progress=bar, **common)
            write_result(ds, out, overwrite=overwrite)
    written = []
    with _all_or_nothing(out) if suffix == ".nc" else contextlib.nullcontext():
        if figures:
            written = plot_particle_fits(ds, out, overwrite=replace_figures)
    ok = _echo_table(ds, "movie", out, str)
    for path in written:
        typer.echo(f"wrote {path}")
    if not ok.any():
        raise typer.Exit(1)
