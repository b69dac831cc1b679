"""Whole analyses, as the command line runs them: a movie file (or DataArray) → contrast maps,
synchronised cycler log and θ maps (:func:`analyse_movie`); an image → its particle table
(:func:`particle_table`).

These functions hold everything between reading and writing — the choice to stream a movie
larger than memory, the reference frame by time, the mask file, the log and the calibration
(from a constant C-rate, from the log and the active mass, or from a table) — so a Python user
gets exactly what ``lithmap contrast`` and ``lithmap particles`` write.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError

__all__ = ["analyse_movie", "particle_table"]


def analyse_movie(movie, *, times=None, pixel_size=None, reference: int | None = None, reference_time=None,
                  mask=None, line="major", particles: bool = False, register: bool = True, flicker: bool = True,
                  saturation: float | None = None, log=None, log_offset=0.0, rate=None, theta0: float = 0.97,
                  material=None, mass=None, calibration=None, lazy: bool | None = None,
                  progress=None) -> xr.Dataset:
    """Analyse an operando movie: contrast maps, the cycler log on the movie's clock, θ maps.

    Reads the movie (lazily, and into memory when it fits), runs :func:`lithmap.contrast_movie`,
    puts the cycler log on the movie's time axis (:func:`lithmap.synchronise`) and calibrates θ
    from one of: a constant C-rate (``rate``, :func:`lithmap.theta_from_charge`), the log and the
    active mass (``mass`` with ``log`` and ``material``, :func:`lithmap.theta_from_log`), or a
    table (``calibration``, :func:`lithmap.apply_calibration`). This is what ``lithmap contrast``
    writes.

    Parameters
    ----------
    movie : str, Path or xarray.DataArray
        A movie file, folder or pattern (:func:`lithmap.read_movie`), ``"example"`` (the
        synthetic movie shipped with lithmap), or a movie DataArray (time, y, x).
    times, pixel_size : optional
        Frame times and pixel size for a movie read from a file, as :func:`lithmap.read_movie`
        takes them (an interval ``10`` or ``"10 s"``, times, or a CSV of time stamps; ``50e-9`` or
        ``"50 nm"``).
    reference : int, optional
        Reference frame (the start of the cycle); default 0.
    reference_time : float or str, optional
        The reference by time instead (s, or ``"5 min"``): the frame nearest to it.
    mask : str, Path, xarray.DataArray or array_like, optional
        The particle: a mask file or result (:func:`lithmap.read_mask`) or an array; default:
        the largest bright region of the reference frame.
    line : str or ((y0, x0), (y1, x1))
        Kymograph line: ``"major"``, ``"minor"``, ``"y0,x0,y1,x1"`` or end points in pixels.
    particles, register, flicker, saturation
        As :func:`lithmap.contrast_movie`.
    log : str, Path or xarray.Dataset, optional
        The cycler record of the movie (a file, or :func:`lithmap.read_cycler`'s Dataset).
    log_offset : float or str
        The log's time at the movie's first frame (s, or ``"35 s"``).
    rate : str or float, optional
        Constant C-rate during the movie, ``"C/3"`` (charge) or ``"-C/3"`` (discharge), or a
        number (1/h, + = charge): θ by coulomb counting from ``theta0``.
    theta0 : float
        Lithium fraction at the reference frame (with ``rate`` or ``mass``).
    material : str or lithmap.Material, optional
        Material preset: its C-rate convention (with ``rate``) and theoretical capacity (with
        ``mass``).
    mass : float or str, optional
        Active mass in kg (or ``"5.1 mg"``), with ``log`` and ``material``: θ by coulomb
        counting from the log.
    calibration : str, Path, xarray.Dataset or mapping, optional
        A calibration table with columns ``total_contrast`` and ``theta`` (a CSV file, or a
        Dataset/dict of the two columns).
    lazy : bool, optional
        Stream the movie in chunks (True) or load it (False); default: stream only when the movie
        and two float32 maps would take more than half of the memory available.
    progress : callable, optional
        ``progress(done, total)`` in frames, as the work advances.

    Returns
    -------
    xarray.Dataset
        The :func:`lithmap.contrast_movie` result (``intensity``, ``total_contrast``, ``mask``,
        ``drift``, traces), with ``voltage``, ``current`` (A), ``charge_passed`` when a log is
        given and ``theta`` (time, y, x) when calibrated.

    Raises
    ------
    LithmapError
        Conflicting or invalid options, and anything the readers or the analysis refuse (one
        line naming the file or value).

    Examples
    --------
    >>> import lithmap
    >>> ds = analyse_movie("example", rate="C/3", material="nmc811", register=False)
    >>> ds.theta.dims, round(float(ds.theta_mean_calibration[-1]), 3)    # C/3 for one hour from 0.97
    (('time', 'y', 'x'), 0.715)
    >>> analyse_movie("example", rate="fast")
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: rate='fast' is invalid; expected a C-rate such as C/3 (charge) or -C/3 (discharge)
    """
    from ..io.units import parse_quantity
    from ..physics import parse_c_rate
    from .calibration import apply_calibration, calibrate_theta, synchronise, theta_from_charge, theta_from_log
    from .contrast import contrast_movie
    from .profiles import parse_line

    if sum(x is not None for x in (rate, mass, calibration)) > 1:
        raise LithmapError("give one calibration: rate (--rate), mass (--mass, with a log) or calibration "
                           "(--calibration)")
    if reference is not None and reference_time is not None:
        raise LithmapError("give the reference once: reference (--reference) or reference_time (--reference-time)")
    if mass is not None and (log is None or material is None):
        raise LithmapError("mass (--mass) calibrates from the cycler log: give log (--log) and material "
                           "(--material) too")
    profile = parse_line(line) if isinstance(line, str) else line
    c_rate = parse_c_rate(rate, name="rate") if rate is not None else None
    da = _movie(movie, times=times, pixel_size=pixel_size, lazy=lazy)
    t = np.asarray(da.time.values, float)
    if reference_time is not None:
        tr = parse_quantity(reference_time, "s", name="reference_time")
        if not t[0] <= tr <= t[-1]:
            raise LithmapError(f"reference_time={reference_time!r} is outside the movie ({t[0]:g}-{t[-1]:g} s)")
        reference = int(np.argmin(np.abs(t - tr)))
    reference = 0 if reference is None else reference
    if mask is not None:
        from ..io.masks import read_mask

        mask = read_mask(mask).values if isinstance(mask, (str, Path, xr.DataArray)) else mask
    ds = contrast_movie(da, reference=reference, mask=mask, line=profile, particles=particles, register=register,
                        flicker=flicker, saturation=saturation, progress=progress)
    if log is not None:
        ds = synchronise(ds, log, offset=log_offset)
    if c_rate is not None:
        frac = _material(material).capacity_fraction if material is not None else 1.0
        t = ds.time.values
        ds = calibrate_theta(ds, theta_from_charge(t - t[reference], theta0=theta0, c_rate=c_rate,
                                                   capacity_fraction=frac))
    elif mass is not None:
        m_kg = parse_quantity(mass, "kg", name="mass")
        q_full = m_kg * _material(material).theoretical_capacity  # kg × C/kg → C
        ds = calibrate_theta(ds, theta_from_log(ds, theta0=theta0, capacity=q_full))
    elif calibration is not None:
        ds = apply_calibration(ds, *_calibration_table(calibration))
    if c_rate is not None or mass is not None:
        ds.attrs["theta0"] = float(theta0)  # what the model of this movie starts from (lithmap fit)
    if c_rate is not None:
        ds.attrs["c_rate"] = float(c_rate)
    return ds


def particle_table(image, *, min_area: int = 20, exclude_edge: bool = False, pixel_size=None) -> xr.Dataset:
    """The particles of a field of view, one row each: what ``lithmap particles`` prints and writes.

    Parameters
    ----------
    image : str, Path, xarray.DataArray or array_like
        An image or a stack (a file, ``"example"`` for the shipped movie, a DataArray, or an
        array); the first frame of a stack is segmented.
    min_area : int
        Smallest particle, pixels.
    exclude_edge : bool
        Drop particles touching the image border.
    pixel_size : float or str, optional
        Pixel size in m (or ``"50 nm"``); default: from the file or the DataArray's coordinates.

    Returns
    -------
    xarray.Dataset
        The table of :func:`lithmap.find_particles` on dim ``particle`` (``pixel_count``, ``area``,
        ``equivalent_diameter``, ``centroid_y``, ``centroid_x``, ``touches_edge``), with attrs
        ``source`` and, when known, ``pixel_size`` (m).

    Examples
    --------
    >>> table = particle_table("example")
    >>> table.sizes["particle"], int(table.pixel_count[0]), table.equivalent_diameter.attrs["units"]
    (1, 1229, 'm')
    """
    from ..io.images import pixel_size_of
    from ..io.units import optional_quantity
    from .regions import find_particles

    px = optional_quantity(pixel_size, "m", name="pixel_size", positive=True)
    if isinstance(image, (str, Path)):
        from ..io.movies import _open_stack

        source = str(image)
        if source == "example":
            from ..datasets import example_file

            source = str(example_file("example_movie.tif"))
        stack, meta = _open_stack(source, lazy=True, require_stack=False)
        frame = np.asarray(stack[0] if stack.ndim == 3 else stack)
        px = px if px is not None else meta.get("pixel_size_m")
    else:
        source = str(getattr(image, "attrs", {}).get("source", "array"))
        frame = image[0] if np.ndim(image) == 3 else image
        px = px if px is not None else pixel_size_of(frame)
        frame = np.asarray(frame)
    _, table = find_particles(frame, min_area=min_area, exclude_edge=exclude_edge, pixel_size=px)
    table.attrs["source"] = source
    if px:
        table.attrs["pixel_size"] = float(px)
    return table


def write_particle_table(table: xr.Dataset, path) -> Path:
    """Write a particle table (from :func:`particle_table`) as CSV, one row per particle.

    Parameters
    ----------
    table : xarray.Dataset
        On dim ``particle``.
    path : str or Path
        The CSV file (written atomically; the particle number is the first column).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_particle_table(particle_table("example"), pathlib.Path(d) / "particles.csv")
    ...     p.read_text().splitlines()[0].split(",")[:3]
    ['particle', 'pixel_count', 'area']
    """
    from ..io.tables import write_table

    cols = list(table.data_vars)
    rows = ([str(int(table.particle.values[k]))] + [table[c].values[k] for c in cols]
            for k in range(table.sizes["particle"]))
    return write_table(path, ["particle"] + cols, rows)


# -- helpers ------------------------------------------------------------------------------------


def _movie(movie, *, times, pixel_size, lazy):
    """The movie as a DataArray, streamed (Dask) or in memory as ``lazy`` says or the memory allows."""
    from ..io.movies import read_movie
    from .contrast import _is_lazy

    if isinstance(movie, xr.DataArray):
        if times is not None or pixel_size is not None:
            raise LithmapError("times and pixel_size label a movie read from a file; a DataArray carries its own "
                               "(its time coordinate and pixel_size attr)")
        da = movie
    else:
        da = read_movie(movie, times, pixel_size, lazy=True)
    streamed = _is_lazy(da.data)
    if lazy is None:  # the stack plus two float32 maps must fit with room to spare
        lazy = streamed and da.nbytes * (1 + 8 / da.dtype.itemsize) > 0.5 * _available_memory()
    if lazy and not streamed:
        da = da.chunk({"time": 64})
    elif not lazy and streamed:
        da = da.compute()
    return da


def _available_memory() -> int:
    """Bytes this process may use: the smallest of the physical memory, a container (cgroup)
    limit and an address-space / data-segment limit.

    >>> _available_memory() > 2**20
    True
    """
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


def _material(material):
    if isinstance(material, str):
        from ..physics.materials import get_material

        return get_material(material)
    return material


def _calibration_table(calibration) -> tuple[list[float], list[float]]:
    """``(total_contrast, theta)`` columns of a calibration table: a CSV file, a Dataset or a dict."""
    if isinstance(calibration, (str, Path)):
        from ..io.tables import read_columns

        _, rows = read_columns(calibration, ("total_contrast", "theta"), what="calibration table")
        cols = ([], [])
        for k, r in enumerate(rows, start=2):
            for col, name in zip(cols, ("total_contrast", "theta")):
                try:
                    col.append(float(r[name]))
                except (TypeError, ValueError):
                    raise LithmapError(f"calibration table {str(calibration)!r} line {k}: {name} {r[name]!r} is "
                                       "not a number") from None
        return cols
    try:
        return ([float(v) for v in np.ravel(calibration["total_contrast"])],
                [float(v) for v in np.ravel(calibration["theta"])])
    except (KeyError, TypeError, ValueError):
        raise LithmapError("calibration is invalid; expected a CSV file or a table with columns total_contrast "
                           "and theta") from None
