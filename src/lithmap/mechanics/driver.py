"""Stress from an engine result (``lithmap stress``): the lithium field θ(time, r) of a solid or hollow
sphere → chemical strain → closed-form stresses; the field of a sphere with a void and pores
(θ at the vertices of its axisymmetric mesh) → the same strain → finite-element stresses on that
mesh. Both give hoop-stress profiles at chosen depths of discharge and stress histories at
probe points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from .strain import mechanical_properties
from .stress import STRESS_META, sphere_stress

__all__ = ["depth_of_discharge", "particle_stress", "simulate_stress", "stress_at_dod"]

STRESS_NAMES = tuple(STRESS_META)
# θ tolerance of the time stepping in simulate_stress (see there): stress is a gradient of θ
STRESS_TOL = 1e-5


def _as_result(result) -> xr.Dataset:
    if isinstance(result, (str, Path)):
        from ..io.results import read_result

        result = read_result(result)
    if isinstance(result, xr.DataArray):
        result = result.to_dataset(name="theta")
    if not isinstance(result, xr.Dataset) or "theta" not in result:
        raise LithmapError("the result has no 'theta' variable; give a lithmap simulate result (or its theta)")
    if "r" not in result["theta"].dims and not {"y", "x"} <= set(result["theta"].dims):
        raise LithmapError(
            f"theta has dims {result['theta'].dims}; the particle stress needs a sphere's field on 'r', a porous "
            "sphere's on (z, r) (sphere:<R>:void=<a>:pores=<n>) or a 2D particle's on (y, x)"
        )
    if result.attrs.get("geometry", "").startswith("cylinder"):
        raise LithmapError("the closed-form stress is for spheres; this result is a cylinder")
    return result


def depth_of_discharge(result) -> xr.DataArray:
    """DOD(t) = |θ_mean(t) − θ_mean(0)| / f: the charge passed as a fraction of the practical
    capacity (f = the result's ``capacity_fraction``, what 1C moves in one hour; 1 when absent).

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"theta_mean": ("time", [1.0, 0.9, 0.8])}, attrs={"capacity_fraction": 0.5})
    >>> depth_of_discharge(ds).values.round(6).tolist()
    [0.0, 0.2, 0.4]
    """
    ds = result
    if "theta_mean" in ds:
        mean = ds["theta_mean"]
    else:
        mean = ds["theta"].mean("r")  # pragma: no cover - simulate always writes theta_mean
    f = float(ds.attrs.get("capacity_fraction", 1.0))
    change = mean - mean.isel(time=0)
    dod = abs(change) / f
    dod.name = "depth_of_discharge"
    moved = change.values[np.abs(change.values) > 1e-12]
    charging = moved.size > 0 and moved[0] < 0  # the run starts by removing lithium: a charge (delithiation)
    dod.attrs = {"units": "1", "long_name": ("depth of charge" if charging else "depth of discharge")
                 + ": charge passed / practical capacity"}
    return dod


def _dod_value(text) -> float:
    t = str(text).strip()
    return float(t[:-1]) / 100.0 if t.endswith("%") else float(t)


def _dod_values(dod) -> np.ndarray:
    """DODs as fractions of the practical capacity: numbers, ``"0.1,0.2"`` or ``"10%,20%"``."""
    from ..physics.simulate import _values

    try:
        values = _values(dod, _dod_value) if not np.isscalar(dod) or isinstance(dod, str) else np.array([float(dod)])
        values = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        values = np.array([np.nan])
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise LithmapError(f"dod={dod!r} is invalid; expected fractions of the practical capacity (>= 0) such as "
                           "0.1,0.2 (or 10%,20%)")
    return values


def stress_at_dod(stress: xr.Dataset, dod, *, variable: str = "hoop_stress") -> xr.DataArray:
    """A stress profile along the radius at depths of discharge: ``variable`` on (dod, r) (a sphere),
    on (dod, distance) along the bridge ray (a porous sphere), or the map on (dod, y, x) (2D).

    Each DOD is located at the first time the run reaches it, linearly interpolated between
    output times.

    Parameters
    ----------
    stress : xarray.Dataset
        A :func:`particle_stress` result (with ``depth_of_discharge`` on time).
    dod : float, str or list
        Fractions of the practical capacity, e.g. ``[0.1, 0.2]`` or ``"0.1,0.2"``.
    variable : str
        One of ``radial_stress``, ``hoop_stress``, ``hydrostatic_stress``, ``von_mises_stress``.

    Returns
    -------
    xarray.DataArray
        On (dod, r), (dod, distance) or (dod, y, x), Pa, with the interpolated ``time`` as a
        coordinate on ``dod``.

    Raises
    ------
    LithmapError
        A DOD the run never reaches.

    Examples
    --------
    >>> import lithmap as lm
    >>> st = lm.simulate_stress("sphere:8um", "Charge at 1C for 12 minutes", material="lrtmo", theta0=0.99,
    ...                         times="72s")
    >>> prof = stress_at_dod(st, "0.1,0.2")
    >>> prof.dims, [round(float(t)) for t in prof.dod_time]   # 1C: 20 % of the capacity in 12 minutes
    (('dod', 'r'), [360, 720])
    """
    if variable not in STRESS_NAMES or variable not in stress:
        raise LithmapError(f"variable={variable!r} is invalid; expected one of {list(STRESS_NAMES)}")
    values = _dod_values(dod)
    d = np.asarray((stress["depth_of_discharge"] if "depth_of_discharge" in stress
                    else depth_of_discharge(stress)).values, dtype=float)
    t = np.asarray(stress["time"].values, dtype=float)
    # a sphere's profile on r; a porous sphere's along its bridge ray; else the whole map (2D particles)
    var = variable
    if not ("r" in stress[variable].dims and stress[variable].ndim == 2) and f"{variable}_profile" in stress:
        var = f"{variable}_profile"
    space = [d for d in stress[var].dims if d != "time"]
    field = stress[var].transpose("time", *space).values
    rows, times = [], []
    running = np.maximum.accumulate(d)
    for target in values:
        hit = np.flatnonzero(running >= target - 1e-12)
        if hit.size == 0:
            raise LithmapError(f"dod={target:g} is not reached: the run ends at DOD {running[-1]:.4g} (a fraction of "
                               "the practical capacity: 20 % is 0.2)")
        i = int(hit[0])
        if i == 0 or d[i] == d[i - 1]:
            w = 1.0
        else:
            w = float(np.clip((target - d[i - 1]) / (d[i] - d[i - 1]), 0.0, 1.0))
        j = max(i - 1, 0)
        rows.append((1 - w) * field[j] + w * field[i])
        times.append((1 - w) * t[j] + w * t[i])
    where = {("r",): "along the radius", ("distance",): f"along {stress.attrs.get('profile_line', 'a ray')}"}
    out = xr.DataArray(
        np.array(rows), dims=("dod", *space),
        coords={"dod": ("dod", values, {"units": "1", "long_name": "depth of discharge"}),
                **{d: stress[d] for d in space},
                "dod_time": ("dod", np.array(times), {"units": "s", "long_name": "time the DOD is reached"})},
        name=f"{variable}_at_dod",
        attrs={"units": "Pa", "long_name": f"{STRESS_META[variable]} {where.get(tuple(space), 'map')} at chosen DODs"},
    )
    return out


def _probe_points(probe, r: np.ndarray) -> dict[str, float]:
    from ..io.units import parse_quantity

    hollow = r[0] > 0
    names = ["void" if hollow else "centre", "surface"] if probe is None else probe
    if isinstance(names, str):
        names = [p.strip() for p in names.split(",") if p.strip()]
    if isinstance(names, dict):
        named = {str(k): parse_quantity(v, "m", name="probe") for k, v in names.items()}
    else:
        named = {}
        for name in names:
            key = str(name).strip().lower()
            if key in ("void", "inner") and hollow:
                named["void"] = float(r[0])
            elif key in ("centre", "center", "inner") and not hollow:
                named["centre"] = 0.0
            elif key == "surface":
                named["surface"] = float(r[-1])
            else:
                try:
                    named[str(name)] = parse_quantity(name, "m", name="probe")
                except LithmapError:
                    raise LithmapError(
                        f"probe {name!r} is unknown; expected {'void' if hollow else 'centre'}, surface or a radius "
                        "such as 2um (the bridge point needs pores: --pores N or sphere:<R>:void=<a>:pores=<n>)"
                    ) from None
    for name, value in named.items():
        if not (r[0] - 1e-15 <= value <= r[-1] + 1e-15):
            raise LithmapError(
                f"probe {name!r} at r={value:.4g} m is outside the material ({r[0]:.4g} to {r[-1]:.4g} m)")
    return named


def _material_for(result, material):
    """The material whose mechanical preset fills the constants not given (a name, a Material, or
    the result's own ``material`` attr when it has a mechanical preset)."""
    from ..physics import materials as mats

    if material is not None:
        return material
    name = str(result.attrs.get("material", "")).strip().lower()
    return name if name in getattr(mats, "MECHANICAL_PRESETS", {}) else None


def particle_stress(result, material=None, *, youngs_modulus=None, poisson_ratio=None, partial_molar_volume=None,
                    c_max=None, lattice=None, theta_ref=None, dod=None, probe=None, plane="strain") -> xr.Dataset:
    """Stress inside a particle from the lithium field of a simulation.

    The chemical strain ε*(θ) (:func:`~lithmap.mechanics.strain.chemical_strain`) of the result's θ
    is turned into stresses by the model its geometry needs:

    - a solid or hollow sphere (θ on (time, r)): the closed forms of :mod:`lithmap.mechanics.stress`;
    - a sphere with a void and pores (``sphere:R:void=a:pores=n``, θ at the vertices of its
      axisymmetric mesh): axisymmetric finite elements on that same mesh
      (:func:`~lithmap.mechanics.fem.axisymmetric_stress`), maps on (time, z, r);
    - a 2D particle (θ on (time, y, x), e.g. a movie's outline): plane strain or plane stress
      finite elements on its outline (:func:`~lithmap.mechanics.fem.planar_stress`).

    Parameters
    ----------
    result : xarray.Dataset, DataArray or path
        A :func:`lithmap.simulate` result, its ``theta``, or the NetCDF file it was written to.
    material : str, Material or MechanicalProperties, optional
        Whose mechanical preset fills the constants not given (``"lrtmo"``); default: the
        result's material when it has one.
    youngs_modulus, poisson_ratio, partial_molar_volume, c_max, lattice, theta_ref
        As for :func:`~lithmap.mechanics.strain.mechanical_properties` (SI or quantity strings).
        ``c_max`` defaults to the result's.
    dod : float, str or list, optional
        Depths of discharge for ``hoop_stress_at_dod`` (:func:`stress_at_dod`).
    probe : str, list or dict, optional
        Points for the histories ``probe_<stress>`` on (time, probe): ``void`` (or ``centre``),
        ``surface``, radii (``"2um"``) or {name: radius}; default void/centre and surface. With
        pores also ``bridge`` (between the void and the nearest pore; the default there is
        bridge, void, surface) or {name: (r, z)}.
    plane : {"strain", "stress"}
        2D particles only: plane strain (a long prism) or plane stress (a thin platelet).

    Returns
    -------
    xarray.Dataset
        The result with ``chemical_strain``, ``radial_stress``, ``hoop_stress``,
        ``hydrostatic_stress``, ``von_mises_stress`` (Pa, on (time, r)), ``depth_of_discharge`` (on time), the
        probe histories and, with ``dod``, ``hoop_stress_at_dod``; the constants used (SI:
        ``youngs_modulus``, ``poisson_ratio``, ``partial_molar_volume`` and/or the lattice table,
        ``c_max``) as attrs.

    Raises
    ------
    LithmapError
        Bad constants (E ≤ 0, ν ≥ 0.5), a lattice table not covering θ, a DOD never reached, a
        probe outside the material, a result that is not a sphere.

    Examples
    --------
    >>> import lithmap as lm
    >>> ds = lm.simulate("sphere:8um:void=0.5um", "Charge at 1C for 5 minutes", diffusivity=5e-13, theta0=0.99,
    ...                  times="60s")
    >>> st = particle_stress(ds, youngs_modulus="100GPa", poisson_ratio=0.3, partial_molar_volume="2e-6m^3/mol",
    ...                      c_max="50000mol/m^3")
    >>> st.hoop_stress.dims, st.hoop_stress.attrs["units"], st.attrs["youngs_modulus"]
    (('time', 'r'), 'Pa', 100000000000.0)
    >>> bool(st.probe_hoop_stress.sel(probe="void")[-1] < 0)   # delithiation from the surface: void compressed
    True
    """
    ds = _as_result(result)
    porous = "theta_node" in ds
    planar = {"y", "x"} <= set(ds["theta"].dims)
    mat = _material_for(ds, material)
    if c_max is None and partial_molar_volume is not None and "c_max" in ds.attrs:
        from .strain import _preset

        if not (isinstance(mat, str) and _preset(mat).get("c_max")):
            c_max = float(ds.attrs["c_max"])
    props = mechanical_properties(mat, youngs_modulus=youngs_modulus, poisson_ratio=poisson_ratio,
                                  partial_molar_volume=partial_molar_volume, c_max=c_max, lattice=lattice,
                                  theta_ref=theta_ref)
    # a result that already carries stresses (its own dod / probe coordinates) is stressed afresh
    earlier = [v for v in ds.variables if "dod" in ds[v].dims or "probe" in ds[v].dims or "distance" in ds[v].dims
               or v in ("chemical_strain", "depth_of_discharge", *STRESS_NAMES)]
    if porous:
        return _porous_stress(ds.drop_vars(earlier), props, dod, probe)
    if planar:
        return _planar_stress(ds.drop_vars(earlier), props, dod, probe, plane)
    theta = ds["theta"].transpose(..., "r")
    strain = _strain_of(theta, props)
    stress = sphere_stress(strain, youngs_modulus=props.youngs_modulus, poisson_ratio=props.poisson_ratio)
    out = ds.drop_vars(earlier).copy()
    out["chemical_strain"] = strain
    for name in STRESS_NAMES:
        out[name] = stress[name]
    if "time" in out.dims:
        out["depth_of_discharge"] = depth_of_discharge(out)
    out.attrs.update(props.attrs())
    out.attrs.update({k: stress.attrs[k] for k in ("stress_method", "void_radius", "particle_radius")})
    out.attrs["attr_units"] = (out.attrs.get("attr_units", "SI") + "; youngs_modulus in Pa, partial_molar_volume in "
                               "m^3/mol, c_max in mol/m^3, void_radius and particle_radius in m")
    r = np.asarray(out["r"].values, dtype=float)
    named = _probe_points(probe, r)
    if named:
        pr = np.array(list(named.values()))
        for name in STRESS_NAMES:
            out[f"probe_{name}"] = stress[name].interp(r=xr.DataArray(pr, dims="probe"))
            out[f"probe_{name}"].attrs = {"units": "Pa", "long_name": f"{STRESS_META[name]} at the probe points"}
        out = out.assign_coords(probe=("probe", list(named)), probe_r=("probe", pr, {"units": "m"}))
    if dod is not None:
        if "time" not in out.dims:
            raise LithmapError("dod needs a result over time")
        out["hoop_stress_at_dod"] = stress_at_dod(out, dod)
    out.attrs["title"] = "lithmap particle stress"
    return out


def _strain_of(theta: xr.DataArray, props, where: str = "") -> xr.DataArray:
    """The chemical strain of a θ field as a labelled DataArray (strain.chemical_strain's values)."""
    return xr.DataArray(props.strain(theta.values), dims=theta.dims, coords=theta.coords, name="chemical_strain",
                        attrs={"units": "1", "long_name": "isotropic chemical strain" + where,
                               "strain_route": props.route})


def _planar_stress(ds, props, dod, probe, plane):
    """Plane strain / plane stress FE on a 2D particle's outline (its ``mask``), the strain of its θ map."""
    from .fem import planar_stress

    if probe is not None:
        raise LithmapError("probe points are for spheres; a 2D particle's stress is a map (pick points with .sel)")
    theta = ds["theta"].transpose("time", "y", "x")
    strain = _strain_of(theta, props)
    shape = ds["mask"] if "mask" in ds else None
    st = planar_stress(strain, shape, youngs_modulus=props.youngs_modulus, poisson_ratio=props.poisson_ratio,
                       plane=plane)
    out = ds.copy()
    out["chemical_strain"] = strain
    for k in st.data_vars:
        out[k] = st[k].transpose("time", "y", "x")
    out.attrs["centroid_xy"] = st.attrs["centroid_xy"]
    return _finish_fe(out, st, props, dod, f"plane {plane} finite elements (scikit-fem P2) on the particle outline",
                      units="mesh sizes and centroid_xy in m")


def _finish_fe(out, st, props, dod, method, *, units="mesh sizes in m", **attrs):
    """The attrs, DOD and profiles every finite-element stress result carries."""
    out["depth_of_discharge"] = depth_of_discharge(out)
    out.attrs.update(props.attrs())
    out.attrs.update({k: st.attrs[k] for k in ("model", "method", "n_elements", "n_nodes", "mesh_min_size",
                                               "mesh_max_size")})
    out.attrs.update(stress_method=method, **attrs)
    out.attrs["attr_units"] = (out.attrs.get("attr_units", "SI") + "; youngs_modulus in Pa, partial_molar_volume in "
                               f"m^3/mol, c_max in mol/m^3, {units}")
    if dod is not None:
        out["hoop_stress_at_dod"] = stress_at_dod(out, dod)
    out.attrs["title"] = "lithmap particle stress"
    return out


def _porous_geometry(ds):
    from ..physics.fem_mesh import PorousSphere

    pores = np.column_stack([np.atleast_1d(ds.attrs[k]) for k in ("pore_r", "pore_z", "pore_radius")])
    return PorousSphere(float(ds.attrs["particle_radius"]), float(ds.attrs["void_radius"]),
                        tuple(map(tuple, pores.reshape(-1, 3))))


def _porous_stress(ds, props, dod, probe):
    """The axisymmetric FE stress of a porous-sphere result, on the mesh its transport ran on
    (rebuilt from the same geometry and mesh options), θ taken at the vertices."""
    import json

    from ..physics.fem_mesh import porous_meshes
    from .fem import axisymmetric_stress

    geom = _porous_geometry(ds)
    fe_mesh, _ = porous_meshes(geom, **json.loads(ds.attrs.get("mesh_options", "{}")))
    theta = ds["theta_node"]
    strain = _strain_of(theta, props, " at the mesh vertices")
    r = np.asarray(ds["r"].values, dtype=float)
    if isinstance(probe, str):
        probe = [p.strip() for p in probe.split(",") if p.strip()]
    # the paper's radial profile: along the ray from the centre through the bridge point (or the equator)
    if geom.pores:
        br, bz = geom.bridge()
        angle = float(np.arctan2(br, bz))
        where = ("the ray from the centre through the bridge point (void to pore"
                 + ("; the axis z > 0" if abs(angle) < 1e-12 else "; the axis z < 0" if abs(angle - np.pi) < 1e-12
                    else "") + ")")
    else:
        angle, where = np.pi / 2, "the equator"
    st = axisymmetric_stress(strain, geom, youngs_modulus=props.youngs_modulus, poisson_ratio=props.poisson_ratio,
                             grid_spacing=float(r[1] - r[0]), probes=probe, mesh=fe_mesh, profile=angle)
    if not (np.allclose(st["r"].values, r, atol=1e-12 * r[-1]) and st.sizes["z"] == ds.sizes["z"]):
        raise LithmapError("the stress grid does not match the result's (z, r) grid")  # pragma: no cover
    out = ds.copy()
    out["chemical_strain_node"] = strain
    for name in (*STRESS_NAMES, "meridional_stress"):
        out[name] = (("time", "z", "r"), st[name].transpose("time", "z", "r").values, st[name].attrs)
    out = out.assign_coords(probe=st["probe"].values, probe_r=("probe", st["probe_r"].values, {"units": "m"}),
                            probe_z=("probe", st["probe_z"].values, {"units": "m"}))
    for k in [k for k in st.data_vars if k.startswith("probe_")]:
        out[k] = (("time", "probe"), st[k].transpose("time", "probe").values,
                  {"units": "Pa", "long_name": f"{k[6:].replace('_', ' ')} at the probe points"})
    for name in STRESS_NAMES:
        out[f"{name}_profile"] = (("time", "distance"), st[f"{name}_profile"].transpose("time", "distance").values,
                                  {"units": "Pa", "long_name": f"{STRESS_META[name]} along {where}"})
    out = out.assign_coords(distance=("distance", st["distance"].values,
                                      {"units": "m", "long_name": f"distance from the particle centre along {where}"}))
    return _finish_fe(out, st, props, dod, "axisymmetric finite elements (scikit-fem P2) on the transport's mesh",
                      profile_line=where)


def simulate_stress(shape, protocol, *, material=None, temperature=None, migration=None, youngs_modulus=None,
                    poisson_ratio=None, partial_molar_volume=None, c_max=None, lattice=None, theta_ref=None, dod=None,
                    probe=None, plane="strain", **simulate_options) -> xr.Dataset:
    """Simulate a particle and add its stresses: :func:`lithmap.simulate` then :func:`particle_stress`
    (the one way to get both in one call).

    Parameters
    ----------
    shape : str or geometry
        ``"sphere:8um"``, ``"sphere:8um:void=0.5um"``, ``"sphere:8um:void=0.5um:pores=2"`` (the
        coupled model on the axisymmetric mesh), a 2D particle (``"disc:2um"``, ``"example"``, a
        mask or a contrast result), or a geometry object.
    protocol : str or list
        As for :func:`lithmap.simulate`.
    material : str or Material, optional
        ``"lrtmo"`` gives the Li-rich oxide's D(T), capacity and mechanical preset.
    temperature : float or str, optional
        K; for ``lrtmo`` it sets the Arrhenius D(T) (223.15–393.15 K, outside is an error).
    migration : {"none", "ambipolar"}, optional
        The closure of the migration term (:class:`~lithmap.physics.materials.Material`); default the material's.
    youngs_modulus, poisson_ratio, partial_molar_volume, c_max, lattice, theta_ref, dod, probe, plane
        As for :func:`particle_stress`.
    **simulate_options
        Passed to :func:`lithmap.simulate` (``theta0``, ``times``, ``diffusivity``, ``alpha``,
        ``mesh_options``, ``options``, ``stop_at_limit``, ``progress``...). Without ``options``
        the time stepping runs at ``SolverOptions(tol=STRESS_TOL)`` (1e-5): stress follows the
        gradient of θ, and at 10C the θ gap across an 8 µm lrtmo particle is only ~0.04, so the
        engine's default θ tolerance (1e-3) would allow errors of several % in the stress
        (7 % in the void hoop stress at 5 % DOD; 0.4 % at 1e-5).

    Returns
    -------
    xarray.Dataset
        As for :func:`particle_stress`.

    Examples
    --------
    >>> st = simulate_stress("sphere:8um:void=0.5um", "Charge at 10C for 72 seconds", material="lrtmo",
    ...                      theta0=0.99, times="12s", dod="0.1")
    >>> st.hoop_stress_at_dod.dims, st.attrs["strain_route"]
    (('dod', 'r'), 'lattice')
    """
    from ..physics.geometry import Cylinder, parse_shape
    from ..physics.materials import Material, get_material, lrtmo
    from ..physics.simulate import simulate
    from ..physics.solver import SolverOptions

    geom = parse_shape(shape, pixel_size=simulate_options.pop("pixel_size", None))
    if isinstance(geom, Cylinder):
        raise LithmapError(f"shape={shape!r} is invalid for the particle stress; expected sphere:<R>, "
                           "sphere:<R>:void=<a>, sphere:<R>:void=<a>:pores=<n> or a 2D particle (disc:<R>, example, "
                           "a mask or a contrast result)")
    mat = material
    if isinstance(material, str):
        key = material.strip().lower()
        mat = lrtmo(298.15 if temperature is None else temperature) if key == "lrtmo" else get_material(key)
        if temperature is not None and key != "lrtmo":
            mat = mat.replace(temperature=temperature)
    elif temperature is not None and isinstance(material, Material):
        mat = material.replace(temperature=temperature)
    if migration is not None:
        from ..physics.simulate import resolve_material

        mat = resolve_material(mat, simulate_options.pop("diffusivity", None)).replace(migration=migration)
    # the mechanical constants are checked before the (longer) simulation
    early_c_max = c_max if c_max is not None or partial_molar_volume is None else getattr(
        mat if isinstance(mat, Material) else None, "c_max", None)
    mechanical_properties(mat, youngs_modulus=youngs_modulus, poisson_ratio=poisson_ratio,
                          partial_molar_volume=partial_molar_volume, c_max=early_c_max, lattice=lattice,
                          theta_ref=theta_ref)
    if simulate_options.get("options") is None:
        simulate_options["options"] = SolverOptions(tol=STRESS_TOL)
    ds = simulate(geom, protocol, material=mat, **simulate_options)
    return particle_stress(ds, material=mat, youngs_modulus=youngs_modulus,
                           poisson_ratio=poisson_ratio, partial_molar_volume=partial_molar_volume, c_max=c_max,
                           lattice=lattice, theta_ref=theta_ref, dod=dod, probe=probe, plane=plane)
