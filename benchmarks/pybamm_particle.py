"""PyBaMM side of the lithmap speed/accuracy benchmark.

Self-contained: imports only pybamm, numpy, scipy and the standard library
(no lithmap), so it can run in any environment with ``pybamm>=26.10,<26.11``
(``pip install -e .[bench]``).

Every problem is written by hand with :class:`pybamm.BaseModel` (not the
DFN/SPM): the state is the stoichiometry ``theta = c / c_max`` and the
equation is ``d theta/dt = div(D(theta) grad theta)`` with

    D(theta) = 1e-18 m^2/s * 10 ** (2 * clip((1 - theta) / 0.2, 0, 1)),

written as ``div(D * grad(theta))`` so that PyBaMM maps ``D`` onto cell
faces (harmonic mean in 1D finite volumes, harmonic mean per face in the
unstructured finite volumes).  The surface flux is imposed as a Neumann
condition ``d theta/dn = -j / D_face`` with ``j = J / c_max`` (m/s, J > 0 is
an outward Li flux, i.e. delithiation).  ``D_face`` is the boundary value of
``D`` extrapolated *exactly the way the spatial method extrapolates D onto
the boundary face*, so the discrete outward flux equals ``j`` exactly
(``-j / D(theta_surf)`` would not: D is strongly nonlinear).

Timings (``time.perf_counter``) in every result dict:

* ``build_s``: model + mesh + discretisation + solver construction, plus the
  solver's own set-up (casadi function / Jacobian generation, consistent
  initialisation), which IDAKLU performs inside its first ``solve`` call and
  reports as ``Solution.set_up_time``; it is moved from the solve call to
  ``build_s``.
* ``solve_s``: the rest of the ``solve`` call (time integration with event
  location).
* ``total_s``: wall time of the whole function (includes output extraction).

Solver: :class:`pybamm.IDAKLUSolver` with ``rtol=1e-8``, ``atol=1e-10``
(theta is O(1), so atol is on theta directly).

Run ``python benchmarks/pybamm_particle.py [--quick]`` for a JSON summary.
"""

import argparse
import json
import time

import numpy as np
import pybamm
import scipy.spatial

RTOL = 1e-8
ATOL = 1e-10
THETA0 = 0.97
THETA_STOP = 0.005
D_REF = 1e-18  # m^2/s at theta >= 0.8
SPHERE_OUTPUT_TIMES = (131.0, 393.0, 655.0, 917.0)
DISC_OUTPUT_TIMES = (600.0, 1200.0, 2400.0, 3600.0)


def diffusivity(theta, alpha=1.0):
    """D(theta) [m^2/s] as a PyBaMM expression; ``alpha`` multiplies it."""
    s = pybamm.maximum(pybamm.minimum((1 - theta) / 0.2, 1), 0)
    return alpha * D_REF * 10 ** (2 * s)


def diffusivity_np(theta, alpha=1.0):
    """D(theta) [m^2/s] on numpy arrays (post-processing)."""
    s = np.clip((1 - np.asarray(theta)) / 0.2, 0, 1)
    return alpha * D_REF * 10 ** (2 * s)


def _solver():
    return pybamm.IDAKLUSolver(rtol=RTOL, atol=ATOL)


def _timed_solve(solver, model, t_end, t_interp, inputs=None):
    """Solve and split the call into solver set-up and integration time."""
    t0 = time.perf_counter()
    sol = solver.solve(
        model, [0.0, float(t_end)], inputs=inputs, t_interp=np.asarray(t_interp)
    )
    call_s = time.perf_counter() - t0
    setup_s = _seconds(sol.set_up_time)
    return sol, setup_s, call_s - setup_s


def _seconds(timer_time):
    """pybamm.TimerTime (or a number) -> float seconds."""
    return float(getattr(timer_time, "value", timer_time))


def _value_at(sol, name, t):
    """Scalar variable at time t (nan past the end of the solution)."""
    if t > sol.t[-1] * (1 + 1e-12):
        return float("nan")
    return float(np.asarray(sol[name](t)).ravel()[0])


def _event_time(sol):
    return float(sol.t[-1])


def _stopped_by_event(sol):
    return str(sol.termination).startswith("event")


# ---------------------------------------------------------------------------
# 1. Single sphere, steep D
# ---------------------------------------------------------------------------


