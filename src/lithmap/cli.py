"""The ``lithmap`` command line. Each command parses options, calls one public function and
writes its result; bad input prints one line and exits with status 2, writing nothing."""

from __future__ import annotations

import contextlib
import functools
import sys
from importlib import resources
from pathlib import Path
from typing import List, Optional

import typer

import numpy as np

from .errors import LithmapError, SolverError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="lithmap: lithium heterogeneity inside single battery-cathode particles.",
)

EXAMPLE_PIXEL_SIZE = 50e-9


def _fail(message: str, code: int = 2):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def friendly(func):
    """Turn lithmap's input errors into one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except LithmapError as exc:
            _fail(str(exc).splitlines()[0])
        except SolverError as exc:
            _fail(f"solver failed: {exc}", code=3)

    return wrapper


def example_mask_path() -> Path:
    """Path of the example particle outline shipped with lithmap (50 nm pixels)."""
    return Path(str(resources.files("lithmap") / "data" / "example_particle.png"))


@contextlib.contextmanager
def _progress(total: float | None, *, label: str = "simulating", unit: str = "s", absolute: bool = True):
    """A rich progress bar (terminals only); yields a callback taking the progress so far
    (``absolute``) or an increment, or None when no bar is shown."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if not sys.stderr.isatty() or not total:
        yield None
        return
    prog = Progress(TextColumn(label), BarColumn(), TextColumn(f"{{task.completed:.0f}}/{{task.total:.0f}} {unit}"),
                    TimeElapsedColumn(), transient=True)
    task = prog.add_task(label, total=total)
    with prog:
        if absolute:
            yield lambda t: prog.update(task, completed=min(t, total))
        else:
            yield lambda d: prog.advance(task, d)


def _outputs(out: Path, *, overwrite: bool, inputs=(), figure: bool = True) -> Path | None:
    """Check the output and its figure (OUT with .png) before any work: neither may exist unless
    ``overwrite``, and neither may be one of the ``inputs``. Returns the figure path."""
    from .io.results import check_output_path

    given = {Path(str(i).split(".h5:")[0]).resolve() for i in inputs if i is not None}
    paths = [out] + ([out.with_suffix(".png")] if figure else [])
    for p in paths:
        if p.resolve() in given:
            raise LithmapError(f"output {str(p)!r} would overwrite an input; choose another --out")
        check_output_path(p, overwrite=overwrite)
    return paths[1] if figure else None


@contextlib.contextmanager
def _all_or_nothing(out: Path):
    """Remove ``out`` again when what follows its writing (a figure) fails."""
    try:
        yield
    except BaseException:
        if out.is_dir():
            import shutil

            shutil.rmtree(out, ignore_errors=True)
        elif out.exists():
            out.unlink()
        raise


def _times(spec: Optional[str]):
    """'10s' → every 10 s; '0,60,120' → those times; None → automatic."""
    import numpy as np

    from .units import parse_quantity

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
    from .units import parse_quantity

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
    protocol: List[str] = typer.Option(..., help="e.g. 'Charge at C/3 for 1 hour' (repeat or join steps with 'then')"),
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

    from .io.results import check_output_path, write_result
    from .physics.engine import SolverOptions
    from .physics.geometry import from_mask, parse_shape
    from .physics.materials import get_material
    from .physics.protocol import parse_protocol
    from .physics.simulate import resolve_material
    from .physics.simulate import simulate as run_simulation
    from .units import parse_quantity

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
        from .report.plots import plot_simulation

        files = plot_simulation(ds, out.parent, prefix=out.stem)
        typer.echo("figures: " + ", ".join(str(f) for f in files))


