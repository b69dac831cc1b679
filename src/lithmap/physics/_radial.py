"""Compiled time stepping for radial runs: the whole step loop of :mod:`lithmap.physics.solver`
inside numba, one run per call, runs of a batch in parallel threads.

Why by hand: the algorithm is the solver's own (TR-BDF2 with the filtered Bank et al. error
estimate, Newton with Hairer & Wanner's stopping test, Illinois bracketing of surface events,
TR-BDF2's dense output at requested times), but in Python every step pays ~0.5 ms of array
bookkeeping for a 1D radial run whose arithmetic is ~20 µs; no library integrates a
conservative finite-volume chain with step-by-step event location inside compiled code
(scipy's ``solve_ivp`` and SUNDIALS step in Python or need a compiled right-hand side and
Jacobian wired through their own callbacks). Here a step is a few tridiagonal passes.

What it covers is what most radial work is: chain meshes (:class:`~lithmap.physics.geometry.Sphere`,
:class:`~lithmap.physics.geometry.Cylinder`, hollow spheres), D(θ) tabulated or constant, and
protocols of current steps and rests of fixed duration (the surface flux is then a constant
per step), with the surface limits as events. Voltage holds, voltage cut-offs and a
Butler–Volmer current distribution go through the Python solver
(:func:`eligible` says which). The two paths are the same algorithm, except two savings in the
Newton loop that only the kernel makes (see :func:`_stage`): g at a converged stage comes from
the stage equation instead of a fresh residual, and the convergence-rate estimate is carried
from stage to stage so that a stage may stop after one iteration (Hairer & Wanner). Results
differ by less than the Newton tolerance; ``tests/test_radial_kernel.py`` checks the two paths
agree to the tolerance, conserve lithium and meet the analytic series.
"""

from __future__ import annotations

import concurrent.futures
import os

import numpy as np

from ..errors import LithmapError, SolverError
from . import _kernels
from .experiment import CURRENT, NO_STEP, VOLTAGE

HAVE_NUMBA = _kernels.HAVE_NUMBA
if HAVE_NUMBA:
    import numba as nb

GAMMA = 2.0 - np.sqrt(2.0)
D_COEF = GAMMA / 2.0
BDF_A = 1.0 / (GAMMA * (2.0 - GAMMA))
BDF_B = (1.0 - GAMMA) ** 2 / (GAMMA * (2.0 - GAMMA))
ERR_K = (-3 * GAMMA**2 + 4 * GAMMA - 2) / (12 * (2 - GAMMA))
BRACKET_MIN = 1e-11  # the solver's (solver.BRACKET_MIN): an event bracket this short (relative to t) is negligible

#: Status codes of :func:`integrate_run`.
COMPLETE, AT_LOW, AT_HIGH, UNDERFLOW, TOO_MANY = 0, 1, 2, 3, 4


def _jit(func):
    return nb.njit(cache=True, nogil=True, error_model="numpy")(func) if HAVE_NUMBA else func


@_jit
def _residual(y, wa, tth, tln, tslope, bw, j, g):
    """g = V dθ/dt of a chain (edges (i, i+1)) with the surface flux j on the boundary weights bw
    (in place)."""
    n = y.size
    for i in range(n):
        g[i] = -bw[i] * j
    for e in range(n - 1):
        d, _ = _kernels._table_d(0.5 * (y[e] + y[e + 1]), tth, tln, tslope)
        phi = wa[e] * d * (y[e] - y[e + 1])
        g[e] -= phi
        g[e + 1] += phi


