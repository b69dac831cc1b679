"""Synthetic operando movies: lithmap's model of one particle seen through a model microscope.

:func:`synthetic_movie` is the recipe of the example movie shipped with lithmap
(``examples/make_example_movie.py``, ``src/lithmap/data/example_movie.tif``) as a function, so
that tests, studies and benchmarks can make movies from known parameters (α, D(θ), optics) and
check what the analysis recovers. The recipe:

1. lithmap's engine simulates the particle (``simulate``) through the protocol: θ(t, y, x);
2. θ → brightness by a monotone law: by default the particle brightens linearly as lithium
   leaves, ~62 % when 0.77 of the lithium has gone (Xu, Merryweather et al., Joule 2022, report
   the NMC811 particles ~62 % brighter when delithiated), on a dark matrix;
3. the microscope: a Gaussian point-spread function, a slow drift, frame-to-frame flicker and
   Poisson shot noise; counts as uint16.

It is never a measurement: the result says so in its attrs (``synthetic = 1``, ``source``).
"""

from __future__ import annotations

import numbers

import numpy as np
import xarray as xr

from ..errors import LithmapError

__all__ = ["synthetic_movie"]

#: FWHM of a Gaussian over its σ: 2·sqrt(2·ln 2).
_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
#: The example movie's point-spread function: σ = 1.5 px at 50 nm, i.e. a FWHM of 176.6 nm.
EXAMPLE_PSF_FWHM = 1.5 * 50e-9 * _FWHM_PER_SIGMA
#: Frame interval of the example movie (s).
EXAMPLE_FRAME_INTERVAL = 120.0
#: θ span over which the linear law's ``contrast`` is the fractional brightening.
_CONTRAST_SPAN = 0.77