@app.command()
@friendly
def plot(
    result: Path = typer.Argument(..., help="a NetCDF file written by 'lithmap simulate'"),
    out_dir: Optional[Path] = typer.Option(None, help="folder for the PNG files (default: beside RESULT)"),
):
    """Plot θ maps/profiles over time, a kymograph and the centre-vs-surface trace as PNG."""
    from .io.results import read_result
    from .report.plots import plot_simulation

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
    import numpy as np

    from .io.results import check_output_path, write_result
    from .physics.materials import get_material
    from .physics.simulate import resolve_material
    from .physics.simulate import sweep as run_sweep
    from .units import parse_quantity

    check_output_path(out, overwrite=overwrite)
    radii = np.array([parse_quantity(v, "m", name="radius") for v in radius.split(",") if v.strip()])
    alphas = np.array([parse_quantity(v, "", name="alpha") for v in alpha.split(",") if v.strip()])
    rates = np.array([parse_quantity(v, "", name="rate") for v in rate.split(",") if v.strip()])
    d = _diffusivity_option(diffusivity)
    mat = resolve_material(get_material(material) if material else None, d)
    from .physics.protocol import parse_protocol

    longest = None  # the slowest rate's protocol length sets the bar (sweep() validates the rates)
    if rates.size and np.all(rates > 0) and "{rate}" in protocol:
        longest = sum(st.duration or 0 for st in parse_protocol(protocol.replace("{rate}", f"{float(rates.min())!r}C")))
    with _progress(longest) as callback:
        ds = run_sweep(shape, radius=radii, alpha=alphas, rate=rates, protocol=protocol, material=mat,
                       theta0=theta0, progress=callback)
    write_result(ds, out, overwrite=overwrite)
    typer.echo(f"wrote {out}: {radii.size * alphas.size * rates.size} runs")


