"""Public entry points: simulate one particle, or sweep many (α × rate × size) in one batch."""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr

from .. import __version__
from ..errors import LithmapError
from .engine import SolverOptions, SurfaceLimits, run_batch
from .fem_mesh import PorousSphere
from .geometry import Cylinder, Shape2D, Sphere, parse_shape
from .materials import Material, as_diffusivity, get_material, plain_material
from .protocol import parse_c_rate, parse_protocol


def resolve_material(material=None, diffusivity=None) -> Material:
    """Material from a preset name / :class:`Material`, with D(θ) optionally replaced.

    Parameters
    ----------
    material : str or Material, optional
        A preset name (``"nmc811"``) or a material.
    diffusivity : Diffusivity, float, str or Path, optional
        Replaces the material's D(θ) (and sets its α to 1): m²/s, a quantity such as
        ``"1e-14cm^2/s"``, or a CSV table with columns ``theta`` and ``diffusivity_m2_s``
        (see :func:`~lithmap.physics.materials.as_diffusivity`).

    Returns
    -------
    Material

    Examples
    --------
    >>> resolve_material(diffusivity="1e-14cm^2/s").diffusivity
    ConstantDiffusivity(1e-18 m^2/s)
    >>> m = resolve_material("nmc811", 1e-16)
    >>> m.name, m.alpha
    ('nmc811', 1.0)
    """
    if material is None and diffusivity is None:
        raise LithmapError("give a material (e.g. 'nmc811') or a diffusivity (e.g. 1e-18 m^2/s or a CSV table)")
    mat = get_material(material) if isinstance(material, str) else material
    if diffusivity is not None:
        d = as_diffusivity(diffusivity)
        mat = plain_material(d) if mat is None else mat.replace(diffusivity=d, alpha=1.0)
    return mat


def protocol_duration(protocol) -> float | None:
    """Sum of the fixed step durations of a protocol, s (None when no step has one): the
    length a progress bar can count toward.

    Parameters
    ----------
    protocol : str, Step or list
        As for :func:`parse_protocol`.

    Returns
    -------
    float or None

    Examples
    --------
    >>> protocol_duration("Charge at C/3 for 1 hour then Rest for 10 minutes")
    4200.0
    >>> protocol_duration("Charge at C/3 until 4.2 V") is None
    True
    """
    return sum(st.duration or 0 for st in parse_protocol(protocol)) or None


def sweep_duration(protocol: str, rate) -> float | None:
    """The fixed-duration length (s) of a sweep's protocol template at its slowest rate; None
    when it has none or the template or rates are not valid (the sweep itself then says why).

    Parameters
    ----------
    protocol : str
        A template with ``{rate}``, as for :func:`sweep`.
    rate : array_like or str
        The sweep's C-rates (numbers, ``"C/3"``, or one comma-separated string).

    Returns
    -------
    float or None

    Examples
    --------
    >>> sweep_duration("Charge at {rate} for 30 minutes then Rest for 10 minutes", "0.5,1")
    2400.0
    >>> sweep_duration("Charge at {rate} for 2 hours", "C/2,1C")
    7200.0
    """
    try:
        rates = _values(rate, _rate_value)
        if not (rates.size and np.all(rates > 0) and "{rate}" in protocol):
            return None
        return protocol_duration(protocol.replace("{rate}", f"{float(rates.min())!r}C"))
    except LithmapError:
        return None


def _output_times(times):
    """(t_eval, interval) from ``times``: None (automatic), an interval (a number in s or a
    quantity such as ``"10s"``), a comma-separated list (``"0,60,120"``) or an array of times (s)."""
    from ..io.units import parse_quantity

    if times is None:
        return None, None
    if isinstance(times, str):
        if "," in times:
            vals = [parse_quantity(v, "s", name="times") for v in times.split(",") if v.strip()]
            return _check_times(np.array(vals)), None
        interval = parse_quantity(times, "s", name="times")
        if not interval > 0:
            raise LithmapError(f"times={times!r} is invalid; expected a positive interval such as '10s'")
        return None, interval
    if np.ndim(times) == 0:
        interval = float(times)
        if not (np.isfinite(interval) and interval > 0):
            raise LithmapError(f"times={times!r} is invalid; expected a positive output interval in s")
        return None, interval
    return _check_times(np.asarray(times, dtype=float)), None


