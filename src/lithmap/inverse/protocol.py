"""The protocol a particle saw during an operando movie, from the movie's own time axis.

Time zero is the contrast result's reference frame (the start of the cycle, where θ is
uniform); the protocol runs to the last frame. With a constant C-rate it is one step. With the
cycler log it is the *measured* current, not a nominal rate: the log is put on the movie's clock
as :func:`lithmap.synchronise` does (the log's time ``log_offset`` is the movie's first frame),
turned into a C-rate with the active mass and the material's practical capacity (1C delivers it
in one hour; + = charge = delithiation, lithmap's cycler convention), and merged into
piecewise-constant steps that conserve the charge passed: consecutive intervals join a step as
long as each stays within ``tolerance`` (relative) of the step's mean, so a constant-current
segment is one step and a decaying hold current a few tens; intervals with |I| at most 1e-3 of
the largest |I| in the movie are rests.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LithmapError

#: |C-rate| below this fraction of the movie's largest |C-rate| is a rest.
REST_FRACTION = 1e-3


def _movie_times(result):
    """(dataset, frame times, reference frame) of a contrast result (or its file), checked."""
    from ..io.results import read_result

    name = "result"
    if not isinstance(result, xr.Dataset):
        name = f"{str(result)!r}"
        result = read_result(result)
    if "time" not in result.coords or result["time"].ndim != 1:
        raise LithmapError(f"{name} is not a 'lithmap contrast' result: it has no time coordinate (s)")
    t = np.asarray(result["time"].values, dtype=float)
    if t.size == 0 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise LithmapError(f"{name}: the frame times must be finite and increasing")
    ref = result.attrs.get("reference_frame", 0)
    if isinstance(ref, bool) or not isinstance(ref, (int, np.integer)) or not 0 <= ref < t.size:
        raise LithmapError(f"{name}: reference_frame={ref!r} is outside the movie (frames 0-{t.size - 1})")
    ref = int(ref)
    if ref >= t.size - 1:
        raise LithmapError(f"{name} has no frames after the reference frame {ref} (t = {t[ref]:g} s, the last of "
                           f"{t.size}): nothing to simulate")
    return result, t, ref


def _one_c_current(mass, material) -> float:
    """The current (A) that is 1C for this mass of this material: mass × practical capacity / 1 h."""
    from ..io.units import parse_quantity
    from ..physics.materials import get_material

    if mass is None:
        raise LithmapError("a cycler log needs the active mass (mass='2.1mg', --mass) to turn its current into a "
                           "C-rate")
    m = parse_quantity(mass, "kg", name="mass")
    if not (np.isfinite(m) and m > 0):
        raise LithmapError(f"mass={mass!r} is invalid; expected a positive active mass such as '2.1mg'")
    if material is None:
        raise LithmapError("a cycler log needs the material (material='nmc811', --material) for its practical "
                           "capacity, which turns the current into a C-rate")
    mat = get_material(material) if isinstance(material, str) else material
    cap = getattr(mat, "practical_capacity", None) or getattr(mat, "theoretical_capacity", None)
    if not cap:
        raise LithmapError(f"material {getattr(mat, 'name', mat)!r} states no practical or theoretical capacity: "
                           "its C-rate from a measured current is undefined")
    return m * float(cap) / 3600.0


def _record_charge(log):
    """(times s, cumulative charge C) of a cycler record, one value per instant (the last record
    of a step switch logged twice), from its ``capacity`` counter (mA h) or ∫ current dt."""
    t = np.asarray(log["time"].values, dtype=float)
    if "capacity" in log:
        q = np.asarray(log["capacity"].values, dtype=float) * 3.6
    else:
        i = np.asarray(log["current"].values, dtype=float)
        q = np.concatenate([[0.0], np.cumsum(0.5 * (i[1:] + i[:-1]) * np.diff(t))])
    keep = np.r_[np.diff(t) > 0, True]
    return t[keep], q[keep]


def _log_charge(log, log_offset, t, ref):
    """Boundaries (model time from the reference frame) and charge passed (C) at them, from a log."""
    from ..io.cycler import read_cycler
    from ..io.units import parse_quantity

    if not isinstance(log, xr.Dataset):
        log = read_cycler(log)
    for v in ("time", "current"):
        if v not in log:
            raise LithmapError(f"the cycler log lacks {v!r}; read it with lithmap.read_cycler")
    offset = parse_quantity(log_offset, "s", name="log_offset")
    if not np.isfinite(offset):
        raise LithmapError(f"log_offset={log_offset!r} is not finite")
    lt, q = _record_charge(log)
    if not (np.all(np.isfinite(lt)) and np.all(np.isfinite(q))):
        raise LithmapError("the cycler log has non-finite times or currents")
    # movie time s ↔ log time s − t[0] + offset; model time = movie time − t[ref]
    shift = t[0] - offset - t[ref]
    tau = lt + shift
    end = t[-1] - t[ref]
    a, b = t[ref] - t[0] + offset, t[-1] - t[0] + offset  # the movie's span on the log's clock
    if tau[-1] < 0 or tau[0] > end:
        raise LithmapError(f"the cycler log ({lt[0]:g}-{lt[-1]:g} s) does not overlap the movie from its reference "
                           f"frame ({a:g}-{b:g} s on the log's clock with log_offset {offset:g} s)")
    step = float(np.median(np.diff(lt))) if lt.size > 1 else 0.0
    gaps = []
    if tau[0] > step + 1e-9 * max(end, 1.0):
        gaps.append(f"{a:g}-{lt[0]:g} s")
    if tau[-1] < end - step - 1e-9 * max(end, 1.0):
        gaps.append(f"{lt[-1]:g}-{b:g} s")
    if gaps:
        raise LithmapError(f"the cycler log ({lt[0]:g}-{lt[-1]:g} s) covers only part of the movie from its reference "
                           f"frame ({a:g}-{b:g} s on the log's clock with log_offset {offset:g} s): no current for "
                           f"{' and '.join(gaps)}; check log_offset (--log-offset)")
    # a log that starts or ends within one record interval of the movie: hold its edge currents
    if tau[0] > 0 or tau[-1] < end:
        i_edge = np.diff(q) / np.diff(tau) if tau.size > 1 else np.zeros(1)
        if tau[0] > 0:
            tau, q = np.r_[0.0, tau], np.r_[q[0] - i_edge[0] * tau[0], q]
        if tau[-1] < end:
            tau, q = np.r_[tau, end], np.r_[q, q[-1] + i_edge[-1] * (end - tau[-1])]
    inner = tau[(tau > 0) & (tau < end)]
    bounds = np.r_[0.0, inner, end]
    return bounds, np.interp(bounds, tau, q)


def _stored_charge(ds, t, ref):
    """Boundaries (frame times from the reference) and charge passed (C) from a log already
    synchronised onto the result (``charge_passed`` in mA h, else ``current`` in A)."""
    frames = slice(ref, None)
    tau = t[frames] - t[ref]
    if "charge_passed" in ds and ds["charge_passed"].dims == ("time",):
        q = np.asarray(ds["charge_passed"].values, dtype=float)[frames] * 3.6
    else:
        i = np.asarray(ds["current"].values, dtype=float)[frames]
        q = np.concatenate([[0.0], np.cumsum(0.5 * (i[1:] + i[:-1]) * np.diff(tau))])
    bad = ~np.isfinite(q)
    if bad.all():
        raise LithmapError(f"the cycler log synchronised onto the result does not overlap the movie from its "
                           f"reference frame ({t[ref]:g}-{t[-1]:g} s): its current is NaN at every frame")
    if bad.any():
        missing = t[frames][bad]
        raise LithmapError(f"the cycler log synchronised onto the result covers only part of the movie from its "
                           f"reference frame ({t[ref]:g}-{t[-1]:g} s): no current at {bad.sum()} frames "
                           f"({missing[0]:g}-{missing[-1]:g} s); synchronise it again with the right log_offset")
    return tau, q


def piecewise_steps(bounds, charge, one_c, *, tolerance: float = 0.02) -> list:
    """Piecewise-constant protocol steps from the charge passed at increasing times.

    Parameters
    ----------
    bounds : array
        Increasing times, s (the first is the protocol's start).
    charge : array
        Charge passed at those times, C (+ = charge).
    one_c : float
        The current that is 1C, A.
    tolerance : float
        Relative: an interval joins the step while it and every interval already in the step lie
        within ``tolerance`` × |mean| of the step's mean C-rate.

    Returns
    -------
    list of Step
        Current steps (their C-rate the step's mean, so the charge passed is kept exactly) and
        rests (|C-rate| ≤ 1e-3 of the largest).

    Examples
    --------
    >>> steps = piecewise_steps([0, 100, 200, 300, 400], [0, 0, 1.0, 2.0, 2.99], one_c=0.01 * 3600 / 3600)
    >>> steps
    [Step('Rest for 100 s'), Step('Charge at 0.9967C for 300 s')]
    """
    from ..physics.protocol import Step

    bounds, charge = np.asarray(bounds, dtype=float), np.asarray(charge, dtype=float)
    dt = np.diff(bounds)
    ok = dt > 0
    dq = np.diff(charge)[ok]
    starts, ends = bounds[:-1][ok], bounds[1:][ok]
    rate = dq / dt[ok] / one_c  # C-rate of each interval
    big = float(np.max(np.abs(rate))) if rate.size else 0.0
    rest = np.abs(rate) <= REST_FRACTION * big
    segments = []  # [start, end, charge (C-rate·s), min, max, kind]
    for k in range(rate.size):
        c, kind = rate[k], 0 if rest[k] else int(np.sign(rate[k]))
        seg = segments[-1] if segments else None
        if seg is not None and seg[5] == kind:
            if kind == 0:
                seg[1] = ends[k]
                continue
            q = seg[2] + c * (ends[k] - starts[k])
            mean = q / (ends[k] - seg[0])
            lo, hi = min(seg[3], c), max(seg[4], c)
            if hi - mean <= tolerance * abs(mean) and mean - lo <= tolerance * abs(mean):
                seg[1], seg[2], seg[3], seg[4] = ends[k], q, lo, hi
                continue
        segments.append([starts[k], ends[k], c * (ends[k] - starts[k]), c, c, kind])
    steps = []
    for start, end, q, _, _, kind in segments:
        dur = float(end - start)
        if kind == 0:
            steps.append(Step("rest", 0.0, dur, text=f"Rest for {dur:.6g} s"))
        else:
            c = float(q / dur)
            steps.append(Step("current", c, dur, text=f"{'Charge' if c > 0 else 'Discharge'} at {abs(c):.4g}C for "
                                                      f"{dur:.6g} s"))
    return steps


def movie_protocol(result, *, rate=None, log=None, log_offset=0.0, mass=None, material=None,
                   tolerance: float = 0.02):
    """The protocol the particle saw during a movie, and the model's output times.

    From the contrast result's reference frame (time zero) to its last frame: one constant step
    with ``rate``; with a cycler ``log`` (or the log :func:`lithmap.analyse_movie` synchronised
    onto the result, when no log and no rate is given) the measured current as a C-rate, merged
    into piecewise-constant steps that conserve the charge passed (the module docstring,
    :mod:`lithmap.inverse.protocol`, has the rules).

    Parameters
    ----------
    result : xarray.Dataset or path
        A ``lithmap contrast`` result: a ``time`` coordinate (s) and the attr ``reference_frame``
        (default 0); with a synchronised log also ``charge_passed`` (mA h) or ``current`` (A) on
        ``time``.
    rate : str or float, optional
        The constant C-rate of the movie: ``"C/3"`` (charge), ``"-C/3"`` (discharge), a number
        (1/h); 0 is a rest.
    log : str, Path or xarray.Dataset, optional
        The cycler record of the movie (a file, or :func:`lithmap.read_cycler`'s Dataset;
        current + = charge).
    log_offset : float or str
        The log's time at the movie's first frame (s, or ``"35 s"``), as for
        :func:`lithmap.synchronise`.
    mass : float or str, optional
        Active mass in kg, or ``"2.1mg"`` (with a log).
    material : str or lithmap.Material, optional
        Material preset or material (with a log): 1C is its practical capacity (else its
        theoretical one) per hour.
    tolerance : float
        Relative spread of the C-rate allowed within one step.

    Returns
    -------
    steps : list of Step
        Current steps and rests whose durations add up to the last frame's time.
    times : numpy.ndarray
        The frames' times from the reference frame on, minus the reference time (s): the model's
        output times (``simulate(..., times=times)``).

    Raises
    ------
    LithmapError
        Neither or both of ``rate`` and ``log``, a log without ``mass`` or ``material``, a log
        that does not overlap the movie or covers only part of it (the message names the ranges
        and the gap), no frames after the reference frame (one line).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> movie = xr.Dataset(coords={"time": np.arange(6) * 60.0 + 30.0}, attrs={"reference_frame": 1})
    >>> movie_protocol(movie, rate="C/3")
    ([Step('Charge at 0.3333C for 240 s')], array([  0.,  60., 120., 180., 240.]))

    A log of 0.1 mA from its 100 s on, for 2 mg of NMC811 (1C = 2 mg × 210 mA h/g = 0.42 mA); the
    reference frame (90 s) is at the log's 60 s, so the current starts 40 s into the protocol,
    after one 10 s record interval over which the logged current rises:

    >>> t = np.arange(0.0, 400.0, 10.0)
    >>> log = xr.Dataset({"time": ("record", t), "current": ("record", np.where(t >= 100, 1e-4, 0.0))})
    >>> steps, times = movie_protocol(movie, log=log, log_offset="0 s", mass="2mg", material="nmc811")
    >>> steps
    [Step('Rest for 30 s'), Step('Charge at 0.119C for 10 s'), Step('Charge at 0.2381C for 200 s')]
    """
    given = [name for name, v in (("rate", rate), ("log", log)) if v is not None]
    if len(given) > 1:
        raise LithmapError("give the movie's protocol once: rate (--rate) or log (--log), not both")
    if not (np.isfinite(tolerance) and 0 <= tolerance < 1):
        raise LithmapError(f"tolerance={tolerance!r} is invalid; expected a relative spread in [0, 1) such as 0.02")
    ds, t, ref = _movie_times(result)
    times = t[ref:] - t[ref]
    end = float(times[-1])
    if rate is not None:
        from ..physics.protocol import Step, parse_c_rate

        if mass is not None:
            raise LithmapError("mass (--mass) turns a log's current into a C-rate; with rate (--rate) leave it out")
        c = parse_c_rate(rate, name="rate")
        if c == 0:
            return [Step("rest", 0.0, end, text=f"Rest for {end:.6g} s")], times
        return [Step("current", c, end, text=f"{'Charge' if c > 0 else 'Discharge'} at {abs(c):.4g}C for "
                                              f"{end:.6g} s")], times
    if log is not None:
        one_c = _one_c_current(mass, material)
        bounds, charge = _log_charge(log, log_offset, t, ref)
    elif "current" in ds or "charge_passed" in ds:
        one_c = _one_c_current(mass, material)
        bounds, charge = _stored_charge(ds, t, ref)
    else:
        raise LithmapError("give the movie's protocol: rate='C/3' (--rate), or the cycler log (log=..., --log) "
                           "with the active mass (--mass)")
    steps = piecewise_steps(bounds, charge, one_c, tolerance=tolerance)
    return steps, times