@_jit
def _newton_system(y, rhs, dh, vol, wa, tth, tln, tslope, bw, j, F, dl, piv, c):
    """One pass over the faces: F = V·y − dh·g(y) − rhs and the LU factor of its exact
    tridiagonal Jacobian V − dh·∂g/∂y: sub-diagonal ``dl``, reciprocal pivots ``piv`` and
    super-diagonal multipliers ``c`` (Thomas without pivoting; the matrix is an M-matrix for
    dD/dθ small against D, and a tiny pivot is reported). Returns whether the factor is usable.

    This is the kernel's inner loop, so the D(θ) look-up of :func:`_kernels._table_d` is written
    out here (the same table: flat outside, a one-knot table is a constant): numba does not
    fold the tuple-returning helper into this loop, and the pass then takes ~1.5× as long."""
    n = y.size
    nk = tth.size
    g_prev = -bw[0] * j  # g of the node in hand, completed as its faces are passed
    diag = vol[0]
    for e in range(n - 1):
        diff = y[e] - y[e + 1]
        m = 0.5 * (y[e] + y[e + 1])
        k = 0
        while k < nk - 2 and m >= tth[k + 1]:
            k += 1
        above = m >= tth[nk - 1]  # D is flat outside the table
        d = np.exp(tln[nk - 1] if above else tln[k] + tslope[k] * (max(m, tth[0]) - tth[k]))
        dd = d * tslope[k] if (m > tth[0] and not above) else 0.0
        phi = wa[e] * d * diff
        pa = wa[e] * (d + 0.5 * dd * diff)
        pb = wa[e] * (-d + 0.5 * dd * diff)
        F[e] = vol[e] * y[e] - dh * (g_prev - phi) - rhs[e]
        g_prev = -bw[e + 1] * j + phi
        dl[e] = -dh * pa
        # factor row e now that its diagonal is complete, then start row e + 1
        diag += dh * pa
        if e > 0:
            raw = diag
            diag -= dl[e - 1] * c[e - 1]
            if not abs(diag) > 1e-14 * abs(raw):
                return False
        elif not abs(diag) > 1e-300:
            return False
        piv[e] = 1.0 / diag
        c[e] = dh * pb * piv[e]
        diag = vol[e + 1] - dh * pb
    F[n - 1] = vol[n - 1] * y[n - 1] - dh * g_prev - rhs[n - 1]
    raw = diag
    if n > 1:
        diag -= dl[n - 2] * c[n - 2]
    if not abs(diag) > 1e-14 * abs(raw) or not abs(diag) > 1e-300:
        return False
    piv[n - 1] = 1.0 / diag
    return True


@_jit
def _lu_solve(dl, piv, c, x):
    """Solve with the factor of :func:`_newton_system`, in place on x."""
    n = x.size
    x[0] *= piv[0]
    for i in range(1, n):
        x[i] = (x[i] - dl[i - 1] * x[i - 1]) * piv[i]
    for i in range(n - 2, -1, -1):
        x[i] -= c[i] * x[i + 1]


@_jit
def _stage(y, rhs, dh, vol, wa, tth, tln, tslope, bw, j, ntol, max_newton, eta, g, F, dl, piv, c):
    """Solve V·y − dh·g(y) = rhs in place by Newton (exact tridiagonal Jacobian). Leaves g at the
    solution and (dl, piv, c) the factor of the last Jacobian; returns (converged, eta).

    ``eta`` is Hairer & Wanner's η = Θ/(1 − Θ) from the previous stage's convergence rate Θ
    (1.0 at the start of a run or step), damped as η^0.8 as they advise: with it the test
    ``η·|Δy| ≤ tol`` can pass after the first iteration, which a fresh rate estimate never can.

    Convergence is judged on the Newton corrections (Hairer & Wanner's test), so the last
    iterate needs no residual: g there is taken from the stage equation, g = (V·y − rhs)/dh, as
    stiff codes do for their stage derivatives (Hairer & Wanner, Solving ODEs II, IV.8). It
    differs from g(y) by F(y)/dh, and every use of g multiplies it by ~dh (the next stage's
    right-hand side, the error estimate), so the difference enters at the size of the Newton
    residual. That saves one D(θ) evaluation per face (an exp) per stage."""
    n = y.size
    prev = -1.0
    eta = max(eta, 1e-16) ** 0.8
    for _ in range(max_newton):
        if not _newton_system(y, rhs, dh, vol, wa, tth, tln, tslope, bw, j, F, dl, piv, c):
            return False, 1.0
        _lu_solve(dl, piv, c, F)
        size = 0.0
        for i in range(n):
            y[i] -= F[i]
            size = max(size, abs(F[i]))
        if prev >= 0.0:
            rate = size / prev if prev > 0 else 0.0
            if rate >= 0.9:
                prev = size
                eta = 1.0
                continue
            eta = rate / (1.0 - rate)
        if size <= 0.1 * ntol or eta * size <= ntol:
            for i in range(n):
                if not np.isfinite(y[i]):
                    return False, 1.0
                g[i] = (vol[i] * y[i] - rhs[i]) / dh
            return True, eta
        prev = size
    return False, 1.0