def _radial_model(radius, j, coord_sys, domain="particle"):
    """theta(r, t) on [0, R] with outward flux j = J/c_max [m/s] at r = R."""
    model = pybamm.BaseModel(name=f"{coord_sys} steep-D particle")
    r = pybamm.SpatialVariable("r", domain=[domain], coord_sys=coord_sys)
    theta = pybamm.Variable("theta", domain=domain)
    D = diffusivity(theta)
    model.rhs = {theta: pybamm.div(D * pybamm.grad(theta))}
    model.boundary_conditions = {
        theta: {
            "left": (pybamm.Scalar(0), "Neumann"),
            "right": (-j / pybamm.surf(D), "Neumann"),
        }
    }
    model.initial_conditions = {theta: pybamm.Scalar(THETA0)}
    ones = pybamm.PrimaryBroadcast(pybamm.Scalar(1), domain)
    theta_surf = pybamm.surf(theta)
    model.variables = {
        "theta": theta,
        "theta_surface": theta_surf,
        "theta_centre": pybamm.boundary_value(theta, "left"),
        "theta_mean": pybamm.Integral(theta, r) / pybamm.Integral(ones, r),
    }
    geometry = {domain: {r: {"min": pybamm.Scalar(0), "max": pybamm.Scalar(radius)}}}
    return model, r, geometry, theta_surf


def _radial_mesh_disc(model, r, geometry, npts, refined, domain="particle"):
    if refined:
        gen = pybamm.MeshGenerator(
            pybamm.Exponential1DSubMesh, submesh_params={"side": "right"}
        )
    else:
        gen = pybamm.MeshGenerator(pybamm.Uniform1DSubMesh)
    mesh = pybamm.Mesh(geometry, {domain: gen}, {r: int(npts)})
    disc = pybamm.Discretisation(mesh, {domain: pybamm.FiniteVolume()})
    disc.process_model(model)
    return mesh


def sphere_steep(npts, refined=False, radius=8e-6, c_rate=1 / 3, t_out=None):
    """Single sphere, steep D(theta), constant outward flux, stop at surface
    theta = 0.005 (IDAKLU event, located by root finding).

    1D finite volumes (``pybamm.FiniteVolume``) on ``pybamm.Uniform1DSubMesh``
    or, with ``refined=True``, ``pybamm.Exponential1DSubMesh`` with
    ``side="right"`` (default stretch 2.3), clustering cells at the surface.
    J/c_max = C R / (3*3600) m/s.  Surface/centre values are PyBaMM's linear
    extrapolations to r = R / r = 0; the mean is the volume average.
    """
    t_out = SPHERE_OUTPUT_TIMES if t_out is None else tuple(t_out)
    t0 = time.perf_counter()
    j = c_rate * radius / (3 * 3600.0)
    model, r, geometry, theta_surf = _radial_model(radius, j, "spherical polar")
    model.events = [pybamm.Event("surface theta", theta_surf - THETA_STOP)]
    _radial_mesh_disc(model, r, geometry, npts, refined)
    solver = _solver()
    t_build = time.perf_counter() - t0

    t_end = 3 * 3600.0 / c_rate  # generous; the event stops it
    sol, setup_s, solve_s = _timed_solve(
        solver, model, t_end, [0.0, *[t for t in t_out if t < t_end]]
    )
    t_stop = _event_time(sol)
    out = {
        "problem": "sphere_steep",
        "npts": int(npts),
        "refined": bool(refined),
        "radius_m": radius,
        "c_rate": c_rate,
        "mesh": "Exponential1DSubMesh(side=right)" if refined else "Uniform1DSubMesh",
        "stopped_by_event": _stopped_by_event(sol),
        "t_stop_s": t_stop,
        "t_out_s": list(t_out),
        "theta_surface": [_value_at(sol, "theta_surface", t) for t in t_out],
        "theta_centre": [_value_at(sol, "theta_centre", t) for t in t_out],
        "theta_mean_at_stop": _value_at(sol, "theta_mean", t_stop),
        "theta_surface_at_stop": _value_at(sol, "theta_surface", t_stop),
    }
    total = time.perf_counter() - t0
    out.update(build_s=t_build + setup_s, solve_s=solve_s, total_s=total)
    return out