def _check_times(t_eval):
    if t_eval.size and (np.any(~np.isfinite(t_eval)) or np.any(t_eval < 0)):
        raise LithmapError("times must be finite and non-negative (s)")
    return t_eval


def default_interval(steps, material: Material, n=240) -> float:
    """Output interval giving ~n frames over the protocol's expected length, rounded to a nice
    value (frames continue at this interval however long the protocol actually runs)."""
    total = 0.0
    for st in steps:
        if st.duration is not None:
            total += st.duration
        elif st.kind == "current":
            rate = abs(st.with_c_rate(material.practical_capacity).value)
            total += 3600.0 / max(rate, 1e-6)
        else:
            total += 3600.0
    raw = total / n
    nice = np.array([1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600])
    return float(nice[np.searchsorted(nice, raw)] if raw <= nice[-1] else raw)


def _attrs(material: Material, alpha, theta0, geometry_text, steps, options: SolverOptions, limits: SurfaceLimits,
           mesh, extra=None):
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
        "flux_convention": ("uniform outward lithium flux over the particle surface" if material.current_distribution
                            == "uniform" else "outward lithium flux spread over the surface by Butler-Volmer at one "
                            "particle potential (the imposed total)") + "; + = charge = delithiation",
        "mesh_nodes": int(mesh.n),
        "mesh_min_spacing": float(mesh.min_spacing()),
        "solver": "TR-BDF2, adaptive, vertex-centred finite volumes (lumped P1 in 2D)",
        "solver_tol": float(options.tol),
        "surface_limits": np.asarray(limits.as_tuple(), dtype=float),
        "attr_units": "SI: mesh_min_spacing and centre_xy in m, c_max in mol/m^3; theta attrs are fractions",
    }
    if material.c_max is not None:
        attrs["c_max"] = float(material.c_max)
    attrs["temperature"] = float(material.temperature)
    attrs["attr_units"] += "; temperature in K"
    attrs["current_distribution"] = material.current_distribution
    attrs["migration"] = material.migration
    if material.counter_exchange_current is not None:
        attrs["counter_exchange_current"] = float(material.counter_exchange_current)
        attrs["attr_units"] += "; counter_exchange_current in A/m^2 (lithium-metal counter electrode)"
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
    pixel_size=None,
    mesh_options: dict | None = None,
    options: SolverOptions | None = None,
    surface_limits=None,
    stop_at_limit: bool = False,
    progress=None,
) -> xr.Dataset:
    """Simulate lithium diffusion in one particle through a protocol.

    Parameters
    ----------
    shape : str, geometry, xarray.DataArray or path
        The particle: ``"sphere:8um"``, ``"disc:1um"``, ``"ellipse:2umx1.2um"``, ``"example"``,
        a mask image, a ``contrast`` result (``movie.nc``; its ``mask`` is used), a mask
        DataArray such as ``ds["mask"]`` of a contrast result, or a :class:`Sphere`,
        :class:`Cylinder`, :class:`Disc`, :class:`Ellipse`, :class:`Polygon`, :func:`from_mask`
        shape (see :func:`~lithmap.physics.geometry.parse_shape`). A mask's θ is reported on
        exactly its ``y``, ``x`` coordinates.
    protocol : str or list
        Steps such as ``"Charge at C/3 for 1 hour then Rest for 1 hour"`` (:func:`parse_protocol`).
    material : str or Material, optional
        Preset name (``"nmc811"``) or a :class:`Material`.
    diffusivity : float, str, Path or Diffusivity, optional
        Replaces the material's D(θ): m²/s, a quantity (``"1e-14cm^2/s"``) or a CSV table
        (``theta``, ``diffusivity_m2_s``).
    alpha : float, optional
        Scale factor on D (default: the material's, 1 for a bare diffusivity).
    theta0 : float
        Initial uniform lithium fraction.
    times : float, str or array, optional
        An output interval (s, or ``"10s"``), output times (an array in s, or
        ``"0,60,120"``). Default: an interval giving ~240 frames over the protocol's expected
        length, kept for as long as it runs. Step ends and events are always included.
    pixel_size : float or str, optional
        Pixel size of a mask that does not record one, or of a disc's or ellipse's output grid.
    mesh_options : dict, optional
        ``surface_spacing``, ``max_spacing`` (m or with units), ``growth`` (or ``n`` uniform
        nodes for radial meshes). The default refines toward the surface.
    options : SolverOptions, optional
        Integrator settings (tolerance, step sizes).
    surface_limits : (float, float) or SurfaceLimits, optional
        Bounds of the surface θ (default (0, 1)); reaching one ends the run with
        ``stop_at_limit``, else it is an error naming the step.
    stop_at_limit : bool
        End the run when the surface θ reaches a limit instead of raising an error.
    progress : callable, optional
        Called with the simulated time (s) after each step.

    Returns
    -------
    xarray.Dataset
        ``theta`` on (time, r) or (time, y, x); ``theta_mean``, ``theta_centre``,
        ``theta_surface``, ``c_rate`` (+ = charge), ``voltage`` (V, when the material has an
        OCV), ``step``, ``delithiated`` (integrated surface flux, θ units) and, in 2D, ``mask``;
        units in attrs; the C-rate convention in ``attrs["c_rate_convention"]``.

    Examples
    --------
    >>> ds = simulate("sphere:1um", "Charge at 1C for 10 minutes", diffusivity="1e-11cm^2/s", theta0=0.9)
    >>> round(float(ds.theta_mean[-1]), 4)  # 1C moves θ by 1 per hour
    0.7333
    >>> ds.theta.dims, ds.c_rate.attrs["units"]
    (('time', 'r'), 'C')
    >>> ex = simulate("example", "Charge at 1C for 1 minute", diffusivity=1e-15, times="30s")
    >>> ex.theta.dims, ex.sizes["time"], float(ex.x[1])
    (('time', 'y', 'x'), 3, 5e-08)
    """
    shape = parse_shape(shape, pixel_size=pixel_size)
    mat = resolve_material(material, diffusivity)
    alpha = mat.alpha if alpha is None else float(alpha)
    steps = parse_protocol(protocol)
    if not (isinstance(theta0, (int, float, np.floating)) and 0 <= float(theta0) <= 1):
        raise LithmapError(f"theta0={theta0!r} is invalid; expected a lithium fraction in [0, 1]")
    opts = options or SolverOptions()
    limits = SurfaceLimits.of(surface_limits, stop=stop_at_limit)
    t_eval, interval = _output_times(times)
    if t_eval is None and interval is None:
        interval = default_interval(steps, mat)
    mesh = shape.mesh(**(mesh_options or {}))
    recs, _ = run_batch(
        [mesh], mat, steps, alpha=alpha, theta0=float(theta0), options=opts, surface_limits=limits, t_eval=t_eval,
        output_interval=interval, progress=progress,
    )
    rec = recs[0]
    time = np.asarray(rec.time)
    fields = np.asarray(rec.theta)
    attrs = _attrs(mat, alpha, theta0, shape.describe(), steps, opts, limits, mesh, {"termination": rec.termination})
    data = {
        "theta_mean": ("time", mesh.mean(fields)),
        "theta_surface": ("time", mesh.surface_mean(fields)),
        "delithiated": ("time", np.asarray(rec.q)),
        "c_rate": ("time", np.asarray(rec.c_rate)),
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
        attrs["centre_xy"] = shape.centre()
    elif isinstance(shape, PorousSphere):
        _axisymmetric_fields(shape, mesh, fields, pixel_size, mesh_options, data, coords, attrs)
    else:  # pragma: no cover - guarded by parse_shape
        raise LithmapError(f"shape={shape!r} is not a lithmap geometry")
    if mat.ocv is not None:
        data["voltage"] = ("time", np.asarray(rec.voltage))
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    _annotate(ds)
    if isinstance(shape, PorousSphere):
        ds["theta_centre"].attrs["long_name"] = ("lithium fraction at the void surface on the equator"
                                                 if shape.void > 0 else "lithium fraction at the particle centre")
    if isinstance(shape, Sphere) and float(mesh.points[0]) > 0:  # a hollow sphere: no centre node
        ds["theta_centre"].attrs["long_name"] = "lithium fraction at the void surface (the innermost node)"
    return ds


def _axisymmetric_fields(shape, mesh, fields, pixel_size, mesh_options, data, coords, attrs):
    """θ of a porous sphere on the (z, r) grid of its meridian half-plane, and at the mesh vertices
    (``theta_node``, in the FE mesh's vertex order, so the stress takes them without interpolation)."""
    import json

    from .mesh import interpolation_matrix

    r, z, inside = shape.grid(pixel_size)
    Z, Rg = np.meshgrid(z, r, indexing="ij")
    P = interpolation_matrix(mesh, np.column_stack([Rg[inside], Z[inside]]))
    grid = np.full((fields.shape[0],) + inside.shape, np.nan)
    grid[:, inside] = (P @ fields.T).T
    vertex = np.empty_like(fields)
    vertex[:, mesh.source_index] = fields
    coords["z"] = ("z", z, {"units": "m", "long_name": "axial position (the axis of revolution)"})
    coords["r"] = ("r", r, {"units": "m", "long_name": "distance from the axis (cylindrical radius)"})
    vertex_points = mesh.points[np.argsort(mesh.source_index)]  # in the FE mesh's vertex order
    coords["node_r"] = ("node", vertex_points[:, 0], {"units": "m"})
    coords["node_z"] = ("node", vertex_points[:, 1], {"units": "m"})
    data["theta"] = (("time", "z", "r"), grid)
    data["theta_node"] = (("time", "node"), vertex)
    centre = interpolation_matrix(mesh, shape.centre()[None, :])
    data["theta_centre"] = ("time", (centre @ fields.T).ravel())
    data["mask"] = (("z", "r"), inside.astype(np.int8))
    pores = np.asarray(shape.pores, dtype=float).reshape(-1, 3)
    attrs.update({
        "particle_radius": shape.radius, "void_radius": shape.void,
        "pore_r": pores[:, 0], "pore_z": pores[:, 1], "pore_radius": pores[:, 2],
        "mesh_options": json.dumps({k: (v if isinstance(v, (str, int, float)) else float(v))
                                    for k, v in (mesh_options or {}).items()}),
        "solver": "TR-BDF2, adaptive, vertex-centred finite volumes (lumped P1 on the solid of revolution)",
        "zero_flux_surfaces": "void and pores (lithium crosses the outer surface only)",
    })
    attrs["attr_units"] += "; particle_radius, void_radius, pore_r, pore_z, pore_radius in m"


_META = {
    "theta": ("1", "lithium fraction c/c_max"),
    "theta_mean": ("1", "particle-average lithium fraction"),
    "theta_surface": ("1", "surface-average lithium fraction"),
    "theta_centre": ("1", "lithium fraction at the particle centre"),
    "delithiated": ("1", "lithium removed through the surface (integrated flux, theta units)"),
    "c_rate": ("C", "C-rate (+ = charge = delithiation; see the c_rate_convention attr)"),
    "voltage": ("V", "particle voltage vs Li/Li+ (OCV at the surface + Butler-Volmer overpotential)"),
    "step": ("1", "protocol step index (0-based)"),
    "mask": ("1", "pixels inside the particle"),
    "theta_node": ("1", "lithium fraction c/c_max at the mesh vertices"),
}


def _annotate(ds):
    for name, (units, long_name) in _META.items():
        if name in ds:
            ds[name].attrs.update(units=units, long_name=long_name)


def _values(spec, parse) -> np.ndarray:
    """Sweep values: numbers, text, or one comma-separated string; each item read by ``parse``."""
    if isinstance(spec, str):
        spec = [v for v in spec.split(",") if v.strip()]
    items = np.atleast_1d(np.asarray(spec, dtype=object))
    return np.array([parse(v if isinstance(v, str) else float(v)) for v in items], dtype=float)


def _radius_value(v) -> float:
    from ..io.units import parse_quantity

    return parse_quantity(v, "m", name="radius")


def _alpha_value(v) -> float:
    try:
        number = float(v)
    except ValueError:
        raise LithmapError(f"alpha={v!r} is invalid; expected a number (a scale factor on D)") from None
    if not np.isfinite(number):
        raise LithmapError(f"alpha={v!r} is invalid; expected a finite number")
    return number


def _rate_value(v) -> float:
    return parse_c_rate(v, name="rate")


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
    surface_limits=None,
    stop_at_limit: bool = True,
    progress=None,
) -> xr.Dataset:
    """Solve the outer product radius × alpha × rate of radial particles in one batch.

    All runs are integrated together (one block-tridiagonal system per Newton iteration), each
    with its own adaptive time steps and events.

    Parameters
    ----------
    shape : {"sphere", "cylinder"}
    radius : array_like or str
        Radii in m, quantity strings, or one comma-separated string (``"0.5um,1um"``).
    alpha : array_like or str
        Scale factors on D.
    rate : array_like or str
        C-rates (positive): numbers, ``"C/3"``-like text, or one comma-separated string
        (``"C/3,1C"``; :func:`lithmap.parse_c_rate`).
    protocol : str
        A template whose ``{rate}`` is replaced by each C-rate (``"Charge at {rate} until 4.3 V"``).
    material, diffusivity, theta0, mesh_options, options, surface_limits, progress
        As for :func:`simulate` (the mesh is one nondimensional mesh scaled to each radius).
    times : float, str or array, optional
        When to sample the traces, as for :func:`simulate`: output times (an array in s, or
        ``"0,60,120"``) or an interval (s, or ``"60s"``; the traces then run to the last stop).
    stop_at_limit : bool
        End a run at a surface limit (default) instead of raising.

    Returns
    -------
    xarray.Dataset
        On dims (radius, alpha, rate[, time]): ``stop_time`` (s), ``theta_mean_end``,
        ``theta_surface_end``, ``theta_centre_end``, ``termination`` and, when ``times`` is
        given, the traces ``theta_mean``, ``theta_surface``, ``theta_centre`` (NaN after a run stops).

    Examples
    --------
    >>> ds = sweep(radius="0.5um,1um", alpha=[1.0], rate=[0.5, 1.0], protocol="Charge at {rate} for 6 minutes",
    ...            diffusivity=1e-15, theta0=0.9)
    >>> ds.stop_time.dims, ds.stop_time.shape
    (('radius', 'alpha', 'rate'), (2, 1, 2))
    >>> ds.theta_mean_end.sel(rate=1.0).round(6).values.ravel().tolist()  # 1C for 6 min: θ falls by 0.1
    [0.8, 0.8]
    >>> tr = sweep(radius="1um", alpha="1,2", rate="C/2", protocol="Charge at {rate} for 2 minutes",
    ...            diffusivity=1e-15, theta0=0.9, times="60s")
    >>> tr.theta_mean.dims, tr.time.values.tolist(), tr.rate.values.tolist()
    (('radius', 'alpha', 'rate', 'time'), [0.0, 60.0, 120.0], [0.5])
    """
    if shape not in ("sphere", "cylinder"):
        raise LithmapError(f"shape={shape!r} is invalid for a sweep; expected one of ['sphere', 'cylinder']")
    radius = _values(radius, _radius_value)
    alpha = _values(alpha, _alpha_value)
    rate = _values(rate, _rate_value)
    if "{rate}" not in protocol:
        raise LithmapError(f"protocol={protocol!r} needs a '{{rate}}' placeholder for the sweep's C-rates")
    if np.any(~(rate > 0)):
        raise LithmapError(f"rate={float(rate[~(rate > 0)][0])!r} is invalid; expected positive C-rates")
    mat = resolve_material(material, diffusivity)
    opts = options or SolverOptions()
    limits = SurfaceLimits.of(surface_limits, stop=stop_at_limit)
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
    t_eval, interval = _output_times(times)
    recs, _ = run_batch(
        meshes, mat, prot_list, alpha=np.array(alphas), theta0=theta0, options=opts, surface_limits=limits,
        t_eval=t_eval, output_interval=interval, record_fields=True, progress=progress,
    )
    if interval is not None:  # the traces' common grid: every multiple of the interval to the last stop
        last = max(rec.time[-1] for rec in recs)
        t_eval = interval * np.arange(np.floor(last / interval + 1e-9) + 1.0)
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
    attrs = _attrs(mat, np.nan, theta0, f"{shape} sweep", next(iter(protos.values())), opts, limits, meshes[0])
    attrs.pop("alpha")
    attrs["protocol_template"] = protocol
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    ds["stop_time"].attrs.update(units="s", long_name="time at which the run ended")
    for name, where in (("theta_mean", "particle-average"), ("theta_surface", "surface"),
                        ("theta_centre", "centre")):
        ds[f"{name}_end"].attrs.update(units="1", long_name=f"{where} lithium fraction when the run ended")
    ds["termination"].attrs.update(long_name="why the run ended (protocol complete, or the surface limit reached)")
    _annotate(ds)
    return ds