@_jit
def _surface_events(y, bidx, low, high):
    lo = np.inf
    hi = -np.inf
    for k in bidx:
        lo = min(lo, y[k])
        hi = max(hi, y[k])
    return lo - low, high - hi


@_jit
def integrate_run(y0, vol, wa, tth, tln, tslope, bw, bidx, step_j, step_dur, t_out, every_step, low, high,
                  tol, max_dt, first_dt, ntol, max_newton, max_steps, ev_tol):
    """Integrate one radial run through steps of constant surface flux ``step_j`` (m/s, one per
    step) lasting ``step_dur`` (s), recording the initial state, ``t_out`` (interpolated inside
    steps; or every accepted step when ``every_step``), step ends and a surface event.

    Returns (time, theta, q, step, count, status, t, y, accepted, attempted): the first ``count``
    rows of the sample arrays are filled; ``status`` is one of COMPLETE, AT_LOW, AT_HIGH,
    UNDERFLOW, TOO_MANY."""
    n = y0.size
    S = step_j.size
    cap = t_out.size + S + 3 if not every_step else 256
    rt = np.empty(cap)
    rth = np.empty((cap, n))
    rq = np.empty(cap)
    rs = np.empty(cap, np.int64)
    y = y0.copy()
    y_prev = y0.copy()
    y1 = np.empty(n)
    y2 = np.empty(n)
    g_n = np.empty(n)
    g1 = np.empty(n)
    g2 = np.empty(n)
    F = np.empty(n)
    dl = np.empty(max(n - 1, 1))
    piv = np.empty(n)
    c = np.empty(n)
    rhs = np.empty(n)
    est = np.empty(n)
    area = 0.0
    for i in range(n):
        area += bw[i]
    vtot = 0.0
    for i in range(n):
        vtot += vol[i]
    t = 0.0
    q = 0.0
    k = 0
    t_start = 0.0
    dt = first_dt
    h_prev = 0.0
    bracket = np.inf
    g_lo = 0.0
    g_hi = 0.0
    ev_row = 0
    stale = 0
    loc_iter = 0
    out_i = 0
    while out_i < t_out.size and t_out[out_i] <= 1e-12:
        out_i += 1
    count = 0
    # the initial sample
    rt[0] = t
    rth[0, :] = y
    rq[0] = q
    rs[0] = k
    count = 1
    j = step_j[k]
    jv = j * area / vtot
    _residual(y, wa, tth, tln, tslope, bw, j, g_n)
    G0, G1 = _surface_events(y, bidx, low, high)
    N0, N1 = G0, G1
    status = COMPLETE
    accepted = 0
    attempts = 0
    eta = 1.0  # Newton's contraction factor θ/(1 − θ), carried between stages (Hairer & Wanner)
    while True:
        attempts += 1
        if attempts > max_steps:
            status = TOO_MANY
            break
        # an event located by bracketing: it is here
        if bracket < np.inf and bracket <= BRACKET_MIN * max(t, 1.0):
            gcur = G0 if ev_row == 0 else G1
            if abs(gcur) <= 10 * ev_tol:
                if not (count > 0 and rt[count - 1] == t):
                    rt[count] = t
                    rth[count, :] = y
                    rq[count] = q
                    rs[count] = k
                    count += 1
                status = AT_LOW if ev_row == 0 else AT_HIGH
                break
            bracket = np.inf
            loc_iter = 0
            stale = 0
        # the step size: the controller's, clamped to the step end and an event bracket
        h = min(min(dt, max_dt), t_start + step_dur[k] - t)
        if bracket < np.inf:
            guess = bracket * g_lo / (g_lo - g_hi)
            if loc_iter > 12:
                guess = 0.5 * bracket
            guess = min(max(guess, 1e-3 * bracket), (1 - 1e-7) * bracket)
            if bracket <= BRACKET_MIN * max(t, 1.0):
                guess = bracket
            h = min(h, guess)
            loc_iter += 1
        h = max(h, 0.0)
        dh = D_COEF * h
        # stage 1 (trapezoidal rule to t + γh) from the extrapolated last step
        slope = (h / h_prev) * GAMMA if h_prev > 0 else 0.0
        for i in range(n):
            y1[i] = y[i] + slope * (y[i] - y_prev[i])
            rhs[i] = vol[i] * y[i] + dh * g_n[i]
        ok = h > 0
        if ok:
            ok, eta = _stage(y1, rhs, dh, vol, wa, tth, tln, tslope, bw, j, ntol, max_newton, eta, g1, F, dl, piv, c)
        # stage 2 (BDF2 to t + h)
        if ok:
            for i in range(n):
                y2[i] = y1[i] + (1 - GAMMA) / GAMMA * (y1[i] - y[i])
                rhs[i] = vol[i] * (BDF_A * y1[i] - BDF_B * y[i])
            ok, eta = _stage(y2, rhs, dh, vol, wa, tth, tln, tslope, bw, j, ntol, max_newton, eta, g2, F, dl, piv, c)
        err = np.inf
        if ok:
            for i in range(n):
                est[i] = 2 * ERR_K * h * (g_n[i] / GAMMA - g1[i] / (GAMMA * (1 - GAMMA)) + g2[i] / (1 - GAMMA))
            _lu_solve(dl, piv, c, est)  # the filter (V − dh·J)⁻¹ of the estimate, with stage 2's factor
            err = 0.0
            for i in range(n):
                err = max(err, abs(est[i]))
            err /= tol
            if not np.isfinite(err):
                err = np.inf
        accept = ok and err <= 1.0
        if ok:
            fac = min(max(0.9 * max(err, 1e-10) ** (-1.0 / 3.0), 0.2), 5.0)
        else:
            fac = 0.25
        dt_new = max(dt, h * fac) if (accept and h < dt) else h * fac
        fire = False
        if accept:
            N0, N1 = _surface_events(y2, bidx, low, high)
            c0 = N0 <= 0 and G0 > 0
            c1 = N1 <= 0 and G1 > 0
            if c0 or c1:
                f0 = G0 / (G0 - N0) if c0 else np.inf
                f1 = G1 / (G1 - N1) if c1 else np.inf
                row = 0 if f0 <= f1 else 1
                first = N0 if row == 0 else N1
                fire = first > -ev_tol or h <= BRACKET_MIN * max(t, 1.0)
                if fire:
                    if c0 and N0 > -ev_tol:
                        row = 0
                    elif c1 and N1 > -ev_tol:
                        row = 1
                    ev_row = row
                else:  # overshot: shrink the bracket, do not accept
                    again = bracket < np.inf and stale > 0
                    bracket = h
                    ev_row = row
                    g_hi = first
                    g_lo = (G0 if row == 0 else G1) * (0.5 if again else 1.0)
                    stale = 1
                    dt_new = dt
                    accept = False
        if accept:
            accepted += 1
            q1 = q + D_COEF * h * (jv + jv)
            q2 = BDF_A * q1 - BDF_B * q + D_COEF * h * jv
            t_end = t + h
            if not every_step:  # dense output strictly inside (t, t + h)
                cut = t_end - 1e-9 * max(1.0, abs(t_end))
                while out_i < t_out.size and t_out[out_i] < cut:
                    xx = (t_out[out_i] - t) / h
                    w0 = (xx - GAMMA) * (xx - 1.0) / GAMMA
                    w1 = xx * (xx - 1.0) / (GAMMA * (GAMMA - 1.0))
                    w2 = xx * (xx - GAMMA) / (1.0 - GAMMA)
                    if count == cap:
                        rt, rth, rq, rs, cap = _grow(rt, rth, rq, rs, cap)
                    rt[count] = t_out[out_i]
                    for i in range(n):
                        rth[count, i] = w0 * y[i] + w1 * y1[i] + w2 * y2[i]
                    rq[count] = w0 * q + w1 * q1 + w2 * q2
                    rs[count] = k
                    count += 1
                    out_i += 1
            for i in range(n):
                y_prev[i] = y[i]
                y[i] = y2[i]
                g_n[i] = g2[i]
            h_prev = h
            q = q2
            t = t_end
            G0, G1 = N0, N1
            if bracket < np.inf and not fire:  # landed short of the event
                bracket -= h
                g_lo = G0 if ev_row == 0 else G1
                if stale < 0:
                    g_hi *= 0.5
                stale = -1
            if fire:
                bracket = np.inf
                loc_iter = 0
                stale = 0
            due = every_step
            if not every_step and out_i < t_out.size and abs(t - t_out[out_i]) <= 1e-9 * max(1.0, abs(t_out[out_i])):
                due = True
                out_i += 1
            step_end = (not fire) and t >= t_start + step_dur[k] - 1e-9 * max(1.0, t)
            if (due or fire or step_end) and not (count > 0 and rt[count - 1] == t):
                if count == cap:
                    rt, rth, rq, rs, cap = _grow(rt, rth, rq, rs, cap)
                rt[count] = t
                rth[count, :] = y
                rq[count] = q
                rs[count] = k
                count += 1
            if fire:
                status = AT_LOW if ev_row == 0 else AT_HIGH
                break
            if step_end:
                if k + 1 >= S:
                    status = COMPLETE
                    break
                k += 1
                t_start = t
                h_prev = 0.0
                j = step_j[k]
                jv = j * area / vtot
                _residual(y, wa, tth, tln, tslope, bw, j, g_n)
                eta = 1.0
                bracket = np.inf
                loc_iter = 0
                stale = 0
                dt_new = first_dt
        dt = dt_new
        if not accept and h < 1e-12 * max(1.0, t):
            status = UNDERFLOW
            break
    return rt, rth, rq, rs, count, status, t, y, accepted, attempts, k