def sphere_fixed(npts, refined=True, radius=5e-6, c_rate=1.0, t_end=240.0, n_out=241):
    """Single sphere, steep D(theta), constant outward flux for a fixed time, with ``n_out``
    output times (issue 13's single-sphere case: dense output).  Same model and meshes as
    :func:`sphere_steep`, no event; the outputs are IDAKLU's interpolation at ``t_interp``.
    """
    t_out = np.linspace(0.0, t_end, int(n_out))
    t0 = time.perf_counter()
    j = c_rate * radius / (3 * 3600.0)
    model, r, geometry, _ = _radial_model(radius, j, "spherical polar")
    _radial_mesh_disc(model, r, geometry, npts, refined)
    solver = _solver()
    t_build = time.perf_counter() - t0
    sol, setup_s, solve_s = _timed_solve(solver, model, t_end, t_out)
    out = {
        "problem": "sphere_fixed",
        "npts": int(npts),
        "refined": bool(refined),
        "radius_m": radius,
        "c_rate": c_rate,
        "mesh": "Exponential1DSubMesh(side=right)" if refined else "Uniform1DSubMesh",
        "t_out_s": t_out.tolist(),
        **{name: np.asarray(sol[name](t_out)).ravel().tolist()
           for name in ("theta_surface", "theta_centre", "theta_mean")},
    }
    total = time.perf_counter() - t0
    out.update(build_s=t_build + setup_s, solve_s=solve_s, total_s=total)
    return out


# ---------------------------------------------------------------------------
# 2. Disc cross-section: unstructured 2D FV, and the 1D cylinder
# ---------------------------------------------------------------------------


class DiscMeshGenerator(pybamm.MeshGenerator):
    """Triangulated disc of radius ``radius`` for ``FiniteVolumeUnstructured``.

    PyBaMM 26.10's built-in ``UnstructuredMeshGenerator`` only meshes boxes,
    and ``UserSuppliedUnstructuredMesh`` needs meshio and a mesh file, so the
    disc is meshed here: a centre point plus ``n`` concentric rings, ring k
    at radius k R / n carrying 6 k points (alternate rings rotated by half a
    spacing), Delaunay-triangulated with scipy -> 6 n^2 near-equilateral
    triangles.  All exterior faces are tagged ``"edge"``; a Neumann value on
    a non-axis tag is an outward-normal derivative in FiniteVolumeUnstructured.
    The boundary is the inscribed 6n-gon (its area is short of pi R^2 by a
    relative ~ (pi/6n)^2 / 1.5), so means are taken over the mesh itself.
    """

    def __init__(self, radius, target_cells=4000):
        super().__init__(pybamm.UnstructuredSubMesh)
        self.radius = float(radius)
        self.n_rings = max(2, round(float(np.sqrt(target_cells / 6.0))))

    def __call__(self, lims, npts):
        pts = [np.zeros((1, 2))]
        for k in range(1, self.n_rings + 1):
            m = 6 * k
            phi = 2 * np.pi * (np.arange(m) + 0.5 * (k % 2)) / m
            rk = self.radius * k / self.n_rings
            pts.append(np.column_stack([rk * np.cos(phi), rk * np.sin(phi)]))
        vertices = np.vstack(pts)
        tri = scipy.spatial.Delaunay(vertices)
        elements = tri.simplices.copy()
        # counter-clockwise orientation
        v = vertices[elements]
        cross = (v[:, 1, 0] - v[:, 0, 0]) * (v[:, 2, 1] - v[:, 0, 1]) - (
            v[:, 1, 1] - v[:, 0, 1]
        ) * (v[:, 2, 0] - v[:, 0, 0])
        flip = cross < 0
        elements[flip] = elements[flip][:, [0, 2, 1]]
        submesh = pybamm.UnstructuredSubMesh(vertices, elements)
        start = submesh._boundary_face_start
        submesh.boundary_faces = {"edge": np.arange(start, len(submesh.face_owner))}
        return submesh


