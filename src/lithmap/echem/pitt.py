"""PITT: potentiostatic steps → D per step from the current's decay, with flags.

For a sphere of radius r held at a new potential (fast kinetics: a fixed surface concentration),
the current is a sum of modes exp(−n²π²Dt/r²):

- long time: ln|I| falls with slope −π²D/r², so D = −slope · r²/π² (planar film of thickness L:
  D = −slope · 4L²/π²);
- short time (Cottrell): I = ΔQ · (A/V) · √(D/(πt)) with A/V = 3/r, so from c = I·√t,
  D = π · (c · r / (3 ΔQ))², ΔQ being the step's total charge.

Flags: ``not_decayed`` (the current did not fall below 10 % of its value at the end of the
Cottrell window: no long-time regime),
``poor_exp_fit`` / ``poor_cottrell_fit`` (R² below 0.99), ``small_dQ`` (charge below 1e-3 of the
largest step's).

Flow: raw file → :func:`lithmap.read_cycler` → :func:`analyse_pitt` (a Dataset on dim ``step``)
→ :func:`lithmap.write_gitt_csv`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.units import parse_quantity
from .gitt import _label, record_arrays

__all__ = ["analyse_pitt"]


def _fit(x, y):
    A = np.column_stack([x, np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    ss_tot = np.sum((y - y.mean()) ** 2)
    r2 = 1 - np.sum((y - A @ coef) ** 2) / ss_tot if ss_tot > 0 else np.nan
    return coef[0], r2


def analyse_pitt(record: xr.Dataset, *, radius, voltage: str = "voltage", step_threshold=2e-3,
                 cottrell_window=(1.0, 30.0), tail_fraction=(0.3, 1e-4)) -> xr.Dataset:
    """Diffusivity of every potential step of a PITT record, from the current's decay (see the
    module docstring), with quality flags.

    Steps are found where the voltage jumps by more than ``step_threshold``. The long-time fit
    uses the part of each step after the Cottrell window where |I| lies between
    ``tail_fraction[1]`` and ``tail_fraction[0]`` times its value at the end of that window.

    Parameters
    ----------
    record : xarray.Dataset
        A :func:`lithmap.read_cycler` record: 1-D ``time`` (s), ``voltage`` (V), ``current`` (A).
    radius : float or str
        Particle radius, in m or as a quantity string (``"2um"``).
    voltage : str
        The record's variable holding the electrode voltage.
    step_threshold : float or str
        Voltage jump that starts a new step, in V or as a quantity string (``"2mV"``).
    cottrell_window : (float or str, float or str)
        Time window after each switch for the Cottrell fit, in s or as quantity strings.
    tail_fraction : (float, float)
        Current range (fractions of |I| at the end of the Cottrell window) of the long-time fit.

    Returns
    -------
    xarray.Dataset
        On dim ``step`` (1-based): ``voltage`` (V, the held level), ``t_start``, ``duration``
        (s), ``charge`` (C), ``diffusivity_m2_s`` (long-time form), ``exp_r2``,
        ``diffusivity_cottrell_m2_s``, ``cottrell_r2``, ``decayed_to`` and ``flags``.

    Examples
    --------
    Two synthetic steps of a 2 µm sphere with D = 1e-15 m²/s, each current the long-time mode alone:

    >>> import numpy as np, xarray as xr, lithmap
    >>> t = np.r_[np.arange(0, 10, 0.5), np.arange(10, 7200, 10.0)]
    >>> rate = np.pi**2 * 1e-15 / (2e-6) ** 2
    >>> current = 1e-6 * np.exp(-rate * t)
    >>> rec = xr.Dataset({"time": ("record", np.r_[t, 7200 + t]),
    ...                   "voltage": ("record", np.r_[np.full(t.size, 3.99), np.full(t.size, 3.98)]),
    ...                   "current": ("record", np.r_[current, current])})
    >>> p = lithmap.analyse_pitt(rec, radius="2um")
    >>> p.sizes["step"], np.round(p.diffusivity_m2_s.values / 1e-15, 2).tolist()
    (2, [1.0, 1.0])
    """
    t, v, i = record_arrays(record, voltage, what="PITT")
    given, radius = radius, parse_quantity(radius, "m", name="radius")
    if not radius > 0:
        raise LithmapError(f"radius={given!r} is invalid; expected a positive length in m")
    step_threshold = parse_quantity(step_threshold, "V", name="step_threshold")
    cottrell_window = tuple(parse_quantity(w, "s", name="cottrell_window") for w in cottrell_window)
    if np.any(np.diff(t) < 0):
        raise LithmapError("time goes backwards in the PITT record")
    imax = np.max(np.abs(i)) if i.size else 0.0
    if not imax > 0:
        raise LithmapError("no potential steps found: the current is zero throughout")
    jumps = np.flatnonzero(np.abs(np.diff(v)) > step_threshold) + 1
    starts = np.concatenate([[0], jumps])
    ends = np.concatenate([jumps, [t.size]])
    rows = []
    for a, b in zip(starts, ends):
        if b - a < 5 or not np.any(i[a:b] != 0):
            continue
        # the switch happened between the previous level's last sample and this level's first;
        # take the former when it is close (instruments log the end of a step)
        t0 = t[a - 1] if a > 0 and t[a] - t[a - 1] <= 1.0 else t[a]
        ts, cur = t[a:b] - t0, i[a:b]
        mag = np.abs(cur)
        # Cottrell regime first: it also integrates the start the record cannot resolve
        early = (ts >= cottrell_window[0]) & (ts <= cottrell_window[1]) & (mag > 0)
        c = r2_cot = np.nan
        if early.sum() >= 5:
            c, r2_cot = _fit(1.0 / np.sqrt(ts[early]), mag[early])
        later = ts > 0  # the sample at the switch itself carries the unresolved spike
        tk, ik = ts[later], cur[later]
        dq = np.trapezoid(ik, tk) + (np.sign(np.sum(ik)) * 2 * c * np.sqrt(tk[0]) if np.isfinite(c) else 0.0)
        d_cot = np.pi * (c * radius / (3 * abs(dq))) ** 2 if np.isfinite(c) and dq != 0 else np.nan
        # long-time window: relative to the current at the end of the Cottrell window
        ref_idx = np.searchsorted(ts, cottrell_window[1])
        i_ref = mag[min(ref_idx, mag.size - 1)]
        tail = (mag < tail_fraction[0] * i_ref) & (mag > tail_fraction[1] * i_ref) & (ts > cottrell_window[1])
        d_exp = r2_exp = np.nan
        if tail.sum() >= 5:
            slope, r2_exp = _fit(ts[tail], np.log(mag[tail]))
            d_exp = -slope * radius**2 / np.pi**2
        rows.append(dict(voltage=float(np.median(v[a:b])), t_start=t0, duration=ts[-1], charge=dq,
                         diffusivity_m2_s=d_exp, exp_r2=r2_exp, diffusivity_cottrell_m2_s=d_cot,
                         cottrell_r2=r2_cot, decayed_to=mag[-1] / i_ref if i_ref > 0 else np.nan))
    if not rows:
        raise LithmapError("no potential steps found (no held voltage level with a decaying current)")
    qmax = max(abs(r["charge"]) for r in rows)
    for r in rows:
        flags = []
        if not r["decayed_to"] < 0.1:
            flags.append("not_decayed")
        if not (r["exp_r2"] >= 0.99):
            flags.append("poor_exp_fit")
        if not (r["cottrell_r2"] >= 0.99):
            flags.append("poor_cottrell_fit")
        if abs(r["charge"]) < 1e-3 * qmax:
            flags.append("small_dQ")
        r["flags"] = ";".join(flags)
    data = {k: ("step", np.array([r[k] for r in rows])) for k in rows[0]}
    ds = xr.Dataset(data, coords={"step": np.arange(1, len(rows) + 1)})
    _label(ds)
    ds.attrs.update(radius=float(radius), geometry="sphere", source=str(record.attrs.get("source", "")),
                    method="long-time: D = -d ln|I|/dt r^2/pi^2; Cottrell: D = pi (I sqrt(t) r/(3 dQ))^2")
    return ds
