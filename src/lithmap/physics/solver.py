"""The solver: TR-BDF2 time steps, Newton's method and event location over one batch state.

Scheme: TR-BDF2 (γ = 2 − √2; L-stable, second order, one-step) on the model's
V dθ/dt = g(θ) (:mod:`lithmap.physics.model`), with the embedded error estimate of Bank et al.
(1985) filtered through the stage Jacobian (Hosea & Shampine 1996). Both stages are
conservative, so Σ V θ changes exactly by the integrated boundary flux; the solver integrates
that flux separately (``q``) with the same stages, and ``theta_mean + q`` stays at its initial
value to round-off.

Every run of the batch keeps its own time, step size, protocol step and events in one
:class:`BatchState` (a dataclass of per-run arrays); every Newton iteration is one vectorised
assembly plus one linear solve for all of them (tridiagonal for radial meshes, a sparse LDLᵀ or
LU in 2D, :class:`LinearSolver`).

Steps are chosen by accuracy alone: output times are not stepped to but filled in by TR-BDF2's
dense output (as the compiled radial loop, :mod:`lithmap.physics._radial`, does), so 25 or 2 500
output times cost the same steps — except in voltage holds, whose outputs (the current) are
solved for (:meth:`Solver._step_size`).

Events (:mod:`lithmap.physics.experiment`) are located by bracketing the step size (Illinois
regula falsi) until the event function is within tolerance, so a stop time is a solver time,
not an interpolation.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import qdldl
import scipy.sparse as sp
from scipy.linalg import lapack
from scipy.sparse.linalg import splu

from ..errors import LithmapError, SolverError
from . import _kernels
from .experiment import VOLTAGE, EventKind, Experiment
from .model import BoundaryControl, ParticleModel

GAMMA = 2.0 - np.sqrt(2.0)
D_COEF = GAMMA / 2.0  # the implicit coefficient of both stages
BDF_A = 1.0 / (GAMMA * (2.0 - GAMMA))
BDF_B = (1.0 - GAMMA) ** 2 / (GAMMA * (2.0 - GAMMA))
ERR_K = (-3 * GAMMA**2 + 4 * GAMMA - 2) / (12 * (2 - GAMMA))
# An event bracket this short (relative to t) is negligible: the event fires at its far end.
# Well above round-off in t (~1e-16 t) and below the step underflow (1e-12 t is refused), fine
# enough to locate a voltage cut-off where V(t) falls almost vertically (a saturating surface,
# j0 -> 0) to within ~1e-5 V instead of ~0.1 V.
BRACKET_MIN = 1e-11


@dataclasses.dataclass
class SolverOptions:
    """Settings of the time integrator: numerics only (what the solver does, not what the
    experiment is; the surface limits and ``max_until`` belong to the experiment).

    Parameters
    ----------
    tol : float
        Local error tolerance on θ per step (absolute; θ is O(1)). The estimate is filtered and
        conservative: at the default 1e-3 the global error against the analytic sphere and disc
        series is below 3e-4 and the PyBaMM reference is met (tests/).
    max_dt : float
        Largest step, s.
    first_dt : float
        First step of each protocol step, s.
    newton_tol : float
        Newton stopping tolerance on θ.
    max_newton : int
        Newton iterations per stage at most.
    event_tol_theta, event_tol_voltage : float
        How close to zero a located surface-θ event (θ) or cut-off (V or C-rate) must be.
    max_steps : int
        Step attempts at most (all runs together; per run in the compiled radial loop).
    compiled : bool
        Integrate radial batches of current steps and rests with the compiled step loop
        (:mod:`lithmap.physics._radial`; the same algorithm, one call per run). False: always
        the Python solver. Both fill in output times by TR-BDF2's dense output.
    threads : int, optional
        Threads over the runs of a compiled radial batch (default: the CPUs this process may
        use). A Dask task sets 1: the cluster already runs one task per core.

    Examples
    --------
    >>> SolverOptions(tol=1e-4).tol
    0.0001
    >>> import lithmap as lm
    >>> ds = lm.simulate("sphere:1um", "Charge at 1C for 5 minutes", diffusivity=1e-15,
    ...                  options=SolverOptions(tol=1e-4, max_dt=60.0))
    >>> ds.attrs["solver_tol"]
    0.0001
    >>> SolverOptions().event_tolerances()[EventKind.CUT_OFF]
    1e-07
    """

    tol: float = 1e-3
    max_dt: float = 300.0
    first_dt: float = 1e-2
    newton_tol: float = 1e-7
    max_newton: int = 12
    event_tol_theta: float = 1e-9
    event_tol_voltage: float = 1e-7
    max_steps: int = 200_000
    compiled: bool = True
    threads: int | None = None

    def event_tolerances(self) -> dict[EventKind, float]:
        """How close to zero each kind of event must be located."""
        return {EventKind.SURFACE_LOW: self.event_tol_theta, EventKind.SURFACE_HIGH: self.event_tol_theta,
                EventKind.CUT_OFF: self.event_tol_voltage}


@dataclasses.dataclass
class RunRecord:
    """What one run produced: samples at output times, step ends and events.

    ``time`` (s), ``theta`` (node values), ``voltage`` (V), ``c_rate`` (+ = charge), ``q``
    (integrated boundary flux, θ units), ``step`` (protocol step index) and ``termination``.
    While a run is integrated they are lists that grow; a finished record holds arrays (one
    value per sample; ``theta`` samples × nodes, or empty when fields were not kept), whichever
    path integrated it.
    """

    time: list
    theta: list | np.ndarray
    voltage: list
    c_rate: list
    q: list
    step: list
    termination: str = "protocol complete"

    @classmethod
    def empty(cls) -> RunRecord:
        return cls([], [], [], [], [], [])

    def sample(self, s: BatchState, r: int, theta: np.ndarray | None):
        """Append run ``r``'s state (``theta``: its node values, or None to keep no fields)."""
        self.add(s.t[r], theta, s.V[r], s.c_rate[r], s.q[r], s.step[r])

    def finish(self) -> RunRecord:
        """Turn the grown lists into arrays (in place; returns self)."""
        self.time, self.voltage, self.c_rate, self.q = (np.asarray(v, dtype=float) for v in
                                                        (self.time, self.voltage, self.c_rate, self.q))
        self.step = np.asarray(self.step, dtype=np.int64)
        self.theta = np.asarray(self.theta, dtype=float) if len(self.theta) else np.zeros((0, 0))
        return self

    def add(self, t, theta, voltage, c_rate, q, step):
        """Append one sample (``theta`` None: keep no fields)."""
        self.time.append(t)
        if theta is not None:
            self.theta.append(theta)
        self.voltage.append(voltage)
        self.c_rate.append(c_rate)
        self.q.append(q)
        self.step.append(step)