@_jit
def _grow(rt, rth, rq, rs, cap):
    new = 2 * cap
    a = np.empty(new)
    b = np.empty((new, rth.shape[1]))
    c = np.empty(new)
    e = np.empty(new, np.int64)
    a[:cap] = rt
    b[:cap] = rth
    c[:cap] = rq
    e[:cap] = rs
    return a, b, c, e, new


# ---------------------------------------------------------------------- the Python side
def eligible(model, experiment) -> bool:
    """True when the batch can be integrated by the compiled radial loop: chain meshes, a
    tabulated or constant D(θ), a uniform surface flux, and only current steps and rests of
    fixed duration (no voltage holds, no voltage cut-offs)."""
    b = model.mesh
    if not (HAVE_NUMBA and b.chain and model._table is not None and not model.bv_current):
        return False
    kinds = experiment.kind
    real = kinds != NO_STEP
    if np.any(kinds[real] == VOLTAGE):
        return False
    if np.any(np.isnan(experiment.duration[real])) or np.any(np.isfinite(experiment.until_v[real])):
        return False
    return bool(np.all(np.diff(b.edge_run) >= 0))


def integrate(model, experiment, y0, options, t_eval=None, output_interval=None, record_fields=True):
    """Integrate an :func:`eligible` batch with the compiled loop; returns (records, state) as
    :meth:`lithmap.physics.solver.Solver.run` does."""
    from .solver import BatchState, RunRecord

    b = model.mesh
    R = b.nrun
    kind = experiment.kind
    # the surface flux of each step (m/s, + = delithiation): a C-rate times the run's j per 1C
    step_j = np.where(kind == CURRENT, experiment.value, 0.0) * model.rate_to_j[:, None]
    step_dur = np.where(kind == NO_STEP, 0.0, experiment.duration)
    nsteps = experiment.nsteps.astype(np.int64)
    tth, tln, tslope = model._table
    every = t_eval is None and output_interval is None
    if output_interval is not None:
        total = float(np.max(np.nansum(step_dur, axis=1)))
        t_out = output_interval * np.arange(1.0, np.floor(total / output_interval + 1e-9) + 1.0)
    elif t_eval is not None:
        t_out = np.unique(np.asarray(t_eval, dtype=float))
    else:
        t_out = np.zeros(0)
    lim = experiment.limits
    bw = np.ascontiguousarray(b.boundary, dtype=float)
    bidx = np.ascontiguousarray(b.bnodes, dtype=np.int64)
    b_off = np.append(b.b_offset, bidx.size).astype(np.int64)
    opt = options
    tol_ev = opt.event_tol_theta
    common = (tth, tln, tslope)
    args = (lim.low, lim.high, opt.tol, opt.max_dt, opt.first_dt, opt.newton_tol, opt.max_newton, opt.max_steps,
            tol_ev)
    offset = b.offset.astype(np.int64)

    def one(r):
        a, c = offset[r], offset[r + 1]
        rt, rth, rq, rs, count, status, t, y, acc, att, k = integrate_run(
            np.ascontiguousarray(y0[a:c]), b.volume[a:c], model._wa[a - r:c - r - 1], *common, bw[a:c],
            bidx[b_off[r]:b_off[r + 1]] - a, step_j[r, :nsteps[r]], step_dur[r, :nsteps[r]], t_out, every, *args,
        )
        return rt[:count], rth[:count], rq[:count], rs[:count], status, t, y, acc, att, k

    # runs are independent and the kernel releases the GIL: a batch runs on a few threads
    threads = min(opt.threads or _usable_cpus(), R // 8)
    if threads > 1:
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(one, range(R)))
    else:
        results = [one(r) for r in range(R)]
    recs = []
    state = BatchState.initial(np.ascontiguousarray(y0).copy(), R, opt.first_dt)
    step_c = np.where(kind == CURRENT, experiment.value, 0.0)  # the C-rate of each step
    for r, (rt, rth, rq, rs, status, t, y, acc, att, k) in enumerate(results):
        _raise_on(status, experiment, r, k, t, opt)
        c_rate = step_c[r, rs]
        V = model.sample_voltage(r, rth, step_j[r, rs])
        rec = RunRecord(rt, rth if record_fields else np.zeros((0, 0)), V, c_rate, rq, rs)
        if status in (AT_LOW, AT_HIGH):
            rec.termination = experiment.limit_reached(r, k, status == AT_LOW, t)
        recs.append(rec)
        a, c = offset[r], offset[r + 1]
        state.y[a:c] = y
        state.t[r], state.step[r], state.q[r] = t, k, rq[-1]
        state.accepted[r], state.attempted[r] = acc, att
        state.V[r], state.c_rate[r] = V[-1], c_rate[-1]
    state.active[:] = False
    return recs, state


def _usable_cpus() -> int:
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _raise_on(status, experiment, r, k, t, opt):
    if status == UNDERFLOW:
        raise SolverError(f"step size underflow at t={t:.6g} s in step {experiment.step(r, k).text!r} "
                          f"(tol={opt.tol:g})")
    if status == TOO_MANY:
        raise SolverError(f"more than {opt.max_steps} step attempts; last t={t:.6g} s")
    if status not in (0, 1, 2):  # pragma: no cover - the kernel returns no other code
        raise LithmapError(f"unknown status {status} from the radial kernel")


