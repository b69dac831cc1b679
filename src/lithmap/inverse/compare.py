"""The particle model next to the movie: the measured particle outline simulated on its own
pixels, the simulated θ seen through the microscope (a Gaussian point-spread function), and one
documented misfit against the calibrated θ maps of a ``lithmap contrast`` result (Xu,
Merryweather et al., Joule 2022: the GITT D(θ) scaled by α until the simulated delithiation of
the real particle matches the movie)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.images import pixel_size_of

#: FWHM of a Gaussian over its σ: 2·sqrt(2·ln 2).
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def _contrast_result(result) -> xr.Dataset:
    """The contrast result as a Dataset (read from a path), checked to hold a mask and θ maps."""
    from ..io.results import read_result

    name = "result"
    if not isinstance(result, xr.Dataset):
        name = f"{str(result)!r}"
        result = read_result(result)
    if "total_contrast" not in result and "reference_frame" not in result.attrs:
        raise LithmapError(f"{name} is not a 'lithmap contrast' result: it has no total_contrast and no "
                           "reference frame")
    if "mask" not in result or result["mask"].dims != ("y", "x"):
        raise LithmapError(f"{name} is not a 'lithmap contrast' result: it has no particle mask on (y, x)")
    if "theta" not in result or result["theta"].dims != ("time", "y", "x"):
        if "total_contrast" in result:
            raise LithmapError(f"{name} has total contrast but no calibrated theta; run 'lithmap contrast' "
                               "with --rate (or --log and --mass) to calibrate it")
        raise LithmapError(f"{name} is not a 'lithmap contrast' result: it has no theta or total_contrast "
                           "on (time, y, x)")
    if "time" not in result.coords or result.sizes["time"] < 2:
        raise LithmapError(f"{name} needs at least two frames with times to compare with a simulation")
    return result


def psf_sigma(psf, pixel_size) -> tuple[float, float] | None:
    """The Gaussian σ in pixels (y, x) of a point-spread function given by its FWHM.

    Parameters
    ----------
    psf : float, str or None
        Full width at half maximum in m, or a quantity such as ``"150nm"``; None or 0: no blur.
    pixel_size : float or (float, float)
        Pixel size in m (one value, or (y, x)).

    Returns
    -------
    (float, float) or None
        σ = FWHM / 2.3548 in pixels along y and x, or None for no blur.

    Examples
    --------
    >>> [round(s, 3) for s in psf_sigma("177nm", 50e-9)]
    [1.503, 1.503]
    >>> psf_sigma(None, 50e-9) is None
    True
    """
    from ..io.units import parse_quantity

    if psf is None:
        return None
    fwhm = parse_quantity(psf, "m", name="psf")
    if fwhm < 0:
        raise LithmapError(f"psf={psf!r} is invalid; expected a non-negative FWHM such as '150nm'")
    if fwhm == 0:
        return None
    py, px = np.broadcast_to(np.asarray(pixel_size, dtype=float), (2,))
    return float(fwhm / FWHM_PER_SIGMA / py), float(fwhm / FWHM_PER_SIGMA / px)


def blur_inside(theta: np.ndarray, inside: np.ndarray, sigma) -> np.ndarray:
    """θ maps blurred by a Gaussian inside the particle only, normalised by the blurred mask (so
    the edge is not darkened by the empty outside); NaN outside the particle.

    Parameters
    ----------
    theta : array (..., y, x)
        θ maps (values outside ``inside`` are ignored).
    inside : bool array (y, x)
        The particle's pixels.
    sigma : (float, float) or None
        Gaussian σ in pixels (y, x); None: no blur.

    Returns
    -------
    numpy.ndarray
        The blurred maps, same shape, NaN outside.

    Examples
    --------
    >>> inside = np.zeros((9, 9), bool); inside[2:7, 2:7] = True
    >>> flat = np.where(inside, 0.8, np.nan)
    >>> out = blur_inside(flat, inside, (1.5, 1.5))
    >>> bool(np.allclose(out[inside], 0.8)), bool(np.isnan(out[0, 0]))  # a uniform particle stays uniform
    (True, True)
    """
    from scipy import ndimage

    inside = np.asarray(inside, dtype=bool)
    theta = np.asarray(theta, dtype=float)
    filled = np.where(inside, np.nan_to_num(theta), 0.0)
    if sigma is not None:
        full = (0.0,) * (theta.ndim - 2) + tuple(sigma)
        weight = ndimage.gaussian_filter(inside.astype(float), sigma, mode="constant")
        filled = ndimage.gaussian_filter(filled, full, mode="constant") / np.where(inside, weight, 1.0)
    return np.where(inside, filled, np.nan)


class MovieProblem:
    """One contrast result set up for comparison: the particle outline as a simulation geometry
    (parse_shape of the mask; each α re-runs lithmap.simulate on it), the protocol and output
    times from the movie, the measured θ after the reference frame and the PSF.
    :meth:`simulated` runs the engine for one α; :meth:`ssr` is the sum of squared θ
    differences. Used by :func:`compare_movie` and :func:`lithmap.fit_alpha`."""

    def __init__(self, result, *, material=None, diffusivity=None, rate=None, theta0=None, psf=None):
        from .. import parse_c_rate, parse_shape

        ds = _contrast_result(result)
        self.result = ds
        if rate is None:
            raise LithmapError("give the C-rate of the movie (rate='C/3', --rate C/3); fitting to a cycler log "
                               "is not available yet")
        c_rate = parse_c_rate(rate, name="rate")
        if c_rate == 0:
            raise LithmapError(f"rate={rate!r} is invalid; expected a non-zero C-rate such as C/3")
        self.material, self.diffusivity = material, diffusivity
        ref = int(ds.attrs.get("reference_frame", 0))
        t = np.asarray(ds["time"].values, dtype=float)
        if not 0 <= ref < t.size - 1:
            raise LithmapError(f"the contrast result's reference frame {ref} leaves no later frame to compare")
        self.frames = np.arange(ref, t.size)
        self.times = t[self.frames]
        self.t_model = self.times - self.times[0]
        if np.any(np.diff(self.t_model) <= 0):
            raise LithmapError("the contrast result's frame times are not increasing")
        self.theta0 = self._theta0(ds, ref, theta0)
        kind = "Charge" if c_rate > 0 else "Discharge"
        self.protocol = f"{kind} at {abs(c_rate)!r}C for {float(self.t_model[-1])!r} s"
        self.shape = parse_shape(ds["mask"])
        self.inside = np.asarray(ds["mask"].values).astype(bool)
        px = pixel_size_of(ds["mask"])
        if px is None:
            raise LithmapError("the contrast result's mask has no pixel size (x, y in m); give the movie's "
                               "--pixel-size to 'lithmap contrast'")
        self.pixel_size = (px, px)  # the geometry (parse_shape) already refuses non-square pixels
        self.sigma = psf_sigma(psf, self.pixel_size)
        measured = np.asarray(ds["theta"].values[self.frames], dtype=float)
        self.measured = np.where(self.inside, measured, np.nan)
        # the misfit's pixel-frames: particle pixels with a finite measured θ, frames after the reference
        self.use = np.isfinite(self.measured)
        self.use[0] = False
        self.n_data = int(self.use.sum())
        if self.n_data < 2:
            raise LithmapError("the contrast result has no finite theta inside the mask after the reference frame")

    @staticmethod
    def _theta0(ds, ref, theta0) -> float:
        if theta0 is None:
            if "theta0" in ds.attrs:
                theta0 = float(ds.attrs["theta0"])
            elif "theta_mean_calibration" in ds and np.isfinite(ds["theta_mean_calibration"].values[ref]):
                theta0 = float(ds["theta_mean_calibration"].values[ref])
            else:
                theta0 = 0.97
        theta0 = float(theta0)
        if not 0 <= theta0 <= 1:
            raise LithmapError(f"theta0={theta0!r} is invalid; expected a lithium fraction in [0, 1]")
        return theta0

    def raw(self, alpha: float) -> np.ndarray:
        """The simulated θ (frame, y, x) at the movie's frames from the reference on, before the PSF."""
        from .. import simulate

        alpha = float(alpha)
        if not (np.isfinite(alpha) and alpha > 0):
            raise LithmapError(f"alpha={alpha!r} is invalid; expected a positive scale factor on D")
        sim = simulate(self.shape, self.protocol, material=self.material, diffusivity=self.diffusivity,
                       alpha=alpha, theta0=self.theta0, times=self.t_model)
        ts = np.asarray(sim["time"].values)
        idx = np.searchsorted(ts, self.t_model - 1e-6)
        idx = np.clip(idx, 0, ts.size - 1)
        if not np.allclose(ts[idx], self.t_model, atol=1e-6):  # pragma: no cover - simulate keeps t_eval
            raise LithmapError("the simulation did not report the movie's frame times")
        return np.asarray(sim["theta"].values[idx], dtype=float)

    def simulated(self, alpha: float) -> np.ndarray:
        """The simulated θ seen through the microscope (PSF applied inside the particle)."""
        return blur_inside(self.raw(alpha), self.inside, self.sigma)

    def ssr(self, simulated: np.ndarray) -> float:
        """Sum of squared θ differences over the misfit's pixel-frames."""
        d = (simulated - self.measured)[self.use]
        return float(np.sum(d * d))

    def dataset(self, alpha: float, simulated: np.ndarray) -> xr.Dataset:
        """The comparison Dataset for one α (see :func:`compare_movie`)."""
        ds = self.result
        coords = {"time": ("time", self.times, {"units": "s", "long_name": "time"}),
                  "y": ds["y"].variable, "x": ds["x"].variable}
        resid = simulated - self.measured
        frame_misfit = np.array([np.mean(r[u] ** 2) if u.any() else np.nan for r, u in zip(resid, self.use)])
        data = {
            "theta_simulated": (("time", "y", "x"), simulated,
                                {"units": "1", "long_name": "simulated lithium fraction seen through the PSF"}),
            "theta_measured": (("time", "y", "x"), self.measured,
                               {"units": "1", "long_name": "lithium fraction from the movie"}),
            "theta_residual": (("time", "y", "x"), resid, {"units": "1", "long_name": "simulated minus measured"}),
            "misfit": ((), self.ssr(simulated) / self.n_data,
                       {"units": "1", "long_name": "mean squared theta difference over particle pixels and frames "
                                                   "after the reference"}),
            "frame_misfit": (("time",), frame_misfit, {"units": "1", "long_name": "mean squared theta difference "
                                                                                  "per frame (NaN at the reference)"}),
            "alpha": ((), float(alpha), {"units": "1", "long_name": "scale factor on D(theta)"}),
        }
        if "ring" in ds and ds["ring"].dims == ("y", "x") and "ring_index" in ds.coords:
            ring = np.asarray(ds["ring"].values)
            idx = np.asarray(ds["ring_index"].values)
            for name, field in (("simulated", simulated), ("measured", self.measured)):
                means = np.full((self.times.size, idx.size), np.nan)
                for j, k in enumerate(idx):
                    sel = (ring == k) & self.inside
                    if sel.any():
                        means[:, j] = np.nanmean(field[:, sel], axis=1)
                data[f"ring_theta_{name}"] = (("time", "ring_index"), means,
                                              {"units": "1", "long_name": f"{name} theta per equal-area ring "
                                                                          "(0 = edge)"})
            coords["ring_index"] = ds["ring_index"].variable
        attrs = {
            "title": "lithmap model-movie comparison",
            "protocol": self.protocol,
            "theta0": self.theta0,
            "material": str(self.material) if self.material is not None else "",
            "diffusivity": str(self.diffusivity) if self.diffusivity is not None else "",
            "psf_fwhm": float(self.sigma[1] * FWHM_PER_SIGMA * self.pixel_size[1]) if self.sigma else 0.0,
            "reference_frame": int(self.frames[0]),
            "n_data": self.n_data,
            "misfit_definition": "mean over particle pixels (finite measured theta) and frames after the reference "
                                 "frame of (theta_simulated - theta_measured)^2; theta_simulated is the engine's "
                                 "theta blurred by the Gaussian PSF inside the particle, normalised by the "
                                 "blurred mask",
            "attr_units": "psf_fwhm in m; theta0 a fraction",
        }
        return xr.Dataset(data, coords=coords, attrs=attrs)