def synthetic_movie(shape="example", protocol="Charge at C/3 for 1 hour", *, material="nmc811", alpha=None,
                    diffusivity=None, theta0: float = 0.97, times=None, pixel_size=None, law="linear",
                    brightness: float = 2000.0, contrast: float = 0.62, matrix: float = 300.0,
                    psf=EXAMPLE_PSF_FWHM, drift: float = 2.0, flicker: float = 0.01, shot_noise: bool = True,
                    pad: int = 12, seed: int = 0, simulation: xr.Dataset | None = None,
                    return_truth: bool = False):
    """A SYNTHETIC operando movie of one particle, made from known parameters (not a measurement).

    The particle is simulated by :func:`lithmap.simulate` (or ``simulation`` is reused), its
    θ(t, y, x) turned into brightness by a monotone law, padded with matrix, blurred by a
    Gaussian point-spread function, shifted by a slow drift, scaled by a per-frame flicker and
    drawn with Poisson shot noise. With the defaults it is exactly the example movie shipped with
    lithmap (``lithmap.example_file("example_movie.tif")``).

    Parameters
    ----------
    shape : str, geometry or xarray.DataArray
        A 2D particle, as :func:`lithmap.simulate` takes it: ``"example"`` (the shipped outline,
        50 nm pixels), ``"disc:1um"`` (radius), ``"ellipse:2umx1.2um"``, a mask image or
        DataArray. Ignored when ``simulation`` is given.
    protocol : str
        The protocol, e.g. ``"Charge at C/3 for 1 hour"``.
    material, alpha, diffusivity, theta0
        As :func:`lithmap.simulate` (the truth the movie is made from).
    times : float, str or array_like, optional
        Frame times (s, array) or a frame interval (``120`` or ``"2 min"``); default one frame
        every 120 s over the protocol (which must then have a known length). With ``simulation``
        the default is all of its times.
    pixel_size : float or str, optional
        Pixel size (m or ``"55nm"``); default 50 nm for ``"example"``; required for a disc or an
        ellipse (a mask that records its pixel size needs none).
    law : "linear" or callable
        θ → brightness. ``"linear"``: ``brightness · (1 + contrast · (theta0 − θ) / 0.77)``.
        A callable ``f(theta)`` (array in, array out) gives the brightness relative to theta0:
        ``brightness · f(θ)``, with ``f(theta0) = 1``; it must be strictly monotone.
    brightness : float
        Counts of the particle at theta0 (before noise).
    contrast : float
        Fractional brightening from theta0 to theta0 − 0.77 (linear law only).
    matrix : float
        Counts outside the particle.
    psf : float, str or None
        FWHM of the Gaussian point-spread function (m or ``"177nm"``); None: no blur. Default
        176.6 nm, σ = 1.5 px at 50 nm pixels, the example movie's.
    drift : float
        Largest drift (pixels): y drifts as ``0.75·drift·sin(k/7)``, x as ``drift·k/n`` at frame k of n.
    flicker : float
        Relative standard deviation of the per-frame brightness.
    shot_noise : bool
        Draw Poisson counts (else the expected counts, rounded).
    pad : int
        Matrix pixels added on every side.
    seed : int
        Seed of the random numbers (flicker and shot noise).
    simulation : xarray.Dataset, optional
        A 2D :func:`lithmap.simulate` result to reuse instead of simulating (its ``theta`` on
        (time, y, x) must contain the frame times).
    return_truth : bool
        Also return the simulation (the true θ maps, on the movie's ``y``, ``x`` coordinates
        before drift and the frame times).

    Returns
    -------
    xarray.DataArray or (xarray.DataArray, xarray.Dataset)
        ``frames`` (time, y, x), uint16 counts; ``time`` in s, ``y``, ``x`` in m (the
        simulation's coordinates extended by ``pad`` pixels, so the true θ sits on the same
        coordinates); attrs ``synthetic = 1``, ``source`` (says it is synthetic and lists the
        truth and the optics), ``pixel_size``, ``frame_interval``, ``alpha``, ``theta0``,
        ``protocol``, ``psf_fwhm`` (m), ``psf_sigma`` (px), ``drift_y``, ``drift_x`` (px, per frame).
        With ``return_truth`` also the simulation Dataset at the frame times.

    Raises
    ------
    LithmapError
        A 1D shape (sphere), a missing pixel size, bad times or optics, a law that is not
        monotone or not 1 at theta0, or a simulation without 2D θ (one line naming the value).

    Examples
    --------
    >>> import numpy as np
    >>> movie, truth = synthetic_movie("disc:0.5um", "Charge at 1C for 20 minutes", pixel_size="100nm",
    ...                                times=[0, 600, 1200], pad=4, return_truth=True)
    >>> movie.dims, movie.shape, movie.dtype, movie.attrs["synthetic"]
    (('time', 'y', 'x'), (3, 19, 19), dtype('uint16'), 1)
    >>> movie.attrs["source"].startswith("SYNTHETIC")
    True
    >>> bool(movie[-1, 9, 9] > movie[0, 9, 9]), truth.theta.dims  # the centre, brighter as lithium leaves
    (True, ('time', 'y', 'x'))
    >>> synthetic_movie("disc:0.5um", pixel_size="100nm", times=[0, 60], law=lambda t: 1 + 0 * t)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: law is constant over theta ...; it must be strictly monotone
    """
    from scipy import ndimage

    from ..io.units import parse_quantity

    sigma, fwhm = None, None
    optics = _check_optics(brightness, contrast, matrix, drift, flicker, pad, seed)
    if simulation is None:
        ds, times = _simulate(shape, protocol, material, alpha, diffusivity, theta0, times, pixel_size)
    else:
        ds, times = _reuse(simulation, times)
    px = float(ds.x.values[1] - ds.x.values[0])
    if psf is not None:
        fwhm = parse_quantity(psf, "m", name="psf")
        if not fwhm > 0:
            raise LithmapError(f"psf={psf!r} is invalid; expected a positive FWHM such as '177nm' (or None: no blur)")
        # σ in pixels, rounded to 1e-9 px so a FWHM written in m reproduces the same blur exactly
        sigma = round(fwhm / _FWHM_PER_SIGMA / px, 9)
    theta0_used = float(ds.attrs.get("theta0", theta0))
    theta = np.asarray(ds.theta.values, float)
    inside = ~np.isnan(theta[0])
    if not inside.any():
        raise LithmapError("simulation has no pixel inside the particle (theta is all NaN)")
    relative = _law(law, contrast, theta0_used, theta, inside)
    bright = np.where(inside, brightness * relative, matrix)
    bright = np.pad(bright, ((0, 0), (pad, pad), (pad, pad)), constant_values=matrix)
    rng = np.random.default_rng(seed)
    n = len(times)
    frames, drifts = [], []
    for k, f in enumerate(bright):
        shift = (0.75 * drift * np.sin(k / 7.0), drift * k / n)
        if sigma is not None:
            f = ndimage.gaussian_filter(f, sigma)
        # the stage moves the image and the camera samples the moved image: an exact sub-pixel
        # shift (Fourier), not an interpolation, which would add a blur no microscope has
        f = np.real(np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(f), shift)))
        f = f * (1 + flicker * rng.standard_normal())
        f = np.clip(f, 0, None)
        frames.append(rng.poisson(f) if shot_noise else np.rint(f))
        drifts.append(shift)
    counts = np.clip(np.asarray(frames), 0, np.iinfo(np.uint16).max).astype(np.uint16)
    y = ds.y.values[0] + (np.arange(counts.shape[1]) - pad) * px
    x = ds.x.values[0] + (np.arange(counts.shape[2]) - pad) * px
    drifts = np.asarray(drifts, float)
    alpha_used = ds.attrs.get("alpha", alpha)
    law_text = (f"linear, {contrast:g} brighter at theta0-{_CONTRAST_SPAN:g}" if isinstance(law, str)
                else f"callable {getattr(law, '__name__', 'law')}")
    psf_text = "none" if fwhm is None else f"Gaussian FWHM {fwhm * 1e9:.4g} nm (sigma {sigma:.4g} px)"
    source = (
        "SYNTHETIC movie made by lithmap.synthetic_movie, not a measurement: "
        f"particle {ds.attrs.get('geometry', shape)!s}, material {ds.attrs.get('material', material)!s}, "
        f"alpha {alpha_used}, theta0 {theta0_used:g}, protocol {ds.attrs.get('protocol', protocol)!r}; "
        f"optics: {px * 1e9:.4g} nm pixels, law {law_text}, {brightness:g} counts at theta0 on a {matrix:g}-count "
        f"matrix, PSF {psf_text}, drift up to {drift:g} px, flicker {flicker:g}, "
        f"shot noise {'Poisson' if shot_noise else 'none'}, pad {pad} px, seed {seed}"
    )
    attrs = {
        "long_name": "frames (raw counts)", "units": "counts", "synthetic": 1, "source": source,
        "pixel_size": px, "protocol": str(ds.attrs.get("protocol", protocol)), "theta0": theta0_used,
        "psf_fwhm": float("nan") if fwhm is None else float(fwhm),
        "psf_sigma": float("nan") if sigma is None else float(sigma),
        "drift_y": drifts[:, 0], "drift_x": drifts[:, 1], "pad": int(pad), "seed": int(seed), **optics,
    }
    if alpha_used is not None:
        attrs["alpha"] = float(alpha_used)
    dt = np.diff(times)
    if dt.size and np.allclose(dt, dt[0]):
        attrs["frame_interval"] = float(dt[0])
    movie = xr.DataArray(
        counts, dims=("time", "y", "x"), name="frames", attrs=attrs,
        coords={"time": ("time", np.asarray(times, float), {"units": "s", "long_name": "time"}),
                "y": ("y", y, {"units": "m", "long_name": "y position"}),
                "x": ("x", x, {"units": "m", "long_name": "x position"})},
    )
    return (movie, ds) if return_truth else movie