def disc_steep_2d(target_cells=4000, radius=1e-6, c_rate=1 / 3, t_end=3600.0, n_out=241):
    """Disc cross-section (radius 1e-6 m, x-z plane), steep D(theta), uniform
    outward flux J/c_max = C R / (2*3600) m/s on the circular edge, 3600 s.

    Spatial method: ``pybamm.FiniteVolumeUnstructured`` (cell-centred,
    two-point flux + non-orthogonal correction, harmonic-mean face D) on a
    ``pybamm.UnstructuredSubMesh`` of triangles produced by
    :class:`DiscMeshGenerator` (6 n^2 cells, n = round(sqrt(target/6));
    4000 -> 4056 cells).  The flux BC is Neumann on the tag ``"edge"`` with
    value ``-j / BoundaryValue(D, "edge")``; the boundary value of D on this
    method is the owner-cell value, which is exactly the D the method puts on
    boundary faces, so the discrete outward flux is exactly j.

    Output: ``n_out`` times evenly over [0, t_end] asked of the solver (dense output, as a
    user would ask for a movie); reported at 600, 1200, 2400, 3600 s: theta at the centre (mean of the six
    cells around the centre vertex, centroids ~0.58 R/n from it), theta
    averaged over the disc (cell-area weighted) and over the boundary
    (face-length weighted face values, each extrapolated from its owner cell
    with the imposed normal gradient -j/D; ``theta_boundary_mean_cells`` is
    the plain owner-cell average that PyBaMM's ``BoundaryIntegral`` gives,
    which lags by ~0.005 because the boundary cell centroids sit ~R/(5n)
    inside).  The centre value is read from the state vector, because
    FiniteVolumeUnstructured has no point evaluation.
    """
    t0 = time.perf_counter()
    domain = "disc"
    j = c_rate * radius / (2 * 3600.0)
    x = pybamm.SpatialVariable(
        "x", domain=[domain], coord_sys="cartesian", direction="lr"
    )
    z = pybamm.SpatialVariable(
        "z", domain=[domain], coord_sys="cartesian", direction="tb"
    )
    geometry = {
        domain: {
            x: {"min": pybamm.Scalar(-radius), "max": pybamm.Scalar(radius)},
            z: {"min": pybamm.Scalar(-radius), "max": pybamm.Scalar(radius)},
        }
    }
    gen = DiscMeshGenerator(radius, target_cells)
    mesh = pybamm.Mesh(geometry, {domain: gen}, {x: 1, z: 1})
    sub = mesh[domain]
    area = float(sub.cell_volumes.sum())
    bnd = sub.boundary_faces["edge"]
    perimeter = float(sub.face_areas[bnd].sum())
    # cells touching the centre vertex (vertex 0)
    centre_cells = np.nonzero((sub.elements == 0).any(axis=1))[0]

    model = pybamm.BaseModel(name="steep-D disc (unstructured FV)")
    theta = pybamm.Variable("theta", domain=domain)
    D = diffusivity(theta)
    model.rhs = {theta: pybamm.div(D * pybamm.grad(theta))}
    model.boundary_conditions = {
        theta: {"edge": (-j / pybamm.BoundaryValue(D, "edge"), "Neumann")}
    }
    model.initial_conditions = {theta: pybamm.Scalar(THETA0)}
    model.variables = {
        "theta": theta,
        "theta_mean": pybamm.Integral(theta, [x, z]) / area,
        "theta_boundary_mean": pybamm.BoundaryIntegral(theta, "entire") / perimeter,
    }
    spatial = pybamm.FiniteVolumeUnstructured()
    disc = pybamm.Discretisation(mesh, {domain: spatial})
    disc.process_model(model)
    solver = _solver()
    t_build = time.perf_counter() - t0

    t_out = [t for t in DISC_OUTPUT_TIMES if t <= t_end]
    t_ask = np.union1d(np.linspace(0.0, t_end, int(n_out)), [0.0, *t_out])
    sol, setup_s, solve_s = _timed_solve(solver, model, t_end, t_ask)
    y_slice = disc.y_slices[theta][0]  # where theta sits in the state vector
    # boundary owner cells, face lengths and centroid-to-face normal distance
    owners = sub.face_owner[bnd]
    lengths = sub.face_areas[bnd]
    d_n = np.einsum(
        "ij,ij->i",
        sub.face_centroids[bnd] - sub.cell_centroids[owners],
        sub.face_normals[bnd],
    )
    theta_centre, theta_bnd_corr = [], []
    for t in t_out:
        k = int(np.argmin(np.abs(sol.t - t)))
        y = np.asarray(sol.y[:, k]).ravel()[y_slice]
        theta_centre.append(float(np.mean(y[centre_cells])))
        # owner value + imposed normal gradient (-j/D_owner) times distance
        th_o = y[owners]
        th_f = th_o - d_n * j / diffusivity_np(th_o)
        theta_bnd_corr.append(float(np.sum(lengths * th_f) / perimeter))
    out = {
        "problem": "disc_steep_2d",
        "spatial_method": "FiniteVolumeUnstructured",
        "mesh": "UnstructuredSubMesh (triangles, DiscMeshGenerator)",
        "n_cells": int(sub.npts),
        "n_boundary_faces": len(bnd),
        "mesh_area_over_pi_R2": area / (np.pi * radius**2),
        "radius_m": radius,
        "c_rate": c_rate,
        "t_end_s": float(sol.t[-1]),
        "t_out_s": t_out,
        "n_output_times": int(t_ask.size),
        "theta_centre": theta_centre,
        "theta_mean": [_value_at(sol, "theta_mean", t) for t in t_out],
        "theta_boundary_mean": theta_bnd_corr,
        "theta_boundary_mean_cells": [
            _value_at(sol, "theta_boundary_mean", t) for t in t_out
        ],
        "theta_mean_expected": [THETA0 - 2 * j * t / radius for t in t_out],
    }
    total = time.perf_counter() - t0
    out.update(build_s=t_build + setup_s, solve_s=solve_s, total_s=total)
    return out


