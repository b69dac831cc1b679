"""Commands of chemo-mechanics: stress. Each parses its options, calls one public function of
``lithmap`` and writes its result."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import LithmapError
from ..mechanics.driver import STRESS_TOL
from . import _all_or_nothing, _outputs, _progress, app, friendly, with_unit
from .physics import _file_inputs


def _stress_shape(shape: str, void: Optional[str], pores: Optional[int], pore_radius: Optional[str],
                  pore_distance: Optional[str]):
    """The sphere to simulate: ``--shape sphere:R`` (``sphere:R:void=a``, ``sphere:R:void=a:pores=n``),
    with ``--void`` and ``--pores`` (``--pore-radius``, ``--pore-distance``)."""
    from ..physics.fem_mesh import PorousSphere, porous_sphere
    from ..physics.geometry import Cylinder, HollowSphere, Sphere, parse_shape

    geom = parse_shape(shape)
    if isinstance(geom, Cylinder):
        raise LithmapError(f"shape={shape!r} is invalid for stress; expected sphere:<R>, sphere:<R>:void=<a>, "
                           "sphere:<R>:void=<a>:pores=<n> or a 2D particle (disc:<R>, example, a mask, a contrast "
                           "result)")
    if not isinstance(geom, (Sphere, PorousSphere)):  # a 2D particle
        if void is not None or pores is not None:
            raise LithmapError(f"--void and --pores are for spheres; shape={shape!r} is a 2D particle")
        return geom
    if void is not None and (isinstance(geom, HollowSphere) or getattr(geom, "void", 0) > 0):
        raise LithmapError(f"--void={void!r} and shape={shape!r} both give a void; give one")
    if pores is None:
        if pore_radius is not None or pore_distance is not None:
            raise LithmapError("--pore-radius and --pore-distance need --pores N")
        if void is None:
            return geom
        if isinstance(geom, PorousSphere):
            return PorousSphere(geom.radius, with_unit(void, "m"), geom.pores)
        return HollowSphere(geom.radius, with_unit(void, "m"))
    if isinstance(geom, PorousSphere):
        raise LithmapError(f"--pores={pores!r} and shape={shape!r} both give pores; give one")
    kw = {k: with_unit(v, "m") for k, v in (("pore_radius", pore_radius), ("pore_distance", pore_distance))
          if v is not None}
    inner = with_unit(void, "m") if void is not None else getattr(geom, "void", 0.0)
    return porous_sphere(geom.radius, void=inner, pores=pores, **kw)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@app.command()
@friendly
def stress(
    shape: str = typer.Option(..., help="sphere:8um, then optionally :void=0.5um (a central void, zero flux on it) "
                                         "and :pores=2 (two 0.2 um pores: axisymmetric finite elements); or a 2D "
                                         "particle: disc:2um, example, a mask or a contrast result (plane FE)"),
    protocol: list[str] = typer.Option(..., help="e.g. 'Charge at 10C for 72 seconds' (repeat or join with 'then')"),
    out: Path = typer.Option(..., help="output NetCDF file"),
    void: Optional[str] = typer.Option(None, help="central void radius, e.g. 0.5um"),
    pores: Optional[int] = typer.Option(
        None, help="number of pores (1 or 2, on the axis above/below the void; Liu, Zeng et al.'s particle has pores)"),
    pore_radius: Optional[str] = typer.Option(None, help="pore radius (default 0.2um, the paper's)"),
    pore_distance: Optional[str] = typer.Option(
        None, help="distance from the centre to each pore centre (default 1.1um; not given in the paper, assumed)"),
    material: Optional[str] = typer.Option(
        None, help="material preset: lrtmo (Li-rich oxide of Liu, Zeng et al., Nat. Nanotechnol. 2024) or nmc811"),
    youngs_modulus: Optional[str] = typer.Option(
        None, help="Young's modulus with its unit, e.g. 100GPa (default: the material's)"),
    poisson_ratio: Optional[float] = typer.Option(None, help="Poisson's ratio, < 0.5 (default: the material's)"),
    partial_molar_volume: Optional[str] = typer.Option(
        None, help="partial molar volume, e.g. 2e-6m^3/mol (linear strain; default: the material's lattice table)"),
    c_max: Optional[str] = typer.Option(None, help="maximum lithium concentration, e.g. 50000mol/m^3"),
    lattice: Optional[Path] = typer.Option(None, help="CSV of lattice parameters: columns theta, a, c"),
    dod: Optional[str] = typer.Option(None, help="depths of discharge for hoop stress along r, e.g. 0.1,0.2"),
    probe: Optional[str] = typer.Option(
        None, help="probe points, comma-separated: void or centre, surface, radii (2um); with pores also bridge "
                   "(between the void and the nearest pore; the default there: bridge, void, surface)"),
    temperature: Optional[str] = typer.Option(
        None, help="temperature, e.g. 298.15K; lrtmo's D(T) is Arrhenius within 223.15-393.15 K"),
    migration: Optional[str] = typer.Option(
        None, help="migration term of J = -D grad C - z u F C grad phi: none (one particle potential, the default) or "
                   "ambipolar (electroneutral with mobile electrons: D doubled)"),
    diffusivity: Optional[str] = typer.Option(
        None, help="constant D with units (1e-14cm^2/s) or CSV table (theta, diffusivity_m2_s)"),
    alpha: Optional[float] = typer.Option(None, help="scale factor on D (default: the material's, else 1)"),
    theta0: float = typer.Option(0.97, help="initial lithium fraction"),
    times: Optional[str] = typer.Option(None, help="output interval (10s) or comma-separated times; default automatic"),
    surface_spacing: Optional[str] = typer.Option(None, help="mesh spacing at the surface, e.g. 5nm (default refined)"),
    tol: float = typer.Option(STRESS_TOL, help="local error tolerance on theta per time step (tighter than "
                              "simulate's 1e-3: stress follows the gradient of theta)"),
    stop_at_limit: bool = typer.Option(False, help="end the run when the surface empties/fills instead of failing"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
    plane: str = typer.Option("strain", help="2D particles: plane strain (a long prism) or stress (a thin platelet)"),
    plot: bool = typer.Option(False, help="also write the stress figures (PNG) beside OUT"),
):
    """Simulate a particle and write its stresses (Pa) beside theta: closed forms on r for solid and hollow spheres,
    axisymmetric finite elements on (z, r) with pores, plane strain/stress finite elements on a 2D outline."""
    from .. import SolverOptions, protocol_duration, simulate_stress, write_result

    _outputs(out, overwrite=overwrite, inputs=_file_inputs(diffusivity, lattice and str(lattice)), figure=False)
    if youngs_modulus is not None and _is_number(youngs_modulus):
        raise LithmapError(f"youngs_modulus={youngs_modulus!r} has no unit; give one, e.g. 150GPa (not read as Pa)")
    geom = _stress_shape(shape, void, pores, pore_radius, pore_distance)
    mesh_options = None if surface_spacing is None else {"surface_spacing": surface_spacing}
    with _progress(protocol_duration(protocol)) as callback:
        ds = simulate_stress(
            geom, protocol, material=material, temperature=with_unit(temperature, "K"), migration=migration,
            youngs_modulus=with_unit(youngs_modulus, "Pa"), poisson_ratio=poisson_ratio,
            partial_molar_volume=with_unit(partial_molar_volume, "m^3/mol"), c_max=with_unit(c_max, "mol/m^3"),
            lattice=lattice, dod=dod, probe=probe, plane=plane,
            diffusivity=diffusivity, alpha=alpha, theta0=theta0, times=times, mesh_options=mesh_options,
            options=SolverOptions(tol=tol), stop_at_limit=stop_at_limit, progress=callback,
        )
    write_result(ds, out, overwrite=overwrite)
    with _all_or_nothing(out):
        peak = float(abs(ds["hoop_stress"]).max())
        typer.echo(f"wrote {out}: {ds.time.size} times to {float(ds.time[-1]):.1f} s, DOD "
                   f"{float(ds.depth_of_discharge[-1]):.3f}, peak |hoop stress| {peak:.3e} Pa")
        if plot:
            from .. import plot_stress

            files = plot_stress(ds, out.parent, prefix=out.stem)
            typer.echo("figures: " + ", ".join(str(f) for f in files))