def _check_optics(brightness, contrast, matrix, drift, flicker, pad, seed) -> dict:
    for name, value, ok, want in (
        ("brightness", brightness, lambda v: v > 0, "a positive count"),
        ("contrast", contrast, lambda v: v > -1, "a fractional brightening above -1"),
        ("matrix", matrix, lambda v: v >= 0, "a count >= 0"),
        ("drift", drift, lambda v: v >= 0, "a drift >= 0 (pixels)"),
        ("flicker", flicker, lambda v: v >= 0, "a relative standard deviation >= 0"),
    ):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or not ok(value):
            raise LithmapError(f"{name}={value!r} is invalid; expected {want}")
    for name, value in (("pad", pad), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise LithmapError(f"{name}={value!r} is invalid; expected an integer >= 0")
    return {"brightness": float(brightness), "contrast": float(contrast), "matrix": float(matrix),
            "drift": float(drift), "flicker": float(flicker)}


def _frame_times(times, protocol):
    from ..io.units import parse_quantity
    from ..physics.simulate import protocol_duration

    if times is None or isinstance(times, (str, numbers.Real)) and not isinstance(times, bool):
        if times is None:
            interval = EXAMPLE_FRAME_INTERVAL
        else:
            try:
                interval = parse_quantity(times, "s", name="times")
            except LithmapError:
                interval = None
            if isinstance(times, str) and interval is None:
                return _time_array(times.split(","), times)
            if not interval > 0:
                raise LithmapError(f"times={times!r} is invalid; expected a positive frame interval or frame times")
        duration = protocol_duration(protocol)
        if duration is None:
            raise LithmapError(f"protocol={protocol!r} has no fixed length; give the frame times (times=[...])")
        n = int(np.floor(duration / interval + 1e-9)) + 1
        return np.arange(n) * interval
    return _time_array(times, times)


def _time_array(values, shown):
    from ..io.units import parse_quantity

    try:
        t = np.array([parse_quantity(v, "s", name="times") if isinstance(v, str) else float(v)
                      for v in np.atleast_1d(np.asarray(values, dtype=object))], float)
    except (TypeError, ValueError) as exc:
        raise LithmapError(f"times={shown!r} is invalid; expected frame times in s") from exc
    if t.ndim != 1 or t.size < 2 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0) or t[0] < 0:
        raise LithmapError(f"times={shown!r} is invalid; expected at least 2 increasing frame times >= 0 s")
    return t