def cylinder_steep_1d(npts, radius=1e-6, c_rate=1 / 3, t_end=3600.0, refined=False, n_out=241):
    """The disc of :func:`disc_steep_2d` as a 1D radial cylinder
    (``coord_sys="cylindrical polar"``, ``pybamm.FiniteVolume`` on
    ``Uniform1DSubMesh``/``Exponential1DSubMesh``).  Boundary mean = surface
    value (linear extrapolation); centre = extrapolation to r = 0.
    """
    t0 = time.perf_counter()
    j = c_rate * radius / (2 * 3600.0)
    model, r, geometry, _ = _radial_model(radius, j, "cylindrical polar")
    _radial_mesh_disc(model, r, geometry, npts, refined)
    solver = _solver()
    t_build = time.perf_counter() - t0

    t_out = [t for t in DISC_OUTPUT_TIMES if t <= t_end]
    t_ask = np.union1d(np.linspace(0.0, t_end, int(n_out)), [0.0, *t_out])  # dense output
    sol, setup_s, solve_s = _timed_solve(solver, model, t_end, t_ask)
    out = {
        "problem": "cylinder_steep_1d",
        "npts": int(npts),
        "refined": bool(refined),
        "radius_m": radius,
        "c_rate": c_rate,
        "t_end_s": float(sol.t[-1]),
        "t_out_s": t_out,
        "theta_centre": [_value_at(sol, "theta_centre", t) for t in t_out],
        "theta_mean": [_value_at(sol, "theta_mean", t) for t in t_out],
        "theta_boundary_mean": [_value_at(sol, "theta_surface", t) for t in t_out],
        "theta_mean_expected": [THETA0 - 2 * j * t / radius for t in t_out],
    }
    total = time.perf_counter() - t0
    out.update(build_s=t_build + setup_s, solve_s=solve_s, total_s=total)
    return out


# ---------------------------------------------------------------------------
# 3. Batch of spheres through one built model + input parameters
# ---------------------------------------------------------------------------


def default_cases(n=1000):
    """10 x 10 x 10 grid: alpha log-spaced 1..5, C log-spaced 0.1..2,
    R linear 0.5e-6..2e-6 m (alpha slowest).  ``n < 1000`` returns an evenly
    strided subset of n cases."""
    a = np.logspace(0, np.log10(5.0), 10)
    c = np.logspace(-1, np.log10(2.0), 10)
    r = np.linspace(0.5e-6, 2e-6, 10)
    A, Cc, Rr = np.meshgrid(a, c, r, indexing="ij")
    cases = {"alpha": A.ravel(), "c_rate": Cc.ravel(), "radius": Rr.ravel()}
    n = int(n)
    if n < cases["alpha"].size:
        idx = np.unique(np.linspace(0, cases["alpha"].size - 1, n).round().astype(int))
        cases = {k: v[idx] for k, v in cases.items()}
    return cases


