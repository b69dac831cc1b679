"""Intensity ↔ lithium content (seed1 fig. S4): a monotone map fitted from the whole-particle
intensity trace against the particle's mean θ from coulomb counting, applied to every pixel.

The map is linear in the total contrast, θ = θ_ref + slope · (I/I_ref − 1), fitted by least
squares to the particle's mean total contrast (so the θ map's mean is the coulomb-counted θ);
seed1 reports a monotone, roughly linear brightening on delithiation. A pixel's
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
    """Mean θ by coulomb counting for a constant-current step (+ C-rate = charge)."""
    return theta0 - c_rate * capacity_fraction * np.asarray(times, float) / 3600.0


def calibrate_theta(ds: xr.Dataset, theta_mean) -> xr.Dataset:
    """Add ``theta`` (time, y, x; NaN outside the particle) and the fitted map to a contrast
    Dataset, from the particle's mean θ at each frame (``theta_mean``, same length as time)."""
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
                           "particle to brighten on delithiation (seed1)")
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
                     calibration="theta = intercept + slope * (I/I_ref - 1), least squares on the particle's mean total contrast")
    return out


def synchronise(ds: xr.Dataset, log: xr.Dataset, *, offset: float = 0.0) -> xr.Dataset:
    """Put a cycler log (:func:`lithmap.io.cycler.read_cycler`) on the movie's time axis.

    ``offset`` is the log's time (s) at the movie's first frame, so a frame at ``t`` reads the
    log at ``t − t_first + offset`` (movie times from a file need not start at 0). Adds ``voltage`` (V), ``current`` (A, + = charge) and ``charge_passed`` (mAh
    since the reference frame) on dim ``time``, linearly interpolated; frames outside the log
    get NaN and are counted in the attr ``frames_outside_log``. A log that does not overlap the
    movie at all is an error.
    """
    for v in ("time", "voltage", "current", "capacity"):
        if v not in log:
            raise LithmapError(f"the cycler log lacks {v!r}; read it with lithmap.io.cycler.read_cycler")
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
    out["charge_passed"] = ("time", q - q[ref], {"units": "mA h", "long_name": "charge passed since the reference frame"})
    out.attrs.update(log_source=str(log.attrs.get("source", "")), log_offset_s=float(offset),
                     log_start_time=str(log.time.attrs.get("start_time", "")),
                     frames_outside_log=int(np.count_nonzero(~inside)))
    return out


def theta_from_log(ds: xr.Dataset, *, theta0: float, capacity_mAh: float) -> np.ndarray:
    """Mean θ of the particle by coulomb counting from a synchronised log (:func:`synchronise`):
    θ = θ0 − Q(t)/Q_full, with Q_full the electrode's full-lithiation capacity in mAh (active
    mass × theoretical specific capacity): the particle is assumed to follow the electrode."""
    if "charge_passed" not in ds:
        raise LithmapError("no cycler log on the movie; synchronise one first (--log)")
    ref = int(ds.attrs.get("reference_frame", 0))
    if not np.isfinite(ds.voltage.values[ref]):
        raise LithmapError(f"the reference frame {ref} (t = {float(ds.time[ref]):g} s) is outside the cycler log; "
                           "check --log-offset or choose a reference inside the log")
    if not (np.isfinite(capacity_mAh) and capacity_mAh > 0):
        raise LithmapError(f"capacity={capacity_mAh!r} mAh is invalid; expected a positive capacity")
    if not 0 <= theta0 <= 1:
        raise LithmapError(f"theta0={theta0!r} is invalid; expected a lithium fraction in [0, 1]")
    return theta0 - ds.charge_passed.values / capacity_mAh


def apply_calibration(ds: xr.Dataset, contrast, theta) -> xr.Dataset:
    """Add ``theta`` from a user-given monotone calibration: θ at tabulated total-contrast values
    (e.g. measured on reference particles, seed1 fig. S4), interpolated linearly in between and
    held flat outside the table. NaN outside the particle."""
    c, th = np.asarray(contrast, float), np.asarray(theta, float)
    if c.ndim != 1 or c.shape != th.shape or c.size < 2:
        raise LithmapError(f"calibration table needs two equal-length columns of at least 2 rows; got {c.size} and {th.size}")
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
    interp = (lambda a: np.interp(a, c, th))
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
