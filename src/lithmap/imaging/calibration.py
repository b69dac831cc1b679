"""Intensity ↔ lithium content (seed1 fig. S4): a monotone map fitted from the whole-particle
intensity trace against the particle's mean θ from coulomb counting, applied to every pixel.

The map is linear in the normalised intensity, θ = θ_ref + slope · (I/I_ref − 1), fitted by
least squares; seed1 reports a monotone, roughly linear brightening on delithiation. A pixel's
θ then comes from its own total contrast, so ``theta`` has the same dims (time, y, x) as a
2D simulation of the same particle.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LithmapError


def theta_from_charge(times, *, theta0: float, c_rate: float, capacity_fraction: float = 1.0) -> np.ndarray:
    """Mean θ by coulomb counting for a constant-current step (+ C-rate = charge)."""
    return theta0 - c_rate * capacity_fraction * np.asarray(times, float) / 3600.0


def calibrate_theta(ds: xr.Dataset, theta_mean) -> xr.Dataset:
    """Add ``theta`` (time, y, x; NaN outside the particle) and the fitted map to a contrast
    Dataset, from the particle's mean θ at each frame (``theta_mean``, same length as time)."""
    tm = np.asarray(theta_mean, float)
    if tm.shape != (ds.sizes["time"],):
        raise LithmapError(f"{tm.size} mean-theta values for {ds.sizes['time']} frames")
    if np.any((tm < 0) | (tm > 1)):
        raise LithmapError("mean theta outside [0, 1]: check theta0 and the rate")
    x = ds.intensity_normalised.values - 1.0
    if np.ptp(x) <= 0 or np.ptp(tm) <= 0:
        raise LithmapError("the intensity or the mean theta does not change: nothing to calibrate")
    slope, icpt = np.polyfit(x, tm, 1)
    if slope >= 0:
        raise LithmapError("intensity rises with lithium content here; lithmap's calibration expects the "
                           "particle to brighten on delithiation (seed1)")
    resid = tm - (icpt + slope * x)
    m = ds["mask"].values.astype(bool)
    theta = np.where(m[None], icpt + slope * ds.total_contrast.values, np.nan)
    out = ds.copy()
    out["theta"] = (("time", "y", "x"), theta, {"long_name": "lithium fraction from intensity", "units": "1"})
    out["theta_mean_calibration"] = ("time", tm, {"long_name": "mean theta used for the calibration", "units": "1"})
    out.attrs.update(calibration_slope=float(slope), calibration_intercept=float(icpt),
                     calibration_rms=float(np.sqrt(np.mean(resid**2))),
                     calibration="theta = intercept + slope * (I/I_ref - 1), least squares on the whole-particle trace")
    return out