def _build_batch_model(npts):
    """Sphere in x = r/R in [0, 1]; R, alpha, C are input parameters.

    R cannot be an input of the mesh, so the model is nondimensionalised in
    space only: d theta/dt = (1/R^2) div_x(alpha D(theta) grad_x theta),
    d theta/dx|_1 = -j R / (alpha D_surf), j = C R / (3*3600).
    The final time is the per-case input ``t_end`` via an event
    ``t_end - t`` (the solve horizon is fixed to the longest t_end).
    """
    alpha = pybamm.InputParameter("alpha")
    c_rate = pybamm.InputParameter("c_rate")
    radius = pybamm.InputParameter("radius")
    t_end = pybamm.InputParameter("t_end")
    model = pybamm.BaseModel(name="batch sphere (x = r/R)")
    xs = pybamm.SpatialVariable("xi", domain=["particle"], coord_sys="spherical polar")
    theta = pybamm.Variable("theta", domain="particle")
    D = diffusivity(theta, alpha)
    j = c_rate * radius / (3 * 3600.0)
    model.rhs = {theta: pybamm.div(D * pybamm.grad(theta)) / radius**2}
    model.boundary_conditions = {
        theta: {
            "left": (pybamm.Scalar(0), "Neumann"),
            "right": (-j * radius / pybamm.surf(D), "Neumann"),
        }
    }
    model.initial_conditions = {theta: pybamm.Scalar(THETA0)}
    theta_surf = pybamm.surf(theta)
    ones = pybamm.PrimaryBroadcast(pybamm.Scalar(1), "particle")
    model.variables = {
        "theta_surface": theta_surf,
        "theta_mean": pybamm.Integral(theta, xs) / pybamm.Integral(ones, xs),
    }
    model.events = [
        pybamm.Event("surface theta", theta_surf - THETA_STOP),
        pybamm.Event("t_end", t_end - pybamm.t),
    ]
    geometry = {"particle": {xs: {"min": pybamm.Scalar(0), "max": pybamm.Scalar(1)}}}
    _radial_mesh_disc(model, xs, geometry, npts, refined=False)
    return model


def sphere_batch_inputs(cases=None, npts=60, n_out=201, threads=2):
    """The cases of :func:`sphere_batch_loop` solved as PyBaMM batches them itself: one IDAKLU
    call per C-rate with a list of input dicts (its cases share t_end, hence one ``t_interp`` of
    ``n_out`` times over [0, t_end]), ``options={"num_threads": threads, "num_solvers":
    threads}`` — PyBaMM on as many cores as lithmap's threaded batch. Build = model + solver
    set-up; a warm-up call (2 inputs) is made before timing."""
    cases = default_cases() if cases is None else cases
    alpha = np.asarray(cases["alpha"], dtype=float)
    c_rate = np.asarray(cases["c_rate"], dtype=float)
    radius = np.asarray(cases["radius"], dtype=float)
    n = alpha.size
    horizon = float((0.5 * 3600.0 / c_rate).max()) * 1.001
    t0 = time.perf_counter()
    model = _build_batch_model(npts)
    solver = pybamm.IDAKLUSolver(rtol=RTOL, atol=ATOL, options={"num_threads": int(threads),
                                                                "num_solvers": int(threads)})
    warm = {"alpha": 1.0, "c_rate": 1.0, "radius": 1e-6, "t_end": 1800.0}
    solver.solve(model, [0.0, horizon], inputs=[warm, warm], t_interp=np.linspace(0.0, 1800.0, int(n_out)))
    t_build = time.perf_counter() - t0
    t_stop, th_mean, th_surf, reason = np.empty(n), np.empty(n), np.empty(n), [""] * n
    t1 = time.perf_counter()
    for c in np.unique(c_rate):
        idx = np.flatnonzero(c_rate == c)
        t_end = 0.5 * 3600.0 / c
        inputs = [{"alpha": alpha[i], "c_rate": c, "radius": radius[i], "t_end": t_end} for i in idx]
        sols = solver.solve(model, [0.0, horizon], inputs=inputs, t_interp=np.linspace(0.0, t_end, int(n_out)))
        for i, sol in zip(idx, sols):
            t_stop[i] = sol.t[-1]
            th_mean[i] = float(sol["theta_mean"].entries[-1])
            th_surf[i] = float(sol["theta_surface"].entries[-1])
            reason[i] = str(sol.termination)
    solve_s = time.perf_counter() - t1
    return {
        "problem": "sphere_batch_inputs", "n_cases": int(n), "npts": int(npts), "n_out": int(n_out),
        "threads": int(threads), "t_stop_s": t_stop.tolist(), "theta_mean_at_stop": th_mean.tolist(),
        "theta_surface_at_stop": th_surf.tolist(),
        "n_stopped_by_surface": int(sum("surface" in s for s in reason)),
        "build_s": t_build, "solve_s": solve_s, "total_s": t_build + solve_s, "per_run_mean_s": solve_s / n,
    }