@app.command()
@friendly
def gitt(
    files: List[Path] = typer.Argument(..., help="GITT record: CSV files (one or more pulses each, joined by time) or one cycler file"),
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
    from .echem.gitt import analyse_gitt, read_gitt_csv, write_gitt_csv
    from .report.plots import plot_gitt
    from .units import parse_quantity

    figure = _outputs(out, overwrite=overwrite, inputs=files)
    r = parse_quantity(radius, "m", name="radius")
    lo, _, hi = fit_window.partition(":")
    window = (parse_quantity(lo, "s", name="fit_window"), parse_quantity(hi, "s", name="fit_window"))
    cap = parse_quantity(capacity, "mA*h", name="capacity") if capacity is not None else None
    step = None
    if all(Path(f).suffix.lower() == ".csv" for f in files):
        t, e, i = read_gitt_csv(files, time_column=time_column, voltage_column=column, current_column=current_column)
    elif len(files) == 1:  # a cycler's own file (BioLogic, Neware, ...): pulses from its step index
        from .io.cycler import read_cycler

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
    from .echem.cycling import analyse_cycles, write_cycles_csv
    from .io.cycler import read_cycler
    from .report.plots import plot_cycler
    from .units import parse_quantity

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
    from .echem.gitt import write_gitt_csv
    from .echem.pitt import analyse_pitt
    from .io.cycler import read_cycler
    from .units import parse_quantity

    _outputs(out, overwrite=overwrite, inputs=[file], figure=False)
    rec = read_cycler(file)
    ds = analyse_pitt(rec.time.values, rec.voltage.values, rec.current.values,
                      radius=parse_quantity(radius, "m", name="radius"))
    write_gitt_csv(ds, out)
    d = ds.diffusivity_m2_s.values
    typer.echo(f"wrote {out}: {ds.sizes['step']} steps, D {np.nanmin(d):.3g}-{np.nanmax(d):.3g} m^2/s, "
               f"{int(sum(bool(f) for f in ds.flags.values))} flagged")


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
    from .imaging.calibration import apply_calibration, calibrate_theta, synchronise, theta_from_charge, theta_from_log
    from .imaging.contrast import contrast_movie
    from .imaging.profiles import parse_line
    from .io.images import frame_times
    from .io.results import write_result
    from .units import parse_quantity

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
    m = _read_mask(mask, image=True) if mask is not None else None
    with _progress(float(stack.shape[0] * (2 if register else 1)), label="frames", unit="", absolute=False) as advance:
        ds = contrast_movie(stack, t, reference=reference, pixel_size=px, mask=m, line=profile,
                            particles=particles, register=register, flicker=flicker, saturation=saturation,
                            progress=advance)
    if log is not None:
        from .io.cycler import read_cycler

        ds = synchronise(ds, read_cycler(log), offset=parse_quantity(log_offset, "s", name="log_offset"))
    if rate is not None:
        from .physics.materials import get_material
        from .physics.protocol import _rate

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
        from .physics.materials import get_material

        if log is None or material is None:
            raise LithmapError("--mass calibrates from the cycler log: give --log and --material too")
        q_full = parse_quantity(mass, "g", name="mass") * get_material(material).theoretical_capacity
        ds = calibrate_theta(ds, theta_from_log(ds, theta0=theta0, capacity_mAh=q_full))
    elif calibration is not None:
        from .io.tables import read_columns

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


def _read_mask(path: Path, *, image: bool = False) -> np.ndarray:
    """A mask image or volume (non-zero = inside); ``image`` requires one 2D image."""
    from .io.images import read_stack

    img, _ = read_stack(path, require_stack=False)
    if image and img.ndim != 2:
        raise LithmapError(f"mask {str(path)!r} has shape {img.shape}; expected one 2D image")
    return np.asarray(img) > 0


def _read_movie(movie: str, *, lazy: bool = False, require_stack: bool = True):
    """``(stack, meta)`` from any movie source, or the shipped synthetic example for 'example'."""
    from .io.images import read_stack

    path = str(resources.files("lithmap") / "data" / "example_movie.tif") if movie == "example" else movie
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
    from .imaging.regions import find_particles
    from .units import parse_quantity

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
        from .io.tables import write_table

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
    from .io.results import read_result
    from .report.movie import write_movie

    _outputs(out, overwrite=overwrite, inputs=[result], figure=False)
    write_movie(read_result(result), out, fps=fps, max_frames=max_frames)
    typer.echo(f"wrote {out}")


@app.command()
@friendly
def lcf(
    samples: List[str] = typer.Argument(..., help="spectrum files (XDI, file.prj[:GROUP], two-column text), a TIFF "
                                                  "stack with --energies, or NetCDF/HDF5 with 'absorbance' (energy, y, x)"),
    standard: List[str] = typer.Option(..., help="FILE:VALENCE, once per standard, e.g. MnO.xdi:2"),
    out: Path = typer.Option(..., help="output NetCDF: weights (…, standard), mean_valence, residual, r_factor"),
    window: Optional[str] = typer.Option(None, help="fitting window, e.g. 6535:6580eV (default: the common range)"),
    energies: Optional[Path] = typer.Option(None, help="for a TIFF stack: text file, one energy in eV per line"),
    mask: Optional[Path] = typer.Option(None, help="particle mask image (non-zero = fitted; others NaN)"),
    free_sum: bool = typer.Option(False, help="do not force the weights to sum to one"),
    offset: bool = typer.Option(False, help="fit a constant offset too"),
    normalize: bool = typer.Option(True, help="edge-step normalise every spectrum before fitting"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Linear-combination fitting of every spectrum, pixel or voxel with reference spectra of
    known oxidation states: exact non-negative weights summing to one, and the mean valence."""
    from .io.results import write_result
    from .spectro.lcf import lcf_from_files

    figure = _outputs(out, overwrite=overwrite, inputs=[*samples, *(x.rsplit(":", 1)[0] for x in standard), energies, mask])
    ds = lcf_from_files(samples if len(samples) > 1 else samples[0], list(standard), window=window,
                        energies=str(energies) if energies else None, normalize=normalize,
                        sum_to_one=not free_sum, offset=offset, mask=_read_mask(mask) if mask else None)
    write_result(ds, out, overwrite=overwrite)
    mv = ds["mean_valence"].values
    finite = mv[np.isfinite(mv)]
    what = (f"mean valence {float(finite[0]):.3f}" if mv.size == 1 else
            f"mean valence {np.mean(finite):.3f} (range {np.min(finite):.3f}-{np.max(finite):.3f}) over {finite.size} "
            "spectra/pixels") if finite.size else "no finite fit"
    msg = f"wrote {out}: {what}, R-factor median {float(np.nanmedian(ds['r_factor'].values)):.2g}"
    if ds.attrs.get("n_nan_pixels"):
        msg += f"; {ds.attrs['n_nan_pixels']} NaN pixels masked"
    typer.echo(msg)
    spatial = [d for d in ds["mean_valence"].dims if d in ("y", "x", "z")]
    if len(spatial) >= 2:
        from .report.maps import plot_map

        px = float(ds.x[1] - ds.x[0]) if "x" in ds.coords and ds.x.attrs.get("units") == "m" else None
        with _all_or_nothing(out):
            fig = plot_map(ds["mean_valence"].values, figure, title="mean oxidation state",
                           label="mean valence", pixel_size=px, cmap="viridis")
        typer.echo(f"wrote {fig}")


def _read_field(source: str, variable: str | None):
    """``(values, mask_or_None, pixel_size_or_None)`` from a lithmap result (NetCDF/Zarr, with
    ``variable``) or an image/volume file (TIFF, PNG, HDF5, ...)."""
    from .io.images import read_stack

    p = Path(source.split(":")[0] if ".h5:" in source or ".hdf5:" in source else source)
    if p.suffix.lower() in (".nc", ".zarr"):
        from .io.results import read_result

        ds = read_result(p)
        if variable not in ds:
            raise LithmapError(f"{source!r} has no variable {variable!r}; it has {sorted(ds.data_vars)}")
        mask = ds["mask"].values.astype(bool) if "mask" in ds else None
        da = ds[variable]
        px = None
        if "x" in da.coords and da.x.attrs.get("units") == "m" and da.sizes["x"] > 1:
            px = float(da.x[1] - da.x[0])
        return da, mask, px
    img, meta = read_stack(source, require_stack=False)
    return np.asarray(img, float), None, meta.get("pixel_size_m")


@app.command()
@friendly
def shells(
    source: str = typer.Argument(..., help="a map or volume: lithmap result (.nc/.zarr, see --variable), TIFF, PNG or HDF5"),
    out: Path = typer.Option(..., help="output CSV, one row per shell (a PNG profile is written beside it)"),
    variable: str = typer.Option("mean_valence", help="variable of a result file"),
    mask: Optional[Path] = typer.Option(None, help="particle mask (non-zero = particle); default: the result's "
                                                   "mask, else the finite pixels"),
    n: int = typer.Option(5, help="number of equal-area (2D) / equal-volume (3D) shells"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Statistics of a map in equal-area (2D) or equal-volume (3D) shells from the surface inward
    (seed2: 0-20 %, ..., 80-100 %)."""
    from .io.tables import write_table
    from .report.maps import plot_shells
    from .spectro.shells import shell_statistics

    figure = _outputs(out, overwrite=overwrite, inputs=[source, mask])
    field, m, _ = _read_field(source, variable)
    if hasattr(field, "dims"):  # a result variable: its z/y/x dims are the particle, others lead
        spatial = [d for d in field.dims if d in ("z", "y", "x")]
        if len(spatial) < 2:
            raise LithmapError(f"variable {variable!r} has dims {field.dims}; shells need a map (y, x) or volume (z, y, x)")
        lead = [d for d in field.dims if d not in spatial]
        field = field.transpose(*lead, *spatial)
        finite = np.isfinite(field.values).any(axis=tuple(range(len(lead))))
    else:  # an image (y, x) or a volume (z, y, x)
        if field.ndim not in (2, 3):
            raise LithmapError(f"{source!r} has shape {field.shape}; shells need a 2D map or a 3D volume")
        finite = np.isfinite(field)
    if mask is not None:
        m = _read_mask(mask)
    elif m is None or m.shape != finite.shape:
        m = finite
    ds = shell_statistics(field, m, n)
    stats = [v for v in ("mean", "std", "median", "count") if v in ds]
    lead = [d for d in ds["mean"].dims if d != "shell"]
    rows = []
    for idx in np.ndindex(*[ds.sizes[d] for d in lead]):
        sel = dict(zip(lead, idx))
        for k in range(ds.sizes["shell"]):
            sub = ds.isel(shell=k, **sel)
            rows.append([*[str(ds[d].values[i]) if d in ds.coords else str(i) for d, i in zip(lead, idx)], k,
                         str(sub["label"].values), float(sub["fraction_outer"]), float(sub["fraction_inner"]),
                         int(sub["size"]), *[float(sub[v]) for v in stats]])
    write_table(out, [*lead, "shell", "label", "fraction_outer", "fraction_inner", "size", *stats], rows)
    with _all_or_nothing(out):
        fig = plot_shells(ds, figure, label=variable if source.endswith((".nc", ".zarr")) else "value")
    means = ", ".join(f"{float(v):.4g}" for v in np.asarray(ds["mean"].values).reshape(-1, ds.sizes["shell"])[0])
    typer.echo(f"wrote {out} and {fig}: {n} shells of {int(m.sum())} pixels/voxels; means from the surface inward: {means}")


def _fraction(text: str, name: str) -> float:
    """'5%' or '0.05' → 0.05 (a bare number must be a fraction below 1)."""
    t = text.strip()
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise LithmapError(f"{name}={text!r} is invalid; expected a percentage such as 5% or a fraction such as 0.05") from None
    if not t.endswith("%") and value >= 1:
        raise LithmapError(f"{name}={text!r} is ambiguous; write a percentage such as {t}% or a fraction below 1")
    return value


def _element_spec(text: str):
    from .io.images import read_stack
    from .units import parse_quantity

    parts = [t.strip() for t in text.split(",")]
    if len(parts) != 5:
        raise LithmapError(f"--element {text!r} is invalid; expected EL,BELOW_IMAGE,E_BELOW,ABOVE_IMAGE,E_ABOVE "
                           "(e.g. Ni,ni_845.tif,845eV,ni_856.tif,856eV)")
    el, below, e_below, above, e_above = parts
    for f in (below, above):
        if not Path(f).exists():
            raise LithmapError(f"image {f!r} for {el} does not exist")
    imgs = tuple(np.asarray(read_stack(f, require_stack=False)[0], float) for f in (below, above))
    return el, imgs, (parse_quantity(e_below, "eV", name="energy"), parse_quantity(e_above, "eV", name="energy"))


@app.command()
@friendly
def composition(
    out: Path = typer.Option(..., help="output NetCDF (element densities, TM/O ratio, phases, fractions) + PNG"),
    element: List[str] = typer.Option(..., help="EL,BELOW_IMAGE,E_BELOW,ABOVE_IMAGE,E_ABOVE (optical density "
                                                "images or volumes), once per element"),
    target: str = typer.Option("Li1.2Mn0.56Ni0.16Co0.08O2", help="target composition"),
    threshold: str = typer.Option("5%", help="TM/O deviation separating target from oxygen-poor/-rich"),
    voxel_size: Optional[str] = typer.Option(None, help="voxel size of reconstructed volumes whose values are optical "
                                                        "density per voxel, e.g. 25nm: also the path length for "
                                                        "densities in kg/m^3 (the TM/O ratio does not need it)"),
    mask: Optional[Path] = typer.Option(None, help="particle mask (default: Otsu threshold of the total density)"),
    method: str = typer.Option("lstsq", help="lstsq (all images, least squares) or jump (edge jumps)"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Element maps from two photon energies per element, the TM/O ratio per voxel and its
    segmentation into target / oxygen-poor / oxygen-rich (seed2), overall and per shell."""
    from .io.results import write_result
    from .report.maps import plot_map
    from .spectro.composition import composition_maps

    files = [f for e in element for f in e.split(",")[1::2]]
    figure = _outputs(out, overwrite=overwrite, inputs=[*files, mask])
    thr = _fraction(threshold, "threshold")
    specs = [_element_spec(e) for e in element]
    vs = None
    if voxel_size:
        from .units import parse_quantity

        vs = parse_quantity(voxel_size, "m", name="voxel_size")
    ds = composition_maps({e: i for e, i, _ in specs}, {e: en for e, _, en in specs}, target=target, threshold=thr,
                          mask=_read_mask(mask) if mask else None, method=method, path_length=vs, pixel_size=vs)
    write_result(ds, out, overwrite=overwrite)
    with _all_or_nothing(out):
        fig = plot_map(ds["phase"].values, figure, title=f"TM/O phases (±{100 * thr:g} %)", label="",
                       pixel_size=vs, categories={0: "target", 1: "oxygen-poor", 2: "oxygen-rich"})
    fr = ", ".join(f"{str(n)} {100 * float(v):.1f} %" for n, v in zip(ds["phase_name"].values, ds["volume_fraction"].values))
    typer.echo(f"wrote {out} and {fig}: {fr}")


@app.command()
@friendly
def pores(
    volume: str = typer.Argument(..., help="particle volume or image: TIFF stack, HDF5 (file.h5:/dataset), PNG; "
                                           "solid = non-zero, or grey with --threshold"),
    out: Path = typer.Option(..., help="output NetCDF (pore table, local thickness, labels) + PNG"),
    threshold: Optional[float] = typer.Option(None, help="grey level: solid = value above it"),
    closing: int = typer.Option(0, help="closing radius (voxels) for the particle envelope: bridges crack mouths"),
    envelope: Optional[Path] = typer.Option(None, help="particle envelope mask (default: solid with holes filled)"),
    voxel_size: Optional[str] = typer.Option(None, help="voxel size, e.g. 50nm (else voxels)"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Porosity, pore sizes (equivalent diameter, local thickness) and connectivity (largest
    network, surface-connected vs isolated void) of a particle volume (seed2's cracks)."""
    from .io.images import read_stack
    from .io.results import write_result
    from .report.maps import plot_map
    from .spectro.pores import pore_analysis
    from .units import parse_quantity

    figure = _outputs(out, overwrite=overwrite, inputs=[volume, envelope])
    vol, meta = read_stack(volume, require_stack=False)
    vs = parse_quantity(voxel_size, "m", name="voxel_size") if voxel_size else meta.get("pixel_size_m")
    ds = pore_analysis(np.asarray(vol), envelope=_read_mask(envelope) if envelope else None, threshold=threshold,
                       closing=closing, voxel_size=vs)
    write_result(ds, out, overwrite=overwrite)
    with _all_or_nothing(out):
        fig = plot_map(ds["local_thickness"].values, figure, title="pore local thickness",
                       label="local thickness (m)" if vs else "local thickness (voxels)", pixel_size=vs, cmap="magma")
    typer.echo(f"wrote {out} and {fig}: porosity {100 * float(ds.porosity):.2f} %, {int(ds.n_pores)} pores, "
               f"largest network {100 * float(ds.largest_network_fraction):.1f} % of the void, surface-connected "
               f"{100 * float(ds.surface_connected_fraction):.1f} %")


def _valences(items: List[str], what: str) -> dict:
    out = {}
    for text in items:
        el, sep, value = text.partition("=")
        if not sep or not el.strip():
            raise LithmapError(f"--{what} {text!r} is invalid; expected EL=VALENCE or EL=lcf.nc")
        try:
            out[el.strip()] = float(value)
        except ValueError:
            field, _, _ = _read_field(value.strip(), "mean_valence")
            out[el.strip()] = field
    return out


@app.command()
@friendly
def charge(
    before: List[str] = typer.Option(..., help="EL=VALENCE or EL=lcf.nc (its mean_valence map), e.g. Ni=2"),
    after: List[str] = typer.Option(..., help="the same elements after, e.g. Ni=lcf_charged.nc"),
    formula: str = typer.Option("Li1.2Mn0.56Ni0.16Co0.08O2", help="composition of the material"),
):
    """Capacity (mAh/g) implied by the change of mean oxidation states between two states."""
    from .spectro.charge import charge_balance

    ds = charge_balance(_valences(before, "before"), _valences(after, "after"), formula)
    for k, el in enumerate(ds["element"].values):
        typer.echo(f"{el}: {float(ds.valence_before[k]):.3f} -> {float(ds.valence_after[k]):.3f}, "
                   f"{float(ds.capacity[k]):.1f} mAh/g")
    typer.echo(f"total: {float(ds.total_capacity):.1f} mAh/g ({float(ds.total_electrons):.3f} e per formula unit of {formula})")


@app.command()
def materials():
    """List the material presets and where their numbers come from."""
    from .physics.materials import PRESETS

    for name, factory in PRESETS.items():
        m = factory()
        typer.echo(f"{name}: alpha={m.alpha:g}, practical {m.practical_capacity} mAh/g, window {m.voltage_window} V")
        for k, v in m.provenance.items():
            typer.echo(f"  {k}: {v}")


def main():  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