def compare_movie(result, *, alpha: float, material=None, diffusivity=None, rate=None, theta0=None,
                  psf=None) -> xr.Dataset:
    """Simulate the particle of a ``lithmap contrast`` result on its own pixels and compare the
    simulated θ, seen through the microscope, with the measured θ maps.

    The engine (:func:`lithmap.simulate`) runs on the result's ``mask`` with the protocol
    "Charge (or Discharge) at ``rate`` for the movie's duration", starting uniform at ``theta0``
    at the reference frame (time zero) and reporting θ at every later frame on exactly the mask's
    pixels. The simulated maps are then blurred by a Gaussian point-spread function inside the
    particle only (normalised by the blurred mask, so the edge is not darkened).

    Parameters
    ----------
    result : xarray.Dataset or path
        A ``lithmap contrast`` result (:func:`lithmap.analyse_movie`) with ``mask`` (y, x;
        coordinates in m) and a calibrated ``theta`` (time, y, x).
    alpha : float
        Scale factor on the material's D(θ) (it replaces the material's own α).
    material : str or Material, optional
        Material preset (``"nmc811"``).
    diffusivity : float, str or path, optional
        D(θ) replacing the material's: m²/s, a quantity or a CSV table (``theta``, ``diffusivity_m2_s``).
    rate : str or float
        The constant C-rate of the movie, ``"C/3"`` (charge) or ``"-C/3"`` (discharge).
    theta0 : float, optional
        θ at the reference frame; default the result's ``theta0`` attr, else its calibration's
        mean θ at the reference frame, else 0.97.
    psf : float or str, optional
        FWHM of the Gaussian PSF in m or as a quantity (``"150nm"``); σ = FWHM / 2.3548.
        Default: no blur.

    Returns
    -------
    xarray.Dataset
        ``theta_simulated``, ``theta_measured``, ``theta_residual`` (time, y, x; from the
        reference frame on, NaN outside the particle), ``misfit`` (scalar: the mean squared θ
        difference over particle pixels and frames after the reference frame), ``frame_misfit``
        (time), ``alpha`` and, when the result has rings, ``ring_theta_simulated`` and
        ``ring_theta_measured`` (time, ring_index; ring 0 at the edge).

    Examples
    --------
    >>> import lithmap as lm
    >>> movie = lm.analyse_movie("example", rate="C/3", material="nmc811")
    >>> cmp = compare_movie(movie.isel(time=slice(0, 6)), alpha=2.7, material="nmc811", rate="C/3", psf="177nm")
    >>> cmp.theta_simulated.dims, cmp.sizes["time"], bool(cmp.misfit < 5e-3)  # shot noise: ~0.04 in θ per pixel
    (('time', 'y', 'x'), 6, True)
    """
    problem = MovieProblem(result, material=material, diffusivity=diffusivity, rate=rate, theta0=theta0, psf=psf)
    return problem.dataset(alpha, problem.simulated(alpha))
