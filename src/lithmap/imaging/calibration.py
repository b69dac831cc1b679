"""Intensity ↔ lithium content (Xu, Merryweather et al., Joule 2022, fig. S4): a monotone map
fitted from the whole-particle intensity trace against the particle's mean θ from coulomb
counting, applied to every pixel.

The map is linear in the total contrast, θ = θ_ref + slope · (I/I_ref − 1), fitted by least
squares to the particle's mean total contrast (so the θ map's mean is the coulomb-counted θ);
Xu, Merryweather et al. (Joule 2022) report a monotone, roughly linear brightening of NMC811 on delithiation. A pixel's
θ then comes from its own total contrast, so ``theta`` has the same dims (time, y, x) as a
2D simulation of the same particle.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LithmapError


def _is_dask(da) -> bool:
    return type(da.data).__module__.split(".")[0] == "dask"


def theta_from_charge(times, *, theta0: float, c_rate: float, capacity_fraction: float = 1.0) -> np.ndarray:
    """Mean θ by coulomb counting for a constant-current step: θ = θ0 − c_rate · f · t / 3600 s.

    Parameters
    ----------
    times : array_like
        Time since the start of the step (the reference frame), s.
    theta0 : float
        Lithium fraction at time 0.
    c_rate : float
        C-rate (1/h; + = charge, lithium leaving).
    capacity_fraction : float
        Fraction ``f`` of θ that 1C moves in one hour (a material's practical over theoretical
        capacity, :attr:`lithmap.Material.capacity_fraction`; 1 when 1C moves θ by 1).

    Returns
    -------
    numpy.ndarray
        Mean θ at each time.

    Examples
    --------
    >>> theta_from_charge([0, 1800, 3600], theta0=0.97, c_rate=1 / 3).round(4).tolist()
    [0.97, 0.8033, 0.6367]
    """
    return theta0 - c_rate * capacity_fraction * np.asarray(times, float) / 3600.0


def calibrate_theta(ds: xr.Dataset, theta_mean) -> xr.Dataset:
    """θ maps from a contrast movie and the particle's mean θ at each frame.

    Fits θ = intercept + slope · (I/I_ref − 1) by least squares to the particle's mean total
    contrast (frames where either is NaN left out) and applies it to every pixel.

    Parameters
    ----------
    ds : xarray.Dataset
        A :func:`lithmap.contrast_movie` result.
    theta_mean : array_like (time,)
        The particle's mean θ at each frame (:func:`theta_from_charge`, :func:`theta_from_log`).

    Returns
    -------
    xarray.Dataset
        ``ds`` with ``theta`` (time, y, x; NaN outside the particle), ``theta_mean_calibration``
        (time) and the attrs ``calibration_slope``, ``calibration_intercept``,
        ``calibration_rms``, ``calibration``.

    Raises
    ------
    LithmapError
        The wrong number of values, θ outside [0, 1], nothing changing, or an intensity that
        rises with lithium content.

    Examples
    --------
    >>> import lithmap
    >>> ds = lithmap.contrast_movie(lithmap.read_movie("example"))
    >>> frac = lithmap.nmc811().capacity_fraction
    >>> cal = calibrate_theta(ds, theta_from_charge(ds.time.values, theta0=0.97, c_rate=1 / 3, capacity_fraction=frac))
    >>> cal.theta.dims, round(cal.attrs["calibration_slope"], 2)    # made with -0.77 / 0.62 = -1.24
    (('time', 'y', 'x'), -1.26)
    """
    tm = np.asarray(theta_mean, float)
    if tm.shape != (ds.sizes["time"],):
        raise LithmapError(f"{tm.size} mean-theta values for {ds.sizes['time']} frames")
    # fitted on the particle's mean total contrast, the quantity the map is applied to pixel by
    # pixel, so the mean of the θ map is the coulomb-counted θ (I_ref varies across the particle)
    x = ds.mean_contrast.values if "mean_contrast" in ds else ds.intensity_normalised.values - 1.0
    use = np.isfinite(tm) & np.isfinite(x)  # frames outside the log or with no valid pixels
    if np.any((tm[use] < 0) | (tm[use] > 1)):
        raise LithmapError("mean theta outside [0, 1]: check theta0 and the rate or capacity")
    if use.sum() < 2 or np.ptp(x[use]) <= 0 or np.ptp(tm[use]) <= 0:
        raise LithmapError("the intensity or the mean theta does not change: nothing to calibrate")
    slope, icpt = np.polyfit(x[use], tm[use], 1)
    if slope >= 0:
        raise LithmapError("intensity rises with lithium content here; lithmap's calibration expects the "
                           "particle to brighten on delithiation (Xu, Merryweather et al., Joule 2022)")
    resid = tm[use] - (icpt + slope * x[use])
    tc = ds.total_contrast
    if _is_dask(tc):  # its own tasks: shared with total_contrast, the scheduler would hold blocks
        from dask.graph_manipulation import clone

        tc = tc.copy(data=clone(tc.data))
    theta = (icpt + slope * tc).where(ds["mask"].astype(bool))
    out = ds.copy()
    out["theta"] = theta.assign_attrs(long_name="lithium fraction from intensity", units="1")
    out["theta_mean_calibration"] = ("time", tm, {"long_name": "mean theta used for the calibration", "units": "1"})
    out.attrs.update(calibration_slope=float(slope), calibration_intercept=float(icpt),
                     calibration_rms=float(np.sqrt(np.mean(resid**2))),
                     calibration="theta = intercept + slope * (I/I_ref - 1), least squares on the particle's mean "
                                 "total contrast")
    return out


def synchronise(ds: xr.Dataset, log, *, offset: float | str = 0.0) -> xr.Dataset:
    """Put a cycler log on the movie's time axis.

    ``offset`` is the log's time at the movie's first frame, so a frame at ``t`` reads the log at
    ``t − t_first + offset`` (movie times from a file need not start at 0). Values are linearly
    interpolated (at a step switch, two records at one instant, the last one counts); frames
    outside the log get NaN and are counted in the attr ``frames_outside_log``.

    Parameters
    ----------
    ds : xarray.Dataset
        A :func:`lithmap.contrast_movie` result (``time`` in s).
    log : xarray.Dataset or str or Path
        A cycler record from :func:`lithmap.read_cycler` (``time`` s, ``voltage`` V, ``current``
        A, ``capacity`` mA h), or its file.
    offset : float or str
        The log's time at the movie's first frame, s (or ``"35 s"``).

    Returns
    -------
    xarray.Dataset
        ``ds`` with ``voltage`` (V), ``current`` (A, + = charge) and ``charge_passed`` (mA h
        since the reference frame) on dim ``time``, and the attrs ``log_source``,
        ``log_offset_s``, ``log_start_time``, ``frames_outside_log``.

    Raises
    ------
    LithmapError
        A log without those variables, a non-finite offset, or a log that does not overlap the
        movie at all.

    Examples
    --------
    A log made by hand (0.1 mA from 200 s before the movie until its end):

    >>> import numpy as np, xarray as xr
    >>> t = np.arange(-200.0, 4000.0, 10.0)
    >>> log = xr.Dataset({"time": ("record", t), "voltage": ("record", 3.6 + 1e-4 * t),
    ...                   "current": ("record", np.full(t.size, 1e-4)), "capacity": ("record", 1e-4 * t / 3.6)})
    >>> import lithmap
    >>> ds = lithmap.contrast_movie(lithmap.read_movie("example"), register=False)
    >>> sync = synchronise(ds, log, offset="0 s")
    >>> sync.current.attrs["units"], float(sync.current[0]), round(float(sync.charge_passed[-1]), 4)
    ('A', 0.0001, 0.1)
    """
    from ..io.units import parse_quantity

    if not isinstance(log, xr.Dataset):
        from ..io.cycler import read_cycler

        log = read_cycler(log)
    offset = parse_quantity(offset, "s", name="log_offset")
    for v in ("time", "voltage", "current", "capacity"):
        if v not in log:
            raise LithmapError(f"the cycler log lacks {v!r}; read it with lithmap.read_cycler")
    if not np.isfinite(offset):
        raise LithmapError(f"log offset={offset!r} s is not finite")
    lt = log.time.values.astype(float)
    t = ds.time.values.astype(float) - float(ds.time.values[0]) + offset
    inside = (t >= lt[0]) & (t <= lt[-1])
    if not inside.any():
        raise LithmapError(f"the cycler log ({lt[0]:g}-{lt[-1]:g} s) does not overlap the movie "
                           f"({t[0]:g}-{t[-1]:g} s on the log's clock with offset {offset:g} s)")
    # a step switch logs two records at one instant: interpolate on the last of each
    keep = np.r_[np.diff(lt) > 0, True]

    def on_movie(values):
        return np.where(inside, np.interp(t, lt[keep], np.asarray(values, float)[keep]), np.nan)

    q = on_movie(log.capacity.values)
    ref = int(ds.attrs.get("reference_frame", 0))
    out = ds.copy()
    out["voltage"] = ("time", on_movie(log.voltage.values), {"units": "V", "long_name": "cell voltage (cycler log)"})
    out["current"] = ("time", on_movie(log.current.values), {"units": "A", "long_name": "current, + = charge"})
    out["charge_passed"] = ("time", q - q[ref], {"units": "mA h",
                                                  "long_name": "charge passed since the reference frame"})
    out.attrs.update(log_source=str(log.attrs.get("source", "")), log_offset_s=float(offset),
                     log_start_time=str(log.time.attrs.get("start_time") or log.attrs.get("start_time", "")),
                     frames_outside_log=int(np.count_nonzero(~inside)))
    return out


def theta_from_log(ds: xr.Dataset, *, theta0: float, capacity: float | str) -> np.ndarray:
    """Mean θ of the particle by coulomb counting from a synchronised cycler log.

    θ = θ0 − Q(t) / Q_full, with Q(t) the charge passed since the reference frame and Q_full the
    electrode's full-lithiation capacity (active mass × theoretical specific capacity): the
    particle is assumed to follow the electrode.

    Parameters
    ----------
    ds : xarray.Dataset
        A contrast result with a log on it (:func:`synchronise`).
    theta0 : float
        Lithium fraction at the reference frame.
    capacity : float or str
        Q_full in C (coulombs), or a quantity such as ``"2 mA h"``.

    Returns
    -------
    numpy.ndarray (time,)
        Mean θ at each frame (NaN outside the log).

    Raises
    ------
    LithmapError
        No log on ``ds``, a reference frame outside the log, a capacity ≤ 0 or θ0 outside [0, 1].

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(-200.0, 4000.0, 10.0)
    >>> log = xr.Dataset({"time": ("record", t), "voltage": ("record", 3.6 + 1e-4 * t),
    ...                   "current": ("record", np.full(t.size, 1e-4)), "capacity": ("record", 1e-4 * t / 3.6)})
    >>> import lithmap
    >>> ds = lithmap.contrast_movie(lithmap.read_movie("example"), register=False)
    >>> theta = theta_from_log(synchronise(ds, log), theta0=0.97, capacity="0.5 mA h")
    >>> round(float(theta[0]), 3), round(float(theta[-1]), 3)     # 0.1 mA h of 0.5 mA h passed
    (0.97, 0.77)
    """
    from ..io.units import parse_quantity

    q_full = parse_quantity(capacity, "C", name="capacity")
    if "charge_passed" not in ds:
        raise LithmapError("no cycler log on the movie; synchronise one first (--log)")
    ref = int(ds.attrs.get("reference_frame", 0))
    if not np.isfinite(ds.voltage.values[ref]):
        raise LithmapError(f"the reference frame {ref} (t = {float(ds.time[ref]):g} s) is outside the cycler log; "
                           "check --log-offset or choose a reference inside the log")
    if not q_full > 0:
        raise LithmapError(f"capacity={capacity!r} is invalid; expected a positive capacity in C (or '2 mA h')")
    if not 0 <= theta0 <= 1:
        raise LithmapError(f"theta0={theta0!r} is invalid; expected a lithium fraction in [0, 1]")
    return theta0 - ds.charge_passed.values / (q_full / 3.6)  # charge_passed is in mA h


def apply_calibration(ds: xr.Dataset, contrast, theta) -> xr.Dataset:
    """θ maps from a given monotone calibration table.

    θ at tabulated total-contrast values (e.g. measured on reference particles, Xu, Merryweather
    et al., Joule 2022, fig. S4), interpolated linearly in between and held flat outside the
    table; NaN outside the particle.

    Parameters
    ----------
    ds : xarray.Dataset
        A :func:`lithmap.contrast_movie` result.
    contrast : array_like
        Total contrast I/I_ref − 1 of the table's rows, strictly increasing.
    theta : array_like
        θ at those rows, in [0, 1] and strictly monotone.

    Returns
    -------
    xarray.Dataset
        ``ds`` with ``theta`` (time, y, x) and the attr ``calibration``.

    Raises
    ------
    LithmapError
        Fewer than two rows, columns of unequal length, non-finite values, or a table that is not
        monotone or leaves [0, 1].

    Examples
    --------
    >>> import lithmap
    >>> ds = lithmap.contrast_movie(lithmap.read_movie("example"), register=False)
    >>> cal = apply_calibration(ds, [0.0, 0.62], [0.97, 0.2])
    >>> cal.theta.dims, float(cal.theta[0].max()) <= 0.97
    (('time', 'y', 'x'), True)
    """
    c, th = np.asarray(contrast, float), np.asarray(theta, float)
    if c.ndim != 1 or c.shape != th.shape or c.size < 2:
        raise LithmapError(f"calibration table needs two equal-length columns of at least 2 rows; got {c.size} "
                           f"and {th.size}")
    bad = ~(np.isfinite(c) & np.isfinite(th))
    if bad.any():
        raise LithmapError(f"calibration table row {int(np.flatnonzero(bad)[0]) + 1} is not a finite number")
    if np.any(np.diff(c) <= 0):
        raise LithmapError("calibration total_contrast values must strictly increase")
    if np.any(np.diff(th) >= 0) and np.any(np.diff(th) <= 0) or np.any(np.diff(th) == 0):
        raise LithmapError("calibration theta must be strictly monotone in total_contrast")
    if np.any((th < 0) | (th > 1)):
        raise LithmapError("calibration theta values must lie in [0, 1]")
    import dask.array as da

    tc = ds.total_contrast.data

    def interp(a):
        return np.interp(a, c, th)

    if isinstance(tc, da.Array):
        from dask.graph_manipulation import clone

        theta = da.map_blocks(interp, clone(tc), dtype=float)
    else:
        theta = interp(tc)
    out = ds.copy()
    out["theta"] = xr.DataArray(theta, dims=ds.total_contrast.dims).where(ds["mask"].astype(bool)).assign_attrs(
        long_name="lithium fraction from intensity", units="1")
    out.attrs.update(calibration="user table (total_contrast -> theta), linear between rows, flat outside")
    return out
