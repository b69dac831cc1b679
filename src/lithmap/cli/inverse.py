"""Commands of the inverse problem: fit (the particle model fitted to an operando movie)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import LithmapError
from . import _outputs, _progress, app, friendly


@app.command()
@friendly
def fit(
    result: Path = typer.Argument(..., help="a NetCDF file written by 'lithmap contrast' with a calibrated theta"),
    out: Path = typer.Option(..., help="output NetCDF file"),
    material: Optional[str] = typer.Option(None, help="material preset (nmc811: Xu, Merryweather et al., Joule 2022)"),
    diffusivity: Optional[str] = typer.Option(
        None, help="constant D with units (1e-14cm^2/s) or CSV table (theta, diffusivity_m2_s)"),
    rate: Optional[str] = typer.Option(None, help="constant C-rate of the movie: C/3 (charge) or -C/3 (discharge)"),
    log: Optional[Path] = typer.Option(None, help="cycler log of the movie (not available yet)"),
    mass: Optional[str] = typer.Option(None, help="active mass with --log (not available yet)"),
    theta0: Optional[float] = typer.Option(None, help="theta at the reference frame (default: the result's)"),
    what: str = typer.Option("alpha", "--fit", help="what to fit: alpha (diffusivity, kinetics: not available yet)"),
    psf: Optional[str] = typer.Option(None, help="FWHM of the Gaussian point-spread function, e.g. 150nm"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Fit the scale factor α on D(θ) so the simulated particle matches a contrast result's θ maps."""
    from .. import fit_alpha, write_result

    if what != "alpha":
        if what in ("diffusivity", "kinetics"):
            raise LithmapError(f"--fit {what} is not available yet; use --fit alpha")
        raise LithmapError(f"--fit {what!r} is invalid; expected alpha (diffusivity, kinetics: not available yet)")
    if log is not None or mass is not None:
        raise LithmapError("--log/--mass (the protocol from the cycler log) is not available yet; give --rate")
    if rate is None:
        raise LithmapError("give the movie's C-rate with --rate (e.g. --rate C/3)")
    if material is None and diffusivity is None:
        raise LithmapError("give --material NAME or --diffusivity TABLE.csv|VALUE")
    inputs = [result] + ([diffusivity] if diffusivity is not None and Path(diffusivity).is_file() else [])
    _outputs(out, overwrite=overwrite, inputs=inputs, figure=False)
    with _progress(29.0, label="fitting alpha", unit="simulations") as bar:
        ds = fit_alpha(result, material=material, diffusivity=diffusivity, rate=rate, theta0=theta0, psf=psf,
                       progress=None if bar is None else (lambda done, total: bar(done)))
    write_result(ds, out, overwrite=overwrite)
    typer.echo(f"wrote {out}: alpha = {float(ds.alpha):.4g} (95 % {float(ds.alpha_low):.4g} to "
               f"{float(ds.alpha_high):.4g}), misfit {float(ds.misfit):.3g} over {ds.attrs['n_data']} pixel-frames")
