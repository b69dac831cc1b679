"""The experiment: what is done to the particles, step by step, and when a step ends.

Every run goes through its protocol as a small state machine:

    step k (StepKind CURRENT | VOLTAGE | REST) ──(duration elapsed | cut-off event)──▶ step k+1
                                              ──(last step ends)──▶ done ("protocol complete")
                                              ──(surface limit, on_limit="stop")──▶ done
                                              ──(surface limit, on_limit="error")──▶ LithmapError

Events are functions of the state that cross zero when they happen (:data:`EVENTS`, one per
:class:`EventKind`): the surface θ reaching the low or the high limit of the
:class:`SurfaceLimits` policy, and the step's own cut-off (a voltage for a current step, a
|C-rate| for a hold). The solver locates the crossings; this module says what they mean, and
when a step ends by its duration (:meth:`Experiment.ended`) or has run too long waiting for its
cut-off (:meth:`Experiment.check_overrun`, the ``max_until`` policy).
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np

from ..errors import LithmapError
from .protocol import Step, StepKind

CURRENT, VOLTAGE = StepKind.CURRENT.code, StepKind.VOLTAGE.code
NO_STEP = -1  #: the kind code of the padding after a run's last step (runs may have fewer steps)
MAX_UNTIL = 100 * 3600.0  #: default longest an 'until'-only step may run before its cut-off counts as never reached, s


@dataclasses.dataclass(frozen=True)
class SurfaceLimits:
    """The surface-limit policy: the bounds of the surface θ and what reaching one means.

    Parameters
    ----------
    low, high : float
        Surface θ bounds; reaching one is an event.
    on_limit : {"error", "stop"}
        ``"error"``: a step that empties or fills the surface before its end is an error (it
        names the step); ``"stop"``: the run ends there, as PyBaMM's events do.

    Examples
    --------
    >>> SurfaceLimits(0.005, 1.0, on_limit="stop")
    SurfaceLimits(low=0.005, high=1.0, on_limit='stop')
    >>> SurfaceLimits(on_limit="never")
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: on_limit='never' is invalid; expected one of ['error', 'stop']
    """

    low: float = 0.0
    high: float = 1.0
    on_limit: str = "error"

    def __post_init__(self):
        if self.on_limit not in ("error", "stop"):
            raise LithmapError(f"on_limit={self.on_limit!r} is invalid; expected one of ['error', 'stop']")
        lo, hi = float(self.low), float(self.high)
        if not (np.isfinite(lo) and np.isfinite(hi) and 0.0 <= lo < hi <= 1.0):
            raise LithmapError(
                f"surface_limits={(self.low, self.high)!r} is invalid; expected 0 <= low < high <= 1"
            )

    @classmethod
    def of(cls, limits=None, *, stop: bool = False) -> SurfaceLimits:
        """A policy from ``None`` (θ in [0, 1]), a ``(low, high)`` pair or a policy; ``stop``
        ends runs at a limit instead of raising."""
        if limits is None:
            limits = cls()
        elif not isinstance(limits, cls):
            try:
                low, high = limits
            except (TypeError, ValueError):
                raise LithmapError(f"surface_limits={limits!r} is invalid; expected (low, high)") from None
            limits = cls(float(low), float(high))
        return dataclasses.replace(limits, on_limit="stop") if stop else limits

    def as_tuple(self) -> tuple[float, float]:
        return (self.low, self.high)


class EventKind(enum.IntEnum):
    """The events of a run, in the order of the rows of :meth:`Experiment.events`."""

    SURFACE_LOW = 0  #: the surface θ reaches the low limit (the surface empties)
    SURFACE_HIGH = 1  #: the surface θ reaches the high limit (the surface fills)
    CUT_OFF = 2  #: the step's cut-off: a voltage (current step) or a |C-rate| (voltage hold)


# ---------------------------------------------------------------------- event functions (≤ 0: happened)
def surface_low(ys_min, ys_max, limits: SurfaceLimits, *_):
    """Distance of each run's lowest surface θ above the low limit."""
    return ys_min - limits.low


def surface_high(ys_min, ys_max, limits: SurfaceLimits, *_):
    """Distance of each run's highest surface θ below the high limit."""
    return limits.high - ys_max


