"""Commands of operando imaging: contrast, particles, movie."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer

from ..datasets import example_file
from ..errors import LithmapError
from ..io.masks import read_mask
from . import _all_or_nothing, _outputs, _progress, app, example_mask_path, friendly  # noqa: F401


@app.command()
@friendly
def contrast(
    movie: str = typer.Argument(..., help="image stack: TIFF/OME-TIFF, folder or glob of TIFF/PNG frames, "
                                          "file.h5[:/dataset], TDMS, or 'example' (synthetic, shipped)"),
    out: Path = typer.Option(..., help="output NetCDF file (.nc), or a Zarr store (.zarr) for large movies"),
    times: Optional[str] = typer.Option(None, help="frame interval, e.g. 10s (default: from the file's metadata)"),
    times_csv: Optional[Path] = typer.Option(None, help="CSV of frame time stamps (a time column, s or ISO dates)"),
    reference: Optional[int] = typer.Option(None, help="reference frame (the start of the cycle; default 0)"),
    reference_time: Optional[str] = typer.Option(None, help="reference by time instead, e.g. 5min: the frame nearest to it"),
    pixel_size: Optional[str] = typer.Option(None, help="pixel size, e.g. 50nm (x, y in m; else from the file or pixels)"),
    mask: Optional[Path] = typer.Option(None, help="particle mask image (PNG/TIFF, non-zero = particle); default: automatic"),
    line: str = typer.Option("major", help="kymograph line: major, minor, or y0,x0,y1,x1 in pixels"),
    particles: bool = typer.Option(False, help="label every particle and add per-particle traces"),
    register: bool = typer.Option(True, help="remove drift by sub-pixel phase correlation"),
    flicker: bool = typer.Option(True, help="divide out lamp/camera flicker by the background level"),
    saturation: Optional[float] = typer.Option(None, help="counts at or above which a pixel is masked "
                                                           "(default: the maximum of an integer format)"),
    log: Optional[Path] = typer.Option(None, help="cycler log recorded with the movie (.mpr, .mpt, .ndax, CSV, ...)"),
    log_offset: str = typer.Option("0s", help="the log's time at the movie's first frame, e.g. 35s"),
    mass: Optional[str] = typer.Option(None, help="active mass (with --log and --material): theta by coulomb counting"),
    rate: Optional[str] = typer.Option(None, help="constant C-rate during the movie: C/3 (charge) or -C/3 "
                                                  "(discharge); calibrates theta"),
    theta0: float = typer.Option(0.97, help="lithium fraction at the reference frame (with --rate or --log)"),
    material: Optional[str] = typer.Option(None, help="material preset: C-rate convention and theoretical capacity"),
    calibration: Optional[Path] = typer.Option(None, help="CSV with columns total_contrast, theta: a given calibration"),
    lazy: Optional[bool] = typer.Option(None, "--lazy/--in-memory",
                                        help="stream the movie in chunks (default: when it exceeds a quarter of the RAM)"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Registered intensity, total contrast I_t/I_ref - 1, mask, drift, rings, centre trace and
    kymograph of a movie; with --log the cycler's voltage and current on the movie's time axis;
    theta maps with --rate, --log --mass --material, or --calibration."""
    from ..imaging.calibration import apply_calibration, calibrate_theta, synchronise, theta_from_charge, theta_from_log
    from ..imaging.contrast import contrast_movie
    from ..imaging.profiles import parse_line
    from ..io.images import frame_times
    from ..io.results import write_result
    from ..io.units import parse_quantity

    _outputs(out, overwrite=overwrite, inputs=[movie, mask, log, times_csv, calibration], figure=False)
    if sum(x is not None for x in (rate, mass, calibration)) > 1:
        raise LithmapError("give one calibration: --rate, --mass (with --log), or --calibration")
    if times is not None and times_csv is not None:
        raise LithmapError("give the frame times once: --times or --times-csv")
    if reference is not None and reference_time is not None:
        raise LithmapError("give the reference once: --reference or --reference-time")
    profile = parse_line(line)
    stack, meta = _read_movie(movie, lazy=True)
    if lazy is None:  # the stack plus two float32 maps must fit with room to spare
        lazy = stack.nbytes * (1 + 8 / stack.dtype.itemsize) > 0.5 * _available_memory()
    if not lazy:
        stack = stack.compute()
    dt = parse_quantity(times, "s", name="times") if times is not None else None
    t = frame_times(meta, stack.shape[0], interval=dt, times_csv=times_csv)
    px = parse_quantity(pixel_size, "m", name="pixel_size") if pixel_size else meta.get("pixel_size_m")
    if reference_time is not None:
        tr = parse_quantity(reference_time, "s", name="reference_time")
        if not t[0] <= tr <= t[-1]:
            raise LithmapError(f"reference_time={reference_time!r} is outside the movie ({t[0]:g}-{t[-1]:g} s)")
        reference = int(np.argmin(np.abs(t - tr)))
    reference = 0 if reference is None else reference
    m = read_mask(mask).values if mask is not None else None
    with _progress(float(stack.shape[0] * (2 if register else 1)), label="frames", unit="", absolute=False) as advance:
        ds = contrast_movie(stack, t, reference=reference, pixel_size=px, mask=m, line=profile,
                            particles=particles, register=register, flicker=flicker, saturation=saturation,
                            progress=advance)
    if log is not None:
        from ..io.cycler import read_cycler

        ds = synchronise(ds, read_cycler(log), offset=parse_quantity(log_offset, "s", name="log_offset"))
    if rate is not None:
        from ..physics.materials import get_material
        from ..physics.protocol import _rate

        text = rate.strip()
        sign = -1.0 if text.startswith("-") else 1.0
        try:
            c, _ = _rate(text.lstrip("+-"), f"--rate {rate}")
        except LithmapError:
            c = None
        if c is None:
            raise LithmapError(f"rate={rate!r} is invalid; expected a C-rate such as C/3 (charge) or -C/3 (discharge)")
        c *= sign
        frac = get_material(material).capacity_fraction if material else 1.0
        ds = calibrate_theta(ds, theta_from_charge(t - t[reference], theta0=theta0, c_rate=c, capacity_fraction=frac))
    elif mass is not None:
        from ..physics.materials import get_material

        if log is None or material is None:
            raise LithmapError("--mass calibrates from the cycler log: give --log and --material too")
        q_full = parse_quantity(mass, "g", name="mass") * get_material(material).theoretical_capacity
        ds = calibrate_theta(ds, theta_from_log(ds, theta0=theta0, capacity_mAh=q_full))
    elif calibration is not None:
        from ..io.tables import read_columns

        _, rows = read_columns(calibration, ("total_contrast", "theta"), what="calibration table")
        ds = apply_calibration(ds, [float(r["total_contrast"]) for r in rows], [float(r["theta"]) for r in rows])
    write_result(ds, out, overwrite=overwrite)
    if ds.attrs.get("bad_frames"):
        typer.echo(f"masked {int(ds.bad_pixels.sum())} NaN or saturated pixels in {ds.attrs['bad_frames']} frames "
                   "(left out of the traces; see bad_pixels)")
    if ds.attrs.get("frames_outside_log"):
        typer.echo(f"{ds.attrs['frames_outside_log']} frames lie outside the cycler log (voltage, current NaN there)")
    typer.echo(f"wrote {out}: {ds.sizes['time']} frames, particle {int(ds['mask'].sum())} px, max drift "
               f"{float(np.abs(ds.drift).max()):.2f} px, final whole-particle intensity x{float(ds.intensity_normalised[-1]):.3f}")