def sphere_batch_loop(cases=None, npts=60, n_out=None):
    """Loop of sphere runs reusing ONE built/discretised model and ONE
    IDAKLU solver; per-run values (alpha, c_rate, radius, t_end) are PyBaMM
    input parameters.  Nondimensional radius x = r/R, uniform ``npts``.
    Each case stops at surface theta = 0.005 or t_end = 0.5*3600/C.
    ``n_out``: that many output times evenly over [0, t_end] of each case,
    by PyBaMM's interpolation (``t_interp``); None: the solver's own steps.
    """
    cases = default_cases() if cases is None else cases
    alpha = np.asarray(cases["alpha"], dtype=float)
    c_rate = np.asarray(cases["c_rate"], dtype=float)
    radius = np.asarray(cases["radius"], dtype=float)
    n = alpha.size
    t_ends = 0.5 * 3600.0 / c_rate
    horizon = float(t_ends.max()) * 1.001

    t0 = time.perf_counter()
    model = _build_batch_model(npts)
    solver = _solver()
    t_build = time.perf_counter() - t0

    t_stop = np.empty(n)
    th_mean = np.empty(n)
    th_surf = np.empty(n)
    reason = []
    setup_s = 0.0
    t_loop0 = time.perf_counter()
    for i in range(n):
        inputs = {
            "alpha": alpha[i],
            "c_rate": c_rate[i],
            "radius": radius[i],
            "t_end": t_ends[i],
        }
        if n_out is None:
            sol = solver.solve(model, [0.0, horizon], inputs=inputs)
        else:
            sol = solver.solve(model, [0.0, horizon], inputs=inputs, t_interp=np.linspace(0.0, t_ends[i], int(n_out)))
        if i == 0:
            setup_s = _seconds(sol.set_up_time)
        t_stop[i] = sol.t[-1]
        th_mean[i] = float(sol["theta_mean"].entries[-1])
        th_surf[i] = float(sol["theta_surface"].entries[-1])
        reason.append(str(sol.termination))
    loop_s = time.perf_counter() - t_loop0
    total = time.perf_counter() - t0
    return {
        "problem": "sphere_batch_loop",
        "n_cases": int(n),
        "npts": int(npts),
        "n_out": None if n_out is None else int(n_out),
        "t_stop_s": t_stop.tolist(),
        "theta_mean_at_stop": th_mean.tolist(),
        "theta_surface_at_stop": th_surf.tolist(),
        "n_stopped_by_surface": int(sum("surface" in s for s in reason)),
        "n_stopped_by_t_end": int(sum("t_end" in s for s in reason)),
        "build_s": t_build + setup_s,
        "loop_s": loop_s - setup_s,
        "solve_s": loop_s - setup_s,
        "total_s": total,
        "per_run_mean_s": (loop_s - setup_s) / n,
    }


# ---------------------------------------------------------------------------


def _summary(res, drop=("t_stop_s", "theta_mean_at_stop", "theta_surface_at_stop")):
    return {k: v for k, v in res.items() if k not in drop}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="~50 batch cases")
    p.add_argument("--sphere-npts", type=int, nargs="*", default=[800])
    p.add_argument("--refined-npts", type=int, nargs="*", default=[400])
    p.add_argument("--disc-cells", type=int, default=4000)
    p.add_argument("--cyl-npts", type=int, default=400)
    p.add_argument("--batch-npts", type=int, default=60)
    p.add_argument("--full-batch-output", action="store_true")
    args = p.parse_args(argv)

    out = {"pybamm_version": pybamm.__version__, "rtol": RTOL, "atol": ATOL}
    out["sphere"] = [sphere_steep(n) for n in args.sphere_npts]
    out["sphere"] += [sphere_steep(n, refined=True) for n in args.refined_npts]
    out["sphere_R1um"] = sphere_steep(50, radius=1e-6)
    out["disc_2d"] = disc_steep_2d(args.disc_cells)
    out["cylinder_1d"] = cylinder_steep_1d(args.cyl_npts)
    cases = default_cases(50 if args.quick else 1000)
    batch = sphere_batch_loop(cases, npts=args.batch_npts)
    out["batch"] = batch if args.full_batch_output else _summary(batch)
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