@dataclasses.dataclass
class BatchState:
    """Everything that changes while a batch is integrated: one entry per run (node arrays
    for ``y`` and ``y_prev``), plus the residual and events at the current state."""

    t: np.ndarray  # time, s
    step: np.ndarray  # protocol step index
    t_start: np.ndarray  # start time of the current step, s
    dt: np.ndarray  # next step size proposed by the controller, s
    q: np.ndarray  # integrated boundary flux (θ units)
    active: np.ndarray  # still integrating
    y: np.ndarray  # θ at the nodes of all runs
    y_prev: np.ndarray  # θ one accepted step ago (for the predictor)
    h_prev: np.ndarray  # last accepted step size (0 right after a step change)
    V: np.ndarray  # voltage, V
    c_rate: np.ndarray  # C-rate, + = charge
    out_i: np.ndarray  # index of the next requested output time
    # event bracketing: the step size `bracket` is known to cross event `ev_row`; g at both ends
    bracket: np.ndarray
    g_lo: np.ndarray
    g_hi: np.ndarray
    ev_row: np.ndarray
    stale: np.ndarray  # +1 / −1: the last bracketing step overshot / landed short
    loc_iter: np.ndarray  # bracketing steps so far
    g_n: np.ndarray | None = None  # residual g(y)
    parts_n: tuple | None = None  # its flux derivatives and boundary flux
    G_n: np.ndarray | None = None  # event functions (EventKind rows × runs)
    accepted: np.ndarray | None = None  # accepted steps so far
    attempted: np.ndarray | None = None  # step attempts so far (accepted or not)

    @classmethod
    def initial(cls, y, nrun: int, first_dt: float) -> BatchState:
        R = nrun
        return cls(
            t=np.zeros(R), step=np.zeros(R, dtype=int), t_start=np.zeros(R), dt=np.full(R, first_dt),
            q=np.zeros(R), active=np.ones(R, bool), y=y, y_prev=y.copy(), h_prev=np.zeros(R),
            V=np.zeros(R), c_rate=np.zeros(R), out_i=np.zeros(R, dtype=int), bracket=np.full(R, np.inf),
            g_lo=np.zeros(R), g_hi=np.zeros(R), ev_row=np.zeros(R, dtype=int), stale=np.zeros(R),
            loc_iter=np.zeros(R, dtype=int), accepted=np.zeros(R, dtype=int), attempted=np.zeros(R, dtype=int),
        )


