"""Public entry points: simulate one particle, or sweep many (α × rate × size) in one batch."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import xarray as xr

from .. import __version__
from ..errors import LithmapError
from .engine import SolverOptions, run_batch
from .geometry import Cylinder, Shape2D, Sphere, parse_shape
from .materials import (
    ConstantDiffusivity,
    Diffusivity,
    Material,
    TabulatedDiffusivity,
    get_material,
    plain_material,
)
from .protocol import parse_protocol


def resolve_material(material=None, diffusivity=None) -> Material:
    """Material from a preset name / :class:`Material`, with D(θ) optionally replaced.

    ``diffusivity`` may be a :class:`Diffusivity`, a number in m²/s, or a CSV path with columns
    ``theta`` and ``diffusivity_m2_s``.
    """
    if material is None and diffusivity is None:
        raise LithmapError("give a material (e.g. 'nmc811') or a diffusivity (e.g. 1e-18 m^2/s or a CSV table)")
    mat = get_material(material) if isinstance(material, str) else material
    if diffusivity is not None:
        if isinstance(diffusivity, Diffusivity):
            d = diffusivity
        elif isinstance(diffusivity, (str, Path)) and not _is_number(diffusivity):
            d = TabulatedDiffusivity.from_csv(diffusivity)
        else:
            try:
                value = float(diffusivity)
            except (TypeError, ValueError):
                raise LithmapError(f"diffusivity={diffusivity!r} is invalid; expected m^2/s or a CSV table") from None
            if math.isnan(value) or value <= 0 or math.isinf(value):
                raise LithmapError(f"diffusivity={diffusivity!r} is invalid; expected a positive finite value in m^2/s")
            d = ConstantDiffusivity(value)
        mat = plain_material(d) if mat is None else mat.replace(diffusivity=d, alpha=1.0)
    return mat


def _is_number(text) -> bool:
    try:
        float(text)
        return True
    except (TypeError, ValueError):
        return False


def default_interval(steps, material: Material, n=240) -> float:
    """Output interval giving ~n frames over the protocol's expected length, rounded to a nice
    value (frames continue at this interval however long the protocol actually runs)."""
    total = 0.0
    for st in steps:
        if st.duration is not None:
            total += st.duration
        elif st.kind == "current":
            rate = abs(st.value) if st.specific_current is None else abs(st.specific_current) / (material.practical_capacity or 1)
            total += 3600.0 / max(rate, 1e-6)
        else:
            total += 3600.0
    raw = total / n
    nice = np.array([1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600])
    return float(nice[np.searchsorted(nice, raw)] if raw <= nice[-1] else raw)


def _attrs(material: Material, alpha, theta0, geometry_text, steps, options: SolverOptions, mesh, extra=None):
    attrs = {
        "title": "lithmap particle simulation",
        "lithmap_version": __version__,
        "geometry": geometry_text,
        "material": material.name,
        "diffusivity": repr(material.diffusivity),
        "alpha": float(alpha),
        "theta0": float(theta0),
        "protocol": " then ".join(s.text for s in steps),
        "c_rate_convention": material.c_rate_convention,
        "capacity_fraction": float(material.capacity_fraction),
        "flux_convention": "uniform outward lithium flux over the particle surface; + = charge = delithiation",
        "mesh_nodes": int(mesh.n),
        "mesh_min_spacing_m": float(mesh.min_spacing()),
        "solver": "TR-BDF2, adaptive, vertex-centred finite volumes (lumped P1 in 2D)",
        "solver_tol": float(options.tol),
        "surface_limits": np.asarray(options.surface_limits, dtype=float),
    }
    if material.c_max is not None:
        attrs["c_max"] = float(material.c_max)
    for k, v in material.provenance.items():
        attrs[f"material_{k}"] = v
    attrs.update(extra or {})
    return attrs


def simulate(
    shape,
    protocol,
    *,
    material=None,
    diffusivity=None,
    alpha: float | None = None,
    theta0: float = 0.97,
    times=None,
    mesh_options: dict | None = None,
    options: SolverOptions | None = None,
    stop_at_limit: bool = False,
    progress=None,
) -> xr.Dataset:
    """Simulate lithium diffusion in one particle through a protocol.

    Parameters
    ----------
    shape : Sphere, Cylinder, Disc, Ellipse, Polygon, MaskShape or str
        The particle (a string is parsed by :func:`~lithmap.physics.geometry.parse_shape`).
    protocol : str or list
        Steps such as ``"Charge at C/3 for 1 hour then Rest for 1 hour"``.
    material : str or Material, optional
        Preset name (``"nmc811"``) or a :class:`Material`.
    diffusivity : float, str, Diffusivity, optional
        Replaces the material's D(θ): m²/s, or a CSV table (``theta``, ``diffusivity_m2_s``).
    alpha : float, optional
        Scale factor on D (default: the material's, 1 for a bare diffusivity).
    theta0 : float
        Initial uniform lithium fraction.
    times : array or float, optional
        Output times (s), or an output interval (s, a single number). Default: an interval
        giving ~240 frames over the protocol's expected length, kept for as long as it runs.
        Step ends and events are always included.
    mesh_options : dict, optional
        ``surface_spacing``, ``max_spacing``, ``growth`` (or ``n`` uniform nodes for radial
        meshes). The default refines toward the surface.
    stop_at_limit : bool
        End the run when the surface θ reaches a limit instead of raising an error.

    Returns
    -------
    xarray.Dataset
        ``theta`` on (time, r) or (time, y, x); ``theta_mean``, ``theta_centre``,
        ``theta_surface``, ``current`` (C-rate), ``voltage`` (V, when the material has an OCV),
        ``step``, ``delithiated`` (integrated surface flux, θ units); units in attrs.

    Examples
    --------
    >>> ds = simulate(Sphere(1e-6), "Charge at 1C for 10 minutes", diffusivity=1e-15, theta0=0.9)
    >>> round(float(ds.theta_mean[-1]), 4)  # 1C moves θ by 1 per hour
    0.7333
    """
    if isinstance(shape, str):
        shape = parse_shape(shape)
    mat = resolve_material(material, diffusivity)
    alpha = mat.alpha if alpha is None else float(alpha)
    steps = parse_protocol(protocol)
    if not (isinstance(theta0, (int, float, np.floating)) and 0 <= float(theta0) <= 1):
        raise LithmapError(f"theta0={theta0!r} is invalid; expected a lithium fraction in [0, 1]")
    opts = options or SolverOptions()
    if stop_at_limit:
        opts = type(opts)(**{**opts.__dict__, "on_limit": "stop"})
    mesh = shape.mesh(**(mesh_options or {}))
    t_eval, interval = None, None
    if times is None:
        interval = default_interval(steps, mat)
    elif np.ndim(times) == 0:
        interval = float(times)
        if not (np.isfinite(interval) and interval > 0):
            raise LithmapError(f"times={times!r} is invalid; expected a positive output interval in s")
    else:
        t_eval = np.asarray(times, dtype=float)
        if t_eval.size and (np.any(~np.isfinite(t_eval)) or np.any(t_eval < 0)):
            raise LithmapError("times must be finite and non-negative (s)")
    recs, eng = run_batch(
        [mesh], mat, steps, alpha=alpha, theta0=float(theta0), options=opts, t_eval=t_eval,
        output_interval=interval, progress=progress,
    )
    rec = recs[0]
    time = np.asarray(rec.time)
    fields = np.asarray(rec.theta)
    attrs = _attrs(mat, alpha, theta0, shape.describe(), steps, opts, mesh, {"termination": rec.termination})
    data = {
        "theta_mean": ("time", mesh.mean(fields)),
        "theta_surface": ("time", mesh.surface_mean(fields)),
        "delithiated": ("time", np.asarray(rec.q)),
        "current": ("time", np.asarray(rec.current)),
        "step": ("time", np.asarray(rec.step, dtype=np.int32)),
    }
    coords = {"time": ("time", time, {"units": "s", "long_name": "time"})}
    if isinstance(shape, (Sphere, Cylinder)):
        coords["r"] = ("r", mesh.points, {"units": "m", "long_name": "radial position"})
        data["theta"] = (("time", "r"), fields)
        data["theta_centre"] = ("time", fields[:, 0])
    elif isinstance(shape, Shape2D):
        P = shape.grid_operator(mesh)
        grid = np.full((time.size,) + shape.inside.shape, np.nan)
        grid[:, shape.inside] = (P @ fields.T).T
        from .mesh import interpolation_matrix

        centre = interpolation_matrix(mesh, shape.centre()[None, :])
        coords["y"] = ("y", shape.y, {"units": "m", "long_name": "y position"})
        coords["x"] = ("x", shape.x, {"units": "m", "long_name": "x position"})
        data["theta"] = (("time", "y", "x"), grid)
        data["theta_centre"] = ("time", (centre @ fields.T).ravel())
        data["mask"] = (("y", "x"), shape.inside.astype(np.int8))
        attrs["centre_xy_m"] = shape.centre()
    else:  # pragma: no cover - guarded by parse_shape
        raise LithmapError(f"shape={shape!r} is not a lithmap geometry")
    if eng.has_voltage:
        data["voltage"] = ("time", np.asarray(rec.voltage))
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    _annotate(ds)
    return ds


_META = {
    "theta": ("1", "lithium fraction c/c_max"),
    "theta_mean": ("1", "particle-average lithium fraction"),
    "theta_surface": ("1", "surface-average lithium fraction"),
    "theta_centre": ("1", "lithium fraction at the particle centre"),
    "delithiated": ("1", "lithium removed through the surface (integrated flux, theta units)"),
    "current": ("C", "current as C-rate (+ = charge = delithiation)"),
    "voltage": ("V", "particle voltage vs Li/Li+ (OCV at the surface + Butler-Volmer overpotential)"),
    "step": ("1", "protocol step index (0-based)"),
    "mask": ("1", "pixels inside the particle"),
}


def _annotate(ds):
    for name, (units, long_name) in _META.items():
        if name in ds:
            ds[name].attrs.update(units=units, long_name=long_name)


def sweep(
    shape: str = "sphere",
    *,
    radius,
    alpha,
    rate,
    protocol: str = "Charge at {rate} for 1 hour",
    material=None,
    diffusivity=None,
    theta0: float = 0.97,
    times=None,
    mesh_options: dict | None = None,
    options: SolverOptions | None = None,
    stop_at_limit: bool = True,
    progress=None,
) -> xr.Dataset:
    """Solve the outer product radius × alpha × rate of radial particles in one batch.

    All runs are integrated together (one block-tridiagonal system per Newton iteration), each
    with its own adaptive time steps and events. ``protocol`` is a template whose ``{rate}`` is
    replaced by each C-rate (e.g. ``"Charge at {rate} until 4.3 V"``).

    Returns a Dataset on dims (radius, alpha, rate[, time]) with ``stop_time``,
    ``theta_mean_end``, ``theta_surface_end``, ``theta_centre_end`` and, when ``times`` is
    given, the traces ``theta_mean``, ``theta_surface``, ``theta_centre`` (NaN after a run stops).
    """
    if shape not in ("sphere", "cylinder"):
        raise LithmapError(f"shape={shape!r} is invalid for a sweep; expected one of ['sphere', 'cylinder']")
    radius = np.atleast_1d(np.asarray(radius, dtype=float))
    alpha = np.atleast_1d(np.asarray(alpha, dtype=float))
    rate = np.atleast_1d(np.asarray(rate, dtype=float))
    if "{rate}" not in protocol:
        raise LithmapError(f"protocol={protocol!r} needs a '{{rate}}' placeholder for the sweep's C-rates")
    if np.any(~(rate > 0)):
        raise LithmapError(f"rate={float(rate[~(rate > 0)][0])!r} is invalid; expected positive C-rates")
    mat = resolve_material(material, diffusivity)
    opts = options or SolverOptions()
    if stop_at_limit:
        opts = type(opts)(**{**opts.__dict__, "on_limit": "stop"})
    geom = Sphere if shape == "sphere" else Cylinder
    # one nondimensional mesh scaled to each radius: identical resolution in x = r/R
    unit = geom(1.0).mesh(**(mesh_options or {"surface_spacing": 1 / 300, "max_spacing": 1 / 120}))
    scale = {"sphere": (3, 2, 1), "cylinder": (2, 1, 0)}[shape]
    protos = {c: parse_protocol(protocol.replace("{rate}", f"{float(c)!r}C")) for c in rate}
    meshes, prot_list, alphas = [], [], []
    for R, a, c in itertools.product(radius, alpha, rate):
        m = type(unit)(
            unit.kind, unit.points * R, unit.volume * R ** scale[0], unit.edges,
            unit.weight * R ** scale[2], unit.boundary * R ** scale[1],
        )
        meshes.append(m)
        prot_list.append(protos[c])
        alphas.append(a)
    t_eval = None if times is None else np.asarray(times, dtype=float)
    recs, eng = run_batch(
        meshes, mat, prot_list, alpha=np.array(alphas), theta0=theta0, options=opts, t_eval=t_eval,
        record_fields=True, progress=progress,
    )
    shape3 = (radius.size, alpha.size, rate.size)
    end = {k: np.empty(len(recs)) for k in ("stop_time", "theta_mean_end", "theta_surface_end", "theta_centre_end")}
    reasons = []
    for i, (rec, m) in enumerate(zip(recs, meshes)):
        th = rec.theta[-1]
        end["stop_time"][i] = rec.time[-1]
        end["theta_mean_end"][i] = m.mean(th)
        end["theta_surface_end"][i] = th[-1]
        end["theta_centre_end"][i] = th[0]
        reasons.append(rec.termination)
    dims = ("radius", "alpha", "rate")
    data = {k: (dims, v.reshape(shape3)) for k, v in end.items()}
    data["termination"] = (dims, np.array(reasons, dtype=object).reshape(shape3).astype(str))
    coords = {
        "radius": ("radius", radius, {"units": "m"}),
        "alpha": ("alpha", alpha, {"units": "1"}),
        "rate": ("rate", rate, {"units": "C"}),
    }
    if t_eval is not None:
        coords["time"] = ("time", t_eval, {"units": "s"})
        for name, fn in (("theta_mean", None), ("theta_surface", -1), ("theta_centre", 0)):
            arr = np.full((len(recs), t_eval.size), np.nan)
            for i, (rec, m) in enumerate(zip(recs, meshes)):
                idx = np.searchsorted(t_eval, rec.time)
                keep = (idx < t_eval.size) & np.isclose(t_eval[np.minimum(idx, t_eval.size - 1)], rec.time)
                th = np.asarray(rec.theta)[keep]
                arr[i, idx[keep]] = m.mean(th) if fn is None else th[:, fn]
            data[name] = (dims + ("time",), arr.reshape(shape3 + (t_eval.size,)))
    attrs = _attrs(mat, np.nan, theta0, f"{shape} sweep", next(iter(protos.values())), opts, meshes[0])
    attrs.pop("alpha")
    attrs["protocol_template"] = protocol
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    ds["stop_time"].attrs.update(units="s", long_name="time at which the run ended")
    _annotate(ds)
    return ds
