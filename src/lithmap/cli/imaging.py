"""Commands of operando imaging: contrast, particles, movie. Each parses its options, calls one
public function (lithmap.analyse_movie, lithmap.particle_table, write_movie) and writes."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from ..errors import LithmapError
from . import _outputs, _progress, app, friendly, with_unit


@app.command()
@friendly
def contrast(
    movie: str = typer.Argument(..., help="image stack: TIFF/OME-TIFF, folder or glob of TIFF/PNG frames, "
                                          "file.h5[:/dataset], TDMS, or 'example' (synthetic, shipped)"),
    out: Path = typer.Option(..., help="output NetCDF file (.nc), or a Zarr store (.zarr) for large movies"),
    times: Optional[str] = typer.Option(None, help="frame interval, e.g. 10s (default: from the file's metadata)"),
    times_csv: Optional[Path] = typer.Option(None, help="CSV of frame time stamps (a time column, s or ISO dates)"),
    reference: Optional[int] = typer.Option(None, help="reference frame (the start of the cycle; default 0)"),
    reference_time: Optional[str] = typer.Option(None, help="reference by time instead, e.g. 5min: the frame "
                                                             "nearest to it"),
    pixel_size: Optional[str] = typer.Option(None, help="pixel size, e.g. 50nm (x, y in m; else from the file or "
                                                        "pixels)"),
    mask: Optional[Path] = typer.Option(None, help="particle mask image (PNG/TIFF, or a contrast result; above half "
                                                   "its maximum = particle); default: automatic"),
    line: str = typer.Option("major", help="kymograph line: major, minor, or y0,x0,y1,x1 in pixels"),
    particles: bool = typer.Option(False, help="label every particle and add per-particle traces"),
    register: bool = typer.Option(True, help="remove drift by sub-pixel phase correlation"),
    flicker: bool = typer.Option(True, help="divide out lamp/camera flicker by the background level"),
    saturation: Optional[float] = typer.Option(None, help="counts at or above which a pixel is masked "
                                                           "(default: the maximum of an integer format)"),
    log: Optional[Path] = typer.Option(None, help="cycler log recorded with the movie (.mpr, .mpt, .ndax, CSV, ...)"),
    log_offset: str = typer.Option("0s", help="the log's time at the movie's first frame, e.g. 35s"),
    mass: Optional[str] = typer.Option(None, help="active mass, e.g. 5.1mg (a bare number is in g; with --log and "
                                                  "--material): theta by coulomb counting"),
    rate: Optional[str] = typer.Option(None, help="constant C-rate during the movie: C/3 (charge) or -C/3 "
                                                  "(discharge); calibrates theta"),
    theta0: float = typer.Option(0.97, help="lithium fraction at the reference frame (with --rate or --log)"),
    material: Optional[str] = typer.Option(None, help="material preset: C-rate convention and theoretical capacity"),
    calibration: Optional[Path] = typer.Option(None, help="CSV with columns total_contrast, theta: a given "
                                                          "calibration"),
    lazy: Optional[bool] = typer.Option(None, "--lazy/--in-memory",
                                        help="stream the movie in chunks (default: when it and its maps would take "
                                             "more than half of the memory)"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Total-contrast maps (I_t/I_ref - 1) and traces of an operando movie.

    Registered intensity, total contrast, mask, drift, rings, centre trace and kymograph of a
    movie (Xu, Merryweather et al., Joule 2022); with --log the cycler's voltage and current on
    the movie's time axis; theta maps with --rate, --log --mass --material, or --calibration
    (lithmap.analyse_movie)."""
    from ..imaging.analyse import analyse_movie
    from ..io.results import write_result

    _outputs(out, overwrite=overwrite, inputs=[movie, mask, log, times_csv, calibration], figure=False)
    if times is not None and times_csv is not None:
        raise LithmapError("give the frame times once: --times or --times-csv")
    with contextlib.ExitStack() as bars:
        ds = analyse_movie(movie, times=times_csv if times_csv is not None else times, pixel_size=pixel_size,
                           reference=reference, reference_time=reference_time, mask=mask, line=line,
                           particles=particles, register=register, flicker=flicker, saturation=saturation,
                           log=log, log_offset=log_offset, rate=rate, theta0=theta0, material=material,
                           mass=with_unit(mass, "g"),
                           calibration=calibration, lazy=lazy, progress=_bar(bars, "frames"))
    write_result(ds, out, overwrite=overwrite)
    if ds.attrs.get("bad_frames"):
        typer.echo(f"masked {int(ds.bad_pixels.sum())} NaN or saturated pixels in {ds.attrs['bad_frames']} frames "
                   "(left out of the traces; see bad_pixels)")
    if ds.attrs.get("frames_outside_log"):
        typer.echo(f"{ds.attrs['frames_outside_log']} frames lie outside the cycler log (voltage, current NaN there)")
    typer.echo(f"wrote {out}: {ds.sizes['time']} frames, particle {int(ds['mask'].sum())} pixels, max drift "
               f"{float(np.abs(ds.drift).max()):.2f} pixels, final whole-particle intensity "
               f"x{float(ds.intensity_normalised[-1]):.3f}")