class OutputTimes:
    """When samples are due: at ``t_eval`` (s), at every multiple of ``interval`` (s), or at
    every accepted step when neither is given.

    Steps are not shortened to land on output times (except in voltage holds): those inside a
    step are filled in by TR-BDF2's dense output (:meth:`Solver._dense_output`); one a step
    lands on (a step end, an event, a hold's output) is sampled there."""

    def __init__(self, t_eval=None, interval=None):
        if interval is not None and not interval > 0:
            raise LithmapError(f"output_interval={interval!r} is invalid; expected a positive time in s")
        self.interval = interval
        self.t_eval = None if t_eval is None else np.unique(np.asarray(t_eval, dtype=float))

    def start(self, s: BatchState):
        if self.t_eval is not None:
            s.out_i[:] = np.searchsorted(self.t_eval, 1e-12, side="right")

    def next(self, s: BatchState, after=None) -> np.ndarray:
        """The next output time of every run (inf when none): after its time ``s.t``, or after
        ``after`` (s, one per run) for interval outputs."""
        if self.interval is not None:
            t = s.t if after is None else after
            return (np.floor(t / self.interval + 1e-9) + 1.0) * self.interval
        if self.t_eval is None:
            return np.full(s.t.size, np.inf)
        te = self.t_eval
        return np.where(s.out_i < te.size, te[np.minimum(s.out_i, te.size - 1)], np.inf)

    def inside(self, s: BatchState, t_end, after) -> np.ndarray:
        """Per run, the next output time after ``after`` if it lies strictly inside
        (t, t_end) — a time at t_end itself is sampled when the step lands — else inf."""
        nxt = self.next(s, after)
        cut = t_end - 1e-9 * np.maximum(1.0, np.abs(t_end))
        return np.where((nxt > s.t) & (nxt < cut), nxt, np.inf)

    def taken(self, s: BatchState, mask):
        """The runs in ``mask`` sampled their next output time (inside a step)."""
        if self.t_eval is not None:
            s.out_i[mask] += 1

    def due(self, s: BatchState, accept) -> np.ndarray:
        """Runs whose accepted step landed on an output time (advances the t_eval index)."""
        t = s.t
        if self.interval is not None:
            k = np.round(t / self.interval)
            return accept & (np.abs(t - k * self.interval) <= 1e-9 * np.maximum(1.0, t))
        nxt = self.next(s)
        due = accept & np.isfinite(nxt) & (np.abs(t - nxt) <= 1e-9 * np.maximum(1.0, np.abs(nxt)))
        s.out_i[due] += 1
        if self.t_eval is None:
            due = accept.copy()
        return due