def cut_off(ys_min, ys_max, limits, kind, value, until_v, until_c_rate, voltage, c_rate):
    """Distance to the step's cut-off: to ``until_v`` in the direction of a current step's
    voltage drift, or of |C-rate| above ``until_c_rate`` in a hold; +inf for steps without one."""
    g = np.full(kind.size, np.inf)
    m = (kind == CURRENT) & np.isfinite(until_v)
    g[m] = np.where(value[m] > 0, until_v[m] - voltage[m], voltage[m] - until_v[m])
    m2 = (kind == VOLTAGE) & np.isfinite(until_c_rate)
    g[m2] = np.abs(c_rate[m2]) - until_c_rate[m2]
    return g


#: The event functions, one per :class:`EventKind` (row order).
EVENTS = {EventKind.SURFACE_LOW: surface_low, EventKind.SURFACE_HIGH: surface_high, EventKind.CUT_OFF: cut_off}
_EVENT_ROWS = tuple(EVENTS[e] for e in EventKind)  # in row order, built once (iterating an Enum is slow)


class Experiment:
    """The protocols of a batch of runs as per-run step tables, their events and transitions.

    Parameters
    ----------
    protocols : list of Step, or a list of such lists (one per run)
    material : Material
        To resolve mA/g rates into C-rates and to check that voltage steps can be computed.
    nrun : int
        Number of runs.
    limits : SurfaceLimits
        The surface-limit policy.
    max_until : float
        Longest an 'until'-only step may run before its cut-off counts as never reached (an
        error), s.

    Examples
    --------
    >>> import lithmap as lm
    >>> ex = Experiment(lm.parse_protocol("Charge at 1C until 4.2 V then Rest for 1 min"), lm.nmc811(), 1,
    ...                 SurfaceLimits())
    >>> ex.kind.tolist(), ex.duration.tolist()  # step kind codes (StepKind.code); NaN: no fixed duration
    ([[1, 0]], [[nan, 60.0]])
    """

    def __init__(self, protocols, material, nrun: int, limits: SurfaceLimits, *, max_until: float = MAX_UNTIL):
        if not (np.isfinite(max_until) and max_until > 0):
            raise LithmapError(f"max_until={max_until!r} is invalid; expected a positive time in s")
        self.limits = limits
        self.max_until = float(max_until)
        R = nrun
        if isinstance(protocols, list) and protocols and isinstance(protocols[0], Step):
            protocols = [protocols] * R
        if len(protocols) != R:
            raise LithmapError(f"{len(protocols)} protocols for {R} runs")
        S = max(len(p) for p in protocols)
        self.nsteps = np.array([len(p) for p in protocols])
        self.kind = np.full((R, S), NO_STEP, dtype=int)
        self.value = np.zeros((R, S))
        self.duration = np.full((R, S), np.nan)
        self.until_v = np.full((R, S), np.nan)
        self.until_c_rate = np.full((R, S), np.nan)
        self.steps = protocols
        needs_v = needs_cv = False
        for r, prot in enumerate(protocols):
            for s, st in enumerate(prot):
                st = st.with_c_rate(material.practical_capacity)
                self.kind[r, s] = st.kind.code
                self.value[r, s] = st.value
                self.duration[r, s] = np.nan if st.duration is None else st.duration
                self.until_v[r, s] = np.nan if st.until_voltage is None else st.until_voltage
                self.until_c_rate[r, s] = np.nan if st.until_c_rate is None else st.until_c_rate
                needs_v |= st.until_voltage is not None
                needs_cv |= st.kind is StepKind.VOLTAGE
        m = material
        if (needs_v or needs_cv) and m.ocv is None:
            which = next(s.text for p in protocols for s in p
                         if s.kind is StepKind.VOLTAGE or s.until_voltage is not None)
            raise LithmapError(
                f"protocol step {which!r} needs a voltage, but material {m.name!r} has no OCV; "
                "use a material with one (e.g. --material nmc811) or a step 'for <time>'"
            )
        if needs_cv and (m.exchange_current is None or m.c_max is None):
            raise LithmapError(
                f"a voltage hold needs Butler-Volmer kinetics; material {m.name!r} lacks "
                f"{'an exchange current density' if m.exchange_current is None else 'c_max'}"
            )
        self.has_holds = bool((self.kind == VOLTAGE).any())
        self._runs = np.arange(R)

    def step(self, r: int, k: int) -> Step:
        """Step ``k`` of run ``r``."""
        return self.steps[r][k]

    # ------------------------------------------------------------------ what the steps impose
    def controls(self, step: np.ndarray):
        """(kind code, value) of every run's current step: what the model's boundary sees."""
        return self.kind[self._runs, step], self.value[self._runs, step]

    def step_end(self, state) -> np.ndarray:
        """When each run's current step ends by its duration (``max_until`` after its start for
        an 'until'-only step): the solver does not step past it."""
        dur = self.duration[self._runs, state.step]
        return np.where(np.isnan(dur), state.t_start + self.max_until, state.t_start + dur)

    def ended(self, state, moved) -> np.ndarray:
        """The runs among ``moved`` (a mask) whose fixed-duration step has now run its length."""
        dur = self.duration[self._runs, state.step]
        return moved & ~np.isnan(dur) & (state.t >= state.t_start + dur - 1e-9 * np.maximum(1.0, state.t))

    def check_overrun(self, state, moved):
        """Raise the error of the first run among ``moved`` whose 'until' step has run
        ``max_until`` without reaching its cut-off."""
        dur = self.duration[self._runs, state.step]
        over = moved & np.isnan(dur) & (state.t >= state.t_start + self.max_until - 1e-9)
        if over.any():
            r = np.flatnonzero(over)[0]
            raise LithmapError(
                f"protocol step {self.step(r, state.step[r]).text!r}: its cut-off is never reached "
                f"within {self.max_until / 3600:g} h"
            )

    # ------------------------------------------------------------------ events
    def events(self, y, mesh, step, voltage, c_rate):
        """Event functions per run (an event has happened where ≤ 0), rows in :class:`EventKind` order."""
        ys = y[mesh.bnodes]
        ys_min = np.minimum.reduceat(ys, mesh.b_offset)
        ys_max = np.maximum.reduceat(ys, mesh.b_offset)
        R = self._runs
        args = (ys_min, ys_max, self.limits, self.kind[R, step], self.value[R, step], self.until_v[R, step],
                self.until_c_rate[R, step], voltage, c_rate)
        return np.stack([event(*args) for event in _EVENT_ROWS])

    # ------------------------------------------------------------------ transitions
    def check_step_start(self, runs, state, G):
        """A current step whose voltage cut-off is already passed when it starts is an error."""
        runs = np.asarray(runs)
        if runs.dtype == bool:
            runs = np.flatnonzero(runs)
        for r in runs:
            if G[EventKind.CUT_OFF, r] <= 0 and self.kind[r, state.step[r]] == CURRENT:
                st = self.step(r, state.step[r])
                raise LithmapError(
                    f"protocol step {st.text!r}: the cut-off {st.until_voltage:g} V is already passed "
                    f"at its start (voltage {state.V[r]:.4g} V at t={state.t[r]:.6g} s)"
                )

    def fire(self, mask, row, state, records):
        """Apply located events (``row``: an :class:`EventKind` per run): a surface limit stops
        the run or raises (the :class:`SurfaceLimits` policy); a cut-off ends the step."""
        for r in np.flatnonzero(mask):
            if row[r] in (EventKind.SURFACE_LOW, EventKind.SURFACE_HIGH):
                records[r].termination = self.limit_reached(r, state.step[r], row[r] == EventKind.SURFACE_LOW,
                                                            state.t[r])
                state.active[r] = False
            else:
                one = np.zeros(state.active.size, bool)
                one[r] = True
                self.advance(one, state, records)

    def limit_reached(self, r: int, k: int, low: bool, t: float) -> str:
        """Run ``r`` reached its low (``low``) or high surface limit at ``t`` in step ``k``: the
        termination text under ``on_limit="stop"``; the error under ``on_limit="error"``."""
        st = self.step(r, k)
        limit = self.limits.low if low else self.limits.high
        if self.limits.on_limit == "error":
            raise LithmapError(
                f"protocol step {st.text!r} {'empties' if low else 'fills'} the particle surface (theta reaches "
                f"{limit:g} at t={t:.6g} s) before the step ends; shorten the step, lower the rate, or "
                "stop at the limit (on_limit='stop', --stop-at-limit)"
            )
        return f"surface theta reached {limit:g} at t={t:.6g} s in step {st.text!r}"

    def advance(self, mask, state, records):
        """End the current step of the runs in ``mask``: start the next one, or finish."""
        for r in np.flatnonzero(mask):
            if state.step[r] + 1 >= self.nsteps[r]:
                state.active[r] = False
                records[r].termination = "protocol complete"
            else:
                state.step[r] += 1
                state.t_start[r] = state.t[r]