def _available_memory() -> int:
    """Bytes this process may use: the smallest of the physical memory, a container (cgroup)
    limit and an address-space / data-segment limit."""
    import os
    import resource

    limits = [os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")]
    for f in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(f).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            limits.append(int(text))
    for r in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
        soft = resource.getrlimit(r)[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            limits.append(soft)
    return min(limits)


def _read_movie(movie: str, *, lazy: bool = False, require_stack: bool = True):
    """``(stack, meta)`` from any movie source, or the shipped synthetic example for 'example'."""
    from ..io.images import read_stack

    path = str(example_file("example_movie.tif")) if movie == "example" else movie
    return read_stack(path, lazy=lazy, require_stack=require_stack)


@app.command()
@friendly
def particles(
    movie: str = typer.Argument(..., help="image or stack (TIFF; the first frame is segmented), or 'example'"),
    out: Optional[Path] = typer.Option(None, help="optional CSV of the particle table"),
    min_area: int = typer.Option(20, help="smallest particle, pixels"),
    pixel_size: Optional[str] = typer.Option(None, help="pixel size, e.g. 50nm"),
    exclude_edge: bool = typer.Option(False, help="drop particles touching the image border"),
):
    """Segment the particles of a field of view and print their table."""
    from ..imaging.regions import find_particles
    from ..io.units import parse_quantity

    if out is not None:

        _outputs(out, overwrite=False, inputs=[movie], figure=False)
    stack, meta = _read_movie(movie, lazy=True, require_stack=False)
    frame = np.asarray(stack[0] if stack.ndim == 3 else stack)
    px = parse_quantity(pixel_size, "m", name="pixel_size") if pixel_size else meta.get("pixel_size_m")
    _, table = find_particles(frame, min_area=min_area, exclude_edge=exclude_edge, pixel_size=px)
    unit = "um" if px else "px"
    scale = 1e6 if px else 1.0
    for k in range(table.sizes["particle"]):
        typer.echo(f"particle {k + 1}: area {int(table.area_px[k])} px, equivalent diameter "
                   f"{float(table.equivalent_diameter[k]) * scale:.3g} {unit}, centroid "
                   f"({float(table.centroid_y[k]):.1f}, {float(table.centroid_x[k]):.1f}) px"
                   f"{', touches the edge' if table.touches_edge[k] else ''}")
    if out is not None:
        from ..io.tables import write_table

        cols = list(table.data_vars)
        write_table(out, ["particle"] + cols,
                    ([str(int(table.particle.values[k]))] + [table[c].values[k] for c in cols]
                     for k in range(table.sizes["particle"])))
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
    """Contrast frames with a centred diverging scale, a µm scale bar, and the trace (and the
    cell voltage, when a log was synchronised) beneath."""
    from ..io.results import read_result
    from ..report.movie import write_movie

    _outputs(out, overwrite=overwrite, inputs=[result], figure=False)
    write_movie(read_result(result), out, fps=fps, max_frames=max_frames)
    typer.echo(f"wrote {out}")