class LinearSolver:
    """Solves J·x = rhs for the Jacobians of :meth:`ParticleModel.jacobian`.

    Tridiagonal (radial meshes): exact (Thomas, LAPACK gtsv as fallback).

    Sparse (2D): with the factor of a recent Jacobian, refactored when the step-size coefficient
    has drifted or Newton contracts slowly (``stale``; IDA's strategy), then projected per run so
    that Σ(J·x) = Σ rhs exactly: every Newton update stays conservative with any factor. The
    factor is an LDLᵀ (QDLDL, Stellato et al., which keeps its ordering and symbolic analysis
    and refactors in ~1.2 ms on a 4 000-node disc, against SuperLU's ~4 ms) of the Jacobian
    without its dD/dθ terms — V + dh·(the diffusion matrix at the current D(θ)), symmetric
    positive definite. The dropped part (dD/dθ·∇θ on each edge) is what Newton's iteration then
    corrects, as it corrects any stale factor. Where even a fresh factor contracts slowly, the
    solver switches to SuperLU's LU of the full Jacobian for the rest of the run.
    """

    def __init__(self, model: ParticleModel):
        self.model = model
        self._lu, self.stale, self._lu_dh, self.factorizations = None, True, 1.0, 0
        self.symmetric = True  # factor the symmetric (dD/dθ-free) Jacobian with QDLDL
        self._ldl, self._upper, self._uses = None, None, 0

    def slow(self):
        """Newton contracted slowly: refactor — unless the factor is fresh (two solves old or
        less) and symmetric, whose rate is set by the terms it leaves out, not by its age."""
        if not (self.symmetric and self._uses <= 2):
            self.stale = True

    def failed(self, factored_here: bool):
        """Newton did not converge: refactor; if it failed with a symmetric factor made during
        that iteration, use the full LU from now on."""
        if self.symmetric and factored_here:
            self.symmetric = False
        self.stale = True

    def solve(self, fact, rhs):
        if fact[0] == "tri":
            _, dl, d, du = fact
            if _kernels.HAVE_NUMBA:
                x, good = _kernels.thomas(dl, d, du, rhs)
                if good:
                    return x
            out = lapack.dgtsv(dl, d, du, rhs)
            if out[-1] != 0:
                raise SolverError(f"tridiagonal solve failed (LAPACK info={out[-1]})")
            return out[3]
        _, dh_node, parts, colsum = fact
        dh0 = dh_node.max()
        if self._lu is None or self.stale or not (0.75 < dh0 / self._lu_dh < 1.3):
            self._lu = self._factor(dh_node, parts)
            self.stale, self._lu_dh, self._uses = False, dh0, 0
            self.factorizations += 1
        self._uses += 1
        x = self._lu.solve(rhs)
        b = self.model.mesh
        resid = np.add.reduceat(rhs - colsum * x, b.offset[:-1])
        return x + (resid / np.add.reduceat(colsum, b.offset[:-1]))[b.run_of_node]

    def _factor(self, dh_node, parts):
        if self.symmetric:
            pa, pb, j, dj = parts
            half = 0.5 * (pa - pb)  # w·D at each edge: the flux derivatives without dD/dθ
            A = self.model.assemble(dh_node, (half, -half, j, dj))
            keep, rows, indptr = self._upper_pattern()
            U = sp.csc_matrix((A.data[keep], rows, indptr), shape=A.shape)  # A is symmetric: CSR = CSC
            try:
                if self._ldl is None:
                    self._ldl = qdldl.Solver(U, upper=True)
                else:
                    self._ldl.update(U, upper=True)
                return self._ldl
            except (ValueError, RuntimeError):  # a zero pivot (the boundary term can break definiteness)
                self.symmetric = False
        A = self.model.assemble(dh_node, parts)
        # meshes are numbered in a fill-reducing order (mesh.triangle_mesh): keep it
        return splu(A.tocsc(), permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})

    def _upper_pattern(self):
        """Which slots of the (symmetric) CSR pattern lie on or above the diagonal, as CSC."""
        if self._upper is None:
            b = self.model.mesh
            row_of_slot = np.repeat(np.arange(b.n), np.diff(b.csr_indptr))
            # read as CSC, the CSR arrays describe Aᵀ = A: the column is the CSR row
            col, row = row_of_slot, b.csr_indices
            keep = row <= col
            indptr = np.concatenate([[0], np.cumsum(np.bincount(col[keep], minlength=b.n))]).astype(np.int32)
            self._upper = (keep, row[keep], indptr)
        return self._upper