def _bar(stack: contextlib.ExitStack, label: str):
    """A ``progress(done, total)`` callback that opens a progress bar (terminals only) on first use."""
    state = {}

    def progress(done, total):
        if "update" not in state:
            state["update"] = stack.enter_context(_progress(float(total), label=label, unit="", absolute=True))
        if state["update"] is not None:
            state["update"](done)

    return progress


@app.command()
@friendly
def particles(
    movie: str = typer.Argument(..., help="image or stack (TIFF; the first frame is segmented), or 'example'"),
    out: Optional[Path] = typer.Option(None, help="optional CSV of the particle table"),
    min_area: int = typer.Option(20, help="smallest particle, pixels"),
    pixel_size: Optional[str] = typer.Option(None, help="pixel size, e.g. 50nm"),
    exclude_edge: bool = typer.Option(False, help="drop particles touching the image border"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Segment the particles of a field of view and print their table (lithmap.particle_table)."""
    from ..imaging.analyse import particle_table, write_particle_table

    if out is not None:
        _outputs(out, overwrite=overwrite, inputs=[movie], figure=False)
    table = particle_table(movie, min_area=min_area, exclude_edge=exclude_edge, pixel_size=pixel_size)
    in_m = table.equivalent_diameter.attrs.get("units") == "m"
    unit, scale = ("um", 1e6) if in_m else ("pixels", 1.0)
    for k in range(table.sizes["particle"]):
        typer.echo(f"particle {k + 1}: area {int(table.pixel_count[k])} pixels, equivalent diameter "
                   f"{float(table.equivalent_diameter[k]) * scale:.3g} {unit}, centroid "
                   f"({float(table.centroid_y[k]):.1f}, {float(table.centroid_x[k]):.1f}) pixels"
                   f"{', touches the edge' if table.touches_edge[k] else ''}")
    if out is not None:
        write_particle_table(table, out)
        typer.echo(f"wrote {out}")


@app.command()
@friendly
def movie(
    result: Path = typer.Argument(..., help="a NetCDF file (or .zarr) written by 'lithmap contrast'"),
    out: Path = typer.Option(..., help="output .gif (or .mp4 with ffmpeg installed)"),
    fps: float = typer.Option(5.0, help="frames per second"),
    max_frames: int = typer.Option(300, help="at most this many frames, evenly picked"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """A GIF (or MP4) of the contrast frames of a 'lithmap contrast' result.

    Contrast frames with a centred diverging scale, a µm scale bar, and the trace (and the cell
    voltage, when a log was synchronised) beneath."""
    from ..report.movie import write_movie

    _outputs(out, overwrite=overwrite, inputs=[result], figure=False)
    write_movie(result, out, fps=fps, max_frames=max_frames)
    typer.echo(f"wrote {out}")
