"""The particle engine: one model, one experiment and one solver, wired together for a batch.

One engine solves one run or many independent runs at once: the runs' meshes are concatenated
into one block-diagonal system, each run keeps its own time, step size, protocol step and
events, and every Newton iteration is one vectorised assembly plus one linear solve for all of
them. The pieces, along PyBaMM's seams, each readable in one sitting:

- :mod:`lithmap.physics.model` — the equations: residual, Jacobian, boundary fluxes (including
  Butler–Volmer), observables (voltage, C-rate);
- :mod:`lithmap.physics.experiment` — the protocol as a state machine of steps
  (:class:`~lithmap.physics.protocol.StepKind`), its events and the surface-limit policy
  (:class:`~lithmap.physics.experiment.SurfaceLimits`);
- :mod:`lithmap.physics.solver` — TR-BDF2, Newton and event bracketing (Illinois) over one
  :class:`~lithmap.physics.solver.BatchState`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from ..errors import LithmapError
from . import _radial
from .experiment import MAX_UNTIL, Experiment, SurfaceLimits
from .materials import Material
from .mesh import Mesh
from .model import ParticleModel
from .protocol import Step
from .solver import BatchState, RunRecord, Solver, SolverOptions

__all__ = ["BatchState", "RunRecord", "SolverOptions", "SurfaceLimits", "initial_state", "run_batch"]


def initial_state(theta0, model: ParticleModel, surface_limits: SurfaceLimits) -> np.ndarray:
    """Node values θ0 of all runs from a scalar, one value per run or one per node, checked
    against [0, 1] and, at the surface, against the surface limits."""
    b = model.mesh
    theta0 = np.asarray(theta0, dtype=float)
    if theta0.ndim == 0:
        y = np.full(b.n, float(theta0))
    elif theta0.shape == (b.nrun,):
        y = theta0[b.run_of_node].astype(float)
    elif theta0.shape == (b.n,):
        y = theta0.astype(float).copy()
    else:
        raise LithmapError(f"theta0 has shape {theta0.shape}; expected a scalar, one per run or one per node")
    bad = ~(np.isfinite(y) & (y >= 0) & (y <= 1))
    if bad.any():
        raise LithmapError(f"theta0={float(y[bad][0])!r} is invalid; expected a lithium fraction in [0, 1]")
    sb = y[b.bnodes]
    if np.any(sb < surface_limits.low) or np.any(sb > surface_limits.high):
        raise LithmapError(f"theta0 at the surface is outside the surface limits {surface_limits.as_tuple()}")
    return y


def run_batch(
    meshes: list[Mesh],
    material: Material,
    protocols: list[Step] | list[list[Step]],
    *,
    alpha: float | ArrayLike,
    theta0: float | ArrayLike,
    options: SolverOptions | None = None,
    surface_limits: SurfaceLimits | tuple[float, float] | None = None,
    max_until: float = MAX_UNTIL,
    t_eval: ArrayLike | None = None,
    output_interval: float | None = None,
    record_fields: bool = True,
    progress: Callable[[float], None] | None = None,
) -> tuple[list[RunRecord], BatchState]:
    """Integrate runs (one mesh each) through their protocols, all in one batch.

    Parameters
    ----------
    meshes : list of Mesh
        One mesh per run (e.g. ``Sphere(1e-6).mesh()``).
    material : Material
    protocols : list of Step, or a list of such lists (one per run)
    alpha : float or array
        Scale factor on D, for all runs or one per run.
    theta0 : float or array
        Initial θ: a scalar, one per run or one per node.
    options : SolverOptions, optional
        Numerics of the integrator (tolerances, step sizes).
    surface_limits : SurfaceLimits or (low, high), optional
        Surface θ bounds and whether reaching one stops the run or is an error (default
        ``SurfaceLimits()``: [0, 1], an error), as for :func:`lithmap.simulate`.
    max_until : float
        Longest an 'until'-only step may run before its cut-off counts as never reached (an
        error), s; default 100 hours.
    t_eval : array, optional
        Output times, s.
    output_interval : float, optional
        Output at every multiple of it, s. Neither this nor ``t_eval``: every accepted step.
        Step ends and events are always recorded.
    record_fields : bool
        Keep θ at every node for every sample (else only the observables).
    progress : callable, optional
        Called with the earliest time of the active runs after each step.

    Returns
    -------
    records : list of RunRecord
        One per run: ``time``, ``theta``, ``voltage``, ``c_rate``, ``q``, ``step``, ``termination``.
    state : BatchState
        The final state of every run (``t``, ``y`` at all nodes, ``step``, ``active``, ...).

    Examples
    --------
    >>> import lithmap as lm
    >>> mat = lm.Material("constant D", lm.ConstantDiffusivity(1e-15))
    >>> meshes = [lm.Sphere(1e-6).mesh(n=20), lm.Sphere(2e-6).mesh(n=20)]
    >>> recs, state = run_batch(meshes, mat, lm.parse_protocol("Charge at 1C for 6 minutes"),
    ...                         alpha=1.0, theta0=0.9, t_eval=[0, 360])
    >>> [round(float(m.mean(r.theta[-1])), 6) for r, m in zip(recs, meshes)]  # 1C: θ falls by 0.1 in 6 min
    [0.8, 0.8]
    >>> recs[0].termination, state.t.tolist()
    ('protocol complete', [360.0, 360.0])
    """
    options = options or SolverOptions()
    limits = SurfaceLimits.of(surface_limits)
    model = ParticleModel(meshes, material, alpha)
    experiment = Experiment(protocols, material, model.mesh.nrun, limits, max_until=max_until)
    y0 = initial_state(theta0, model, limits)
    if not (np.isfinite(options.tol) and options.tol > 0):
        raise LithmapError(f"tol={options.tol!r} is invalid; expected a positive tolerance such as 1e-4")
    if options.compiled and _radial.eligible(model, experiment):
        out = _radial.integrate(model, experiment, y0, options, t_eval, output_interval, record_fields)
        if progress is not None:
            progress(float(out[1].t.min()))
        return out
    solver = Solver(model, experiment, options)
    return solver.run(y0, t_eval, output_interval=output_interval, record_fields=record_fields, progress=progress)