class Solver:
    """Integrate a batch of runs (a model and an experiment). Use
    :func:`lithmap.physics.engine.run_batch`.

    The solver holds what does not change while it integrates (the model, the experiment, the
    options, the linear solver and its factor cache); everything that does is in the
    :class:`BatchState` that :meth:`run` creates, advances and returns.
    """

    def __init__(self, model: ParticleModel, experiment: Experiment, options: SolverOptions):
        self.model, self.experiment, self.opt = model, experiment, options
        self.linear = LinearSolver(model)
        self._runs = np.arange(model.mesh.nrun)
        tol = options.event_tolerances()
        self._event_tol = np.array([tol[e] for e in EventKind])  # by EventKind row
        self._ctl_key, self._ctl = None, None

    # ------------------------------------------------------------------ the pieces of one state
    def controls(self, step) -> BoundaryControl:
        """The boundary control of the runs' current steps (recomputed only when a step changes)."""
        key = step.tobytes()
        if self._ctl_key != key:
            self._ctl_key = key
            self._ctl = self.model.controls(*self.experiment.controls(step))
        return self._ctl

    def _observe(self, s: BatchState, y=None):
        return self.model.observables(s.y if y is None else y, self.controls(s.step))

    def _events(self, s: BatchState, y, V, c_rate):
        return self.experiment.events(y, self.model.mesh, s.step, V, c_rate)

    def _refresh(self, s: BatchState, started=None):
        """After θ moved: the residual and the events at the new state. After steps changed
        (``started``: the runs that began a step) first the observables and the start-of-step
        check of those runs."""
        if started is not None:
            s.V, s.c_rate = self._observe(s)
            if started.size:
                self.experiment.check_step_start(started, s, self._events(s, s.y, s.V, s.c_rate))
        s.g_n, s.parts_n = self.model.residual(s.y, self.controls(s.step))
        s.G_n = self._events(s, s.y, s.V, s.c_rate)

    def _record(self, s: BatchState, recs: list[RunRecord], mask, fields: bool):
        """Sample the runs in ``mask`` into their records (a time already recorded is not repeated)."""
        off = self.model.mesh.offset
        for r in np.flatnonzero(mask):
            rec = recs[r]
            if not (rec.time and rec.time[-1] == s.t[r]):
                rec.sample(s, r, s.y[off[r] : off[r + 1]].copy() if fields else None)

    # ------------------------------------------------------------------ integration
    def run(self, y0, t_eval=None, *, output_interval=None, record_fields=True,
            progress=None) -> tuple[list[RunRecord], BatchState]:
        """Integrate all runs from the node values ``y0``. Samples are recorded at ``t_eval``
        (s), or at every multiple of ``output_interval`` (s) for as long as the protocol runs,
        or at every accepted step when neither is given; step ends and events are always
        recorded. Returns the records and the final state."""
        opt = self.opt
        outputs = OutputTimes(t_eval, output_interval)
        s = BatchState.initial(y0, self._runs.size, opt.first_dt)
        recs = [RunRecord.empty() for _ in self._runs]

        def record(mask):
            self._record(s, recs, mask, record_fields)

        self._refresh(s, self._runs)
        record(s.active)
        outputs.start(s)
        attempts = 0
        while s.active.any():
            attempts += 1
            if attempts > opt.max_steps:
                raise SolverError(f"more than {opt.max_steps} step attempts; last t={s.t[s.active].min():.6g} s")
            here = self._located(s)
            if here.any():  # an event located by bracketing: apply it where the state is
                record(here)
                self.experiment.fire(here, s.ev_row, s, recs)
                s.bracket[here], s.loc_iter[here], s.h_prev[here], s.dt[here] = np.inf, 0, 0.0, opt.first_dt
                self._refresh(s, np.flatnonzero(here & s.active))
                continue
            h = self._step_size(s, outputs)
            s.attempted += h > 0
            y1, y2, ok, g1, g2, parts1, parts2, fact = self._trbdf2(s, h)
            err, accept, dt_new = self._error_control(s, h, ok, g1, g2, fact)
            fire, row, switched = np.zeros(self._runs.size, bool), None, np.zeros(self._runs.size, bool)
            if accept.any():
                V2, c_rate2 = self._observe(s, y2)
                G = self._events(s, y2, V2, c_rate2)
                fire, row, accept = self._crossings(s, h, G, accept, dt_new)
            if accept.any():
                q1, q2 = self._flux_stages(s, h, parts1, parts2)
                self._dense_output(s, h, accept, y1, y2, q1, q2, c_rate2, outputs, recs, record_fields)
                self._accept(s, h, accept, fire, y2, q2, V2, c_rate2, G)
                s.accepted += accept
                due = outputs.due(s, accept)
                step_end = self.experiment.ended(s, accept & ~fire)
                self.experiment.check_overrun(s, accept)
                record(due | fire | step_end)
                if fire.any():
                    self.experiment.fire(fire, row, s, recs)
                if step_end.any():
                    self.experiment.advance(step_end, s, recs)
                switched = fire | step_end
                s.h_prev[switched] = 0.0
                self._refresh(s, np.flatnonzero(switched & s.active) if switched.any() else None)
            s.dt = np.where(switched, opt.first_dt, np.where(s.active, dt_new, s.dt))
            if progress is not None and s.active.any():
                progress(float(np.min(s.t[s.active])))
            self._check_stuck(s, h, accept, ok, err)
        return [rec.finish() for rec in recs], s

    def _check_stuck(self, s: BatchState, h, accept, ok, err):
        """A run whose step was refused at a step size below round-off cannot go on: an error."""
        stuck = s.active & ~accept & (h < 1e-12 * np.maximum(1.0, s.t))
        if stuck.any():
            r0 = np.flatnonzero(stuck)[0]
            raise SolverError(
                f"step size underflow at t={s.t[r0]:.6g} s in step "
                f"{self.experiment.step(r0, s.step[r0]).text!r} "
                f"(Newton converged: {bool(ok[r0])}, error/tol={err[r0]:.3g}, tol={self.opt.tol:g})"
            )

    def _located(self, s: BatchState) -> np.ndarray:
        """Runs whose event bracket has shrunk to nothing with the event function at zero: the
        event is here. A shrunk bracket whose event is not at zero is stale (the crossing was
        seen along another step path) and is dropped, to be re-bracketed from here."""
        ar = self._runs
        tiny = s.active & np.isfinite(s.bracket) & (s.bracket <= BRACKET_MIN * np.maximum(s.t, 1.0))
        tol_now = self._event_tol[s.ev_row]
        here = tiny & (np.abs(s.G_n[s.ev_row, ar]) <= 10 * tol_now)
        stale_bracket = tiny & ~here
        s.bracket[stale_bracket], s.loc_iter[stale_bracket], s.stale[stale_bracket] = np.inf, 0, 0
        return here

    def _step_size(self, s: BatchState, outputs: OutputTimes) -> np.ndarray:
        """The step: the controller's, clamped to the step end and an event bracket — and, in
        voltage holds only, to the next output time. Elsewhere outputs are interpolated
        (:meth:`_dense_output`); in a hold the current, an output, falls as 1/√t after the step
        and is set by a tiny departure of the surface from equilibrium, so its interpolant
        between steps is not held to the tolerance by θ's error estimate: a hold's outputs are
        solved for."""
        opt = self.opt
        end = self.experiment.step_end(s)
        h = np.minimum(np.minimum(s.dt, opt.max_dt), end - s.t)
        if self.experiment.has_holds:
            nxt = outputs.next(s)
            held = (self.experiment.kind[self._runs, s.step] == VOLTAGE) & (nxt > s.t)
            h = np.where(held, np.minimum(h, nxt - s.t), h)
        loc = np.isfinite(s.bracket)
        if loc.any():
            gl, gh = s.g_lo[loc], s.g_hi[loc]  # Illinois-scaled (see where they are updated)
            guess = s.bracket[loc] * gl / (gl - gh)
            # safeguard: bisect once false position has stalled (events that jump, such as
            # a voltage diverging as the surface empties)
            guess = np.where(s.loc_iter[loc] > 12, 0.5 * s.bracket[loc], guess)
            guess = np.clip(guess, 1e-3 * s.bracket[loc], (1 - 1e-7) * s.bracket[loc])
            # a negligible bracket: step across it (the event is then fired below)
            guess = np.where(s.bracket[loc] <= BRACKET_MIN * np.maximum(s.t[loc], 1.0), s.bracket[loc], guess)
            h[loc] = np.minimum(h[loc], guess)
            s.loc_iter[loc] += 1
        return np.where(s.active, np.maximum(h, 0.0), 0.0)

    def _trbdf2(self, s: BatchState, h):
        """Stage 1: trapezoidal rule to t + γh; stage 2: BDF2 to t + h."""
        b = self.model.mesh
        dh = D_COEF * h[b.run_of_node]
        # predictor: extrapolate the last accepted step (none right after a step change)
        slope = np.where(s.h_prev > 0, h / np.maximum(s.h_prev, 1e-300), 0.0) * GAMMA
        y = s.y
        guess1 = y + slope[b.run_of_node] * (y - s.y_prev)
        y1, ok1, g1, parts1, fact = self._newton(guess1, b.volume * y + dh * s.g_n, dh, s)
        rhs2 = b.volume * (BDF_A * y1 - BDF_B * y)
        y2, ok2, g2, parts2, fact = self._newton(y1 + (1 - GAMMA) / GAMMA * (y1 - y), rhs2, dh, s, fact=fact)
        ok = ok1 & ok2 & s.active & (h > 0)
        return y1, y2, ok, g1, g2, parts1, parts2, fact

    def _error_control(self, s: BatchState, h, ok, g1, g2, fact):
        """Local error estimate filtered through the stage Jacobian; acceptance and the next step."""
        b, opt = self.model.mesh, self.opt
        hn = h[b.run_of_node]
        est = 2 * ERR_K * hn * (s.g_n / GAMMA - g1 / (GAMMA * (1 - GAMMA)) + g2 / (1 - GAMMA))
        est = self.linear.solve(fact, est)
        err = b.per_run_max(np.abs(est)) / opt.tol
        err = np.where(np.isfinite(err), err, np.inf)
        accept = ok & (err <= 1.0)
        fac = np.where(ok, np.clip(0.9 * np.maximum(err, 1e-10) ** (-1.0 / 3.0), 0.2, 5.0), 0.25)
        dt_new = np.where(accept & (h < s.dt), np.maximum(s.dt, h * fac), h * fac)
        return err, accept, dt_new

    def _crossings(self, s: BatchState, h, G, accept, dt_new):
        """Events crossed by the accepted steps: fire those at their threshold, and shrink the
        bracket of those overshot (the step is then not accepted; Illinois on a repeat)."""
        ar = self._runs
        G_n = s.G_n
        crossed = (G <= 0) & (G_n > 0) & accept
        tol_row = self._event_tol[:, None]
        hit = crossed.any(axis=0)
        # the earliest of the crossed events (linear interpolation within the step)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(crossed, G_n / (G_n - G), np.inf)
        row = np.argmin(frac, axis=0)
        first_g = G[row, ar]
        fire = hit & (first_g > -tol_row[row, 0])
        fire |= hit & (h <= BRACKET_MIN * np.maximum(s.t, 1.0))
        narrow = hit & ~fire
        # a located event is the crossed one that sits at its threshold (a voltage that
        # jumps as the surface empties is not the event; the empty surface is)
        within = crossed & (G > -tol_row)
        row = np.where(fire & within.any(axis=0), np.argmax(within, axis=0), row)
        if narrow.any():  # the step overshot an event: shrink the bracket, do not accept
            again = narrow & np.isfinite(s.bracket) & (s.stale > 0)  # overshot twice in a row
            s.bracket[narrow] = h[narrow]
            s.ev_row[narrow] = row[narrow]
            s.g_hi[narrow] = G[row[narrow], ar[narrow]]
            s.g_lo[narrow] = G_n[row[narrow], ar[narrow]] * np.where(again[narrow], 0.5, 1.0)  # Illinois
            s.stale[narrow] = 1
            dt_new[narrow] = s.dt[narrow]
        return fire, row, accept & ~narrow

    def _flux_stages(self, s: BatchState, h, parts1, parts2):
        """The flux integral q at both stages of the step (the same TR-BDF2 stages as θ)."""
        j1, j2, jn = (self.model.flux_per_volume(p[2]) for p in (parts1, parts2, s.parts_n))
        q1 = s.q + D_COEF * h * (jn + j1)
        q2 = BDF_A * q1 - BDF_B * s.q + D_COEF * h * j2
        return q1, q2

    def _dense_output(self, s: BatchState, h, accept, y1, y2, q1, q2, c_rate2, outputs: OutputTimes, recs,
                      fields):
        """Sample the output times strictly inside the accepted steps (t, t + h) from TR-BDF2's
        dense output: the quadratic through the step's start, its stage at t + γh and its end
        (as MATLAB's ode23tb). The weights sum to one, so lithium is conserved at every
        interpolated output as it is at the steps. θ, q and the C-rate are interpolated (in a
        voltage hold the current is set by a tiny departure of the surface from equilibrium, so
        it is taken from the stages, where it is solved for, not recomputed from interpolated
        θ); the voltage is evaluated at the interpolated θ (in a hold: the held value)."""
        b = self.model.mesh
        off = b.offset
        t_end = s.t + h
        after = s.t.copy()
        ctl = self.controls(s.step)
        c_rate1 = None
        while True:
            tau = np.where(accept, outputs.inside(s, t_end, after), np.inf)
            take = np.isfinite(tau)
            if not take.any():
                return
            x = np.where(take, (tau - s.t) / np.where(h > 0, h, 1.0), 0.0)
            w0 = (x - GAMMA) * (x - 1.0) / GAMMA
            w1 = x * (x - 1.0) / (GAMMA * (GAMMA - 1.0))
            w2 = x * (x - GAMMA) / (1.0 - GAMMA)
            node = b.run_of_node
            y = w0[node] * s.y + w1[node] * y1 + w2[node] * y2
            q = w0 * s.q + w1 * q1 + w2 * q2
            if c_rate1 is None:
                c_rate1 = self.model.observables(y1, ctl)[1]
            c_rate = w0 * s.c_rate + w1 * c_rate1 + w2 * c_rate2
            V, _ = self.model.observables(y, ctl)
            for r in np.flatnonzero(take):
                recs[r].add(tau[r], y[off[r]: off[r + 1]].copy() if fields else None, V[r], c_rate[r], q[r],
                            s.step[r])
            outputs.taken(s, take)
            after = np.where(take, tau, after)

    def _accept(self, s: BatchState, h, accept, fire, y2, q2, V2, c_rate2, G):
        """Move the accepted runs to t + h: θ, the flux integral q, observables, and the event
        brackets (a step that landed short of its event keeps bracketing it)."""
        b = self.model.mesh
        ar = self._runs
        node = accept[b.run_of_node]
        s.y_prev = np.where(node, s.y, s.y_prev)
        s.h_prev = np.where(accept, h, s.h_prev)
        s.y = np.where(node, y2, s.y)
        s.q = np.where(accept, q2, s.q)
        s.t = np.where(accept, s.t + h, s.t)
        s.V = np.where(accept, V2, s.V)
        s.c_rate = np.where(accept, c_rate2, s.c_rate)
        inside = accept & np.isfinite(s.bracket) & ~fire  # landed short of the event
        s.bracket[inside] -= h[inside]
        s.g_lo[inside] = G[s.ev_row[inside], ar[inside]]
        short_again = inside & (s.stale < 0)  # short twice in a row: Illinois on the far end
        s.g_hi[short_again] *= 0.5
        s.stale[inside] = -1
        s.bracket[fire] = np.inf
        s.loc_iter[fire] = 0
        s.stale[fire] = 0

    # ------------------------------------------------------------------ Newton
    def _newton(self, y, rhs, dh, s: BatchState, fact=None):
        """Solve V·y − dh·g(y) = rhs by Newton's method with the exact Jacobian.

        A run has converged when the next correction is predicted below ``newton_tol`` from
        the contraction rate of the last two (Hairer & Wanner's stopping test). Each Newton
        update conserves lithium by itself, so stopping early never breaks conservation.
        """
        b, opt, model = self.model.mesh, self.opt, self.model
        active = s.active
        ctl = self.controls(s.step)
        holds = self.experiment.has_holds
        ok = np.zeros(b.nrun, bool)
        g, parts_y = model.residual(y, ctl)
        F = b.volume * y - dh * g - rhs
        prev = None
        factorizations = self.linear.factorizations
        for _ in range(opt.max_newton):
            fact = model.jacobian(dh, parts_y)
            delta = self.linear.solve(fact, F)
            delta = self._damp(y, delta, ctl)
            if holds:
                j_old, dj_old, yb_old = parts_y[2], parts_y[3], y[b.bnodes]
            y = y - delta
            g, parts_y = model.residual(y, ctl)
            F = b.volume * y - dh * g - rhs
            size = b.per_run_max(np.abs(delta))
            # A Newton update conserves lithium exactly up to the nonlinearity of the boundary
            # flux (zero for constant current); demand that part be at round-off, so that
            # conservation never rests on where the iteration happened to stop.
            if holds:
                moved = y[b.bnodes] - yb_old  # the change actually made (below round-off: zero)
                nonlin = dh[b.bnodes] * b.bweight * (parts_y[2] - j_old - dj_old * moved)
                balanced = np.abs(np.bincount(b.brun, weights=nonlin, minlength=b.nrun)) <= 1e-13 * b.vol_run
            else:
                balanced = True  # constant boundary fluxes: every update is exactly conservative
            if prev is None:
                conv = size <= 0.1 * opt.newton_tol
            else:
                rate = np.where(prev > 0, size / np.maximum(prev, 1e-300), 0.0)
                conv = (size <= 0.1 * opt.newton_tol) | (
                    (rate < 0.9) & (rate / (1 - np.minimum(rate, 0.9)) * size <= opt.newton_tol)
                )
            ok |= conv & balanced
            if prev is not None and not b.chain and np.any((size > 0.3 * prev) & ~ok & active):
                self.linear.slow()  # slow contraction: refactor
            prev = size
            if np.all(ok | ~active):
                break
        ok &= np.isfinite(y).all()
        if not ok[active].all() and not b.chain:
            self.linear.failed(self.linear.factorizations > factorizations)
        return y, ok, g, parts_y, fact

    def _damp(self, y, delta, ctl: BoundaryControl):
        """In voltage holds, shorten a run's Newton step so its surface θ stays inside (0, 1).

        Butler–Volmer's j0 ∝ √(θ(1−θ)) has an infinite slope at θ = 0 and 1 and vanishes
        beyond, so an iterate that overshoots the bound would see no restoring flux.
        """
        if not self.experiment.has_holds:
            return delta
        b = self.model.mesh
        hold = ctl.hold
        if not hold.any():
            return delta
        yb, db = y[b.bnodes], delta[b.bnodes]
        new = yb - db
        lam = np.ones_like(yb)
        up = hold & (new >= 1.0) & (db < 0)
        lam[up] = 0.5 * (1.0 - yb[up]) / (-db[up])
        down = hold & (new <= 0.0) & (db > 0)
        lam[down] = 0.5 * yb[down] / db[down]
        if np.all(lam >= 1.0):
            return delta
        per_run = np.minimum.reduceat(np.clip(lam, 0.0, 1.0), b.b_offset)
        return delta * per_run[b.run_of_node]