def _simulate(shape, protocol, material, alpha, diffusivity, theta0, times, pixel_size):
    from ..physics.geometry import Shape2D, parse_shape
    from ..physics.simulate import simulate

    if pixel_size is None and isinstance(shape, str):
        s = shape.strip().lower()
        if s.startswith(("disc:", "disk:", "ellipse:")):
            raise LithmapError(f"shape={shape!r} needs pixel_size (the movie's pixels, e.g. '50nm')")
    geometry = parse_shape(shape, pixel_size=pixel_size)
    if not isinstance(geometry, Shape2D):
        raise LithmapError(f"shape={shape!r} is invalid; a movie needs a 2D particle (disc, ellipse, example, a mask)")
    t = _frame_times(times, protocol)
    ds = simulate(geometry, protocol, material=material, diffusivity=diffusivity, alpha=alpha, theta0=theta0,
                  times=t)
    return _at_times(ds, t, "simulate"), t


def _reuse(simulation, times):
    if not isinstance(simulation, xr.Dataset) or "theta" not in simulation \
            or tuple(simulation.theta.dims) != ("time", "y", "x"):
        raise LithmapError("simulation is invalid; expected a 2D lithmap.simulate result (theta on time, y, x)")
    if times is None:
        t = np.asarray(simulation.time.values, float)
    else:
        protocol = simulation.attrs.get("protocol")
        t = _frame_times(times, protocol) if protocol is not None or not isinstance(times, (str, numbers.Real)) \
            else _time_array(times, times)
    return _at_times(simulation, t, "simulation"), t


def _at_times(ds, t, what):
    have = np.asarray(ds.time.values, float)
    idx = np.searchsorted(have, t)
    idx = np.clip(idx, 0, have.size - 1)
    near = np.where(np.abs(have[idx] - t) <= np.abs(have[np.maximum(idx - 1, 0)] - t), idx, np.maximum(idx - 1, 0))
    bad = np.abs(have[near] - t) > 1e-6 * max(1.0, float(have[-1]))
    if bad.any():
        raise LithmapError(f"{what} has no frame at t={t[bad][0]:g} s (it ends at {have[-1]:g} s)")
    return ds.isel(time=near).assign_coords(time=("time", t, ds.time.attrs))


def _law(law, contrast, theta0, theta, inside):
    th = np.nan_to_num(theta)
    if isinstance(law, str):
        if law.strip().lower() != "linear":
            raise LithmapError(f"law={law!r} is invalid; expected 'linear' or a callable f(theta)")
        rel = 1 + contrast * (theta0 - th) / _CONTRAST_SPAN
    elif callable(law):
        vals = theta[:, inside]
        lo, hi = float(min(vals.min(), theta0)), float(max(vals.max(), theta0))
        grid = np.linspace(lo, hi, 201)
        try:
            at0 = float(np.asarray(law(np.array([theta0])), float).ravel()[0])
            g = np.asarray(law(grid), float)
            rel = np.ones_like(th)
            rel[:, inside] = np.asarray(law(vals), float)
        except Exception as exc:  # noqa: BLE001 - a user's function: report it in one line
            raise LithmapError(f"law failed on theta values: {type(exc).__name__}: {exc}") from exc
        if g.shape != grid.shape or not np.all(np.isfinite(g)):
            raise LithmapError("law must return one finite value per theta")
        if not np.isclose(at0, 1.0, rtol=0, atol=1e-6):
            raise LithmapError(f"law(theta0={theta0:g}) = {at0:.6g}; it must be 1 (brightness relative to theta0)")
        d = np.diff(g)
        if np.all(d == 0):
            raise LithmapError(f"law is constant over theta {lo:.3g}-{hi:.3g}; it must be strictly monotone")
        if not (np.all(d > 0) or np.all(d < 0)):
            raise LithmapError(f"law is not monotone over theta {lo:.3g}-{hi:.3g}; it must be strictly monotone")
    else:
        raise LithmapError(f"law={law!r} is invalid; expected 'linear' or a callable f(theta)")
    if np.any(rel[:, inside] <= 0):
        raise LithmapError(f"law gives a brightness <= 0 inside the particle (contrast={contrast!r}); "
                           "it must stay positive")
    return rel
