"""GITT: pulses and rests → Weppner–Huggins diffusivities per pulse, with quality flags.

Convention: current in A, positive = charge (delithiation of the cathode). Per pulse k:

- E_before: the rest voltage just before the current switches on; E_after: at the end of the
  rest that follows; ΔEs = E_after − E_before.
- IR drop: the jump between E_before and the first sample at full current; ΔEt: the voltage
  change during the pulse from that first full-current sample to the last one (IR excluded).
- √t fit of E against √(t − t_on) over an early window (default 2–60 s): slope and R².
- D by Weppner & Huggins (J. Electrochem. Soc. 124, 1569, 1977), for a pulse of length τ:
  * radius form (spheres, V/S = r/3):       D = 4 r² / (9 π τ) · (ΔEs / ΔEt)²
  * √t-slope form (ΔEt ≈ slope·√τ):         D = 4 r² / (9 π) · (ΔEs / (τ · slope))²
  * mass form (given m, M, V_M, S):          D = 4 / (π τ) · (m V_M / (M S))² · (ΔEs / ΔEt)²
- Known bias, measured on GITT simulated by lithmap's own engine (sphere, constant D, linear
  OCV, no kinetics; tests/test_gitt.py): the radius form underestimates D by about
  1–1.4·√(τD/r²) (0.81× at τD/r² = 0.019, 0.93× at 0.007) because the sphere's surface fills
  more slowly than the planar √t law assumes; the √t-slope form is within ~5 % at both.
- Flags: ``rest_drift`` (end-of-rest drift above ``drift_limit`` mV/h: not at equilibrium),
  ``tau_not_short`` (τ·D/r² above 0.1: the semi-infinite assumption fails), ``poor_sqrt_fit``
  (R² below 0.99), ``truncated`` (pulse shorter than 95 % of the median, e.g. stopped by a
  voltage limit), ``small_dEs`` (|ΔEs| below 1 mV or 2 % of |ΔEt|: a two-phase plateau gives a
  false D). Empty when the pulse is sound.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.tables import read_columns, write_table


def read_gitt_csv(paths, *, time_column="Time [s]", voltage_column="Voltage [V]", current_column="Current [A]"):
    """Read one or more CSV files into one time-ordered record ``(time, voltage, current)``.

    Files may be given in any order; they are joined by time. Time must not go backwards
    within a file, and files must not overlap.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    pieces = []
    for p in paths:
        cols = (time_column, voltage_column, current_column)
        _, records = read_columns(p, cols, what="GITT file")
        rows = [tuple(r[c] for c in cols) for r in records]
        try:
            arr = np.array(rows, dtype=float)
        except ValueError as exc:
            raise LithmapError(f"GITT file {str(p)!r} has a non-numeric value ({exc})") from None
        if arr.size == 0:
            raise LithmapError(f"GITT file {str(p)!r} has no rows")
        if np.any(np.diff(arr[:, 0]) < 0):
            i = int(np.flatnonzero(np.diff(arr[:, 0]) < 0)[0])
            raise LithmapError(f"GITT file {str(p)!r}: time goes backwards at row {i + 2} ({arr[i + 1, 0]!r} s)")
        pieces.append(arr)
    pieces.sort(key=lambda a: a[0, 0])
    for a, b in zip(pieces, pieces[1:]):
        if b[0, 0] < a[-1, 0]:
            raise LithmapError("GITT files overlap in time; give each pulse once")
    data = np.vstack(pieces)
    return data[:, 0], data[:, 1], data[:, 2]


def _segments(mask):
    """(start, stop) index pairs of runs of True."""
    d = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


_REST = 0.02  # a rest sample passes less than 2 % of the peak current (cyclers log offsets, never 0 A)


def _rest_end(t, E, I, lo, a, imax):
    """Voltage of the last rest sample in [lo, a) at least 50 ms before t[a] (NaN if none)."""
    idx = np.arange(lo, a)
    idx = idx[(np.abs(I[idx]) < _REST * imax) & (t[idx] <= t[a] - 0.05)]
    return E[idx[-1]] if idx.size else np.nan


def analyse_gitt(
    time,
    voltage,
    current,
    *,
    radius: float,
    fit_window=(2.0, 60.0),
    drift_limit: float = 5.0,
    capacity_mAh: float | None = None,
    theta_start: float | None = None,
    mass_g: float | None = None,
    molar_mass: float | None = None,
    molar_volume: float | None = None,
    area: float | None = None,
    step=None,
) -> xr.Dataset:
    """Analyse a GITT record; returns a Dataset on dim ``pulse`` (see module docstring).

    Pulses are found from the cycler's step index when ``step`` is given (each step whose
    median |current| exceeds 5 % of the peak is a pulse, so pulses of different currents and
    noisy or ramped logs are all found), else from the current level alone (above half the peak
    current: robust to logged offsets and switch-on ramps, but it assumes one pulse current).

    ``capacity_mAh`` with ``theta_start`` gives θ at each pulse midpoint by coulomb counting
    (charge lowers θ); otherwise ``soc`` is the fraction of the titration's total charge passed.
    """
    t, E, I = (np.asarray(a, dtype=float) for a in (time, voltage, current))
    if not (np.isfinite(radius) and radius > 0):
        raise LithmapError(f"radius={radius!r} is invalid; expected a positive length in m")
    if t.size < 3 or not np.all(np.isfinite(t)):
        raise LithmapError("GITT record is empty or has non-finite times")
    if np.any(np.diff(t) < 0):
        raise LithmapError("time goes backwards in the GITT record")
    imax = np.nanmax(np.abs(I))
    if not imax > 0:
        raise LithmapError("no pulses found: the current is zero throughout")
    if step is not None:
        st = np.asarray(step)
        if st.shape != t.shape:
            raise LithmapError(f"step has {st.size} values for {t.size} records")
        edges = np.flatnonzero(np.r_[True, st[1:] != st[:-1], True])
        segs = [(a, b) for a, b in zip(edges[:-1], edges[1:])
                if b - a >= 3 and np.median(np.abs(I[a:b])) > 0.05 * imax]
        what = "no step with at least 3 samples passes current above 5 % of the peak"
    else:
        on = np.abs(I) > 0.5 * imax  # robust to logged offsets and switch-on ramps
        segs = [(a, b) for a, b in _segments(on) if b - a >= 3]
        what = "no stretch of at least 3 samples above half the peak current"
    if not segs:
        raise LithmapError(f"no pulses found ({what})")
    rows = []
    charge = 0.0  # C, positive = charge (delithiation)
    charges_mid = []
    for k, (a, b) in enumerate(segs):
        ipulse = float(np.median(I[a:b]))
        full = np.flatnonzero(np.abs(I[a:b] - ipulse) <= 0.02 * abs(ipulse)) + a
        first, last = int(full[0]), int(full[-1])
        t_on, t_off = t[a], t[b - 1]
        tau = t_off - t_on
        # rest voltages are read at least 50 ms before a switch (the cell starts moving with the
        # switch-on ramp; cyclers log a few samples within milliseconds of it)
        e_before = _rest_end(t, E, I, 0, a, imax)
        nxt = segs[k + 1][0] if k + 1 < len(segs) else t.size
        rest = np.arange(b, nxt)
        rest = rest[(np.abs(I[rest]) < _REST * imax) & ((t[rest] <= t[nxt] - 0.05) if nxt < t.size else True)]
        e_after = E[rest[-1]] if rest.size else np.nan
        drift = np.nan
        if rest.size >= 2:
            tail = rest[t[rest] >= t[rest[-1]] - min(600.0, 0.25 * (t[rest[-1]] - t[rest[0]]))]
            if tail.size >= 2 and t[tail[-1]] > t[tail[0]]:
                drift = (E[tail[-1]] - E[tail[0]]) / (t[tail[-1]] - t[tail[0]]) * 3600e3  # mV/h
        ir = E[first] - e_before
        d_et = E[last] - E[first]
        d_es = e_after - e_before
        sel = np.arange(first, last + 1)
        ts = t[sel] - t_on
        w = (ts >= fit_window[0]) & (ts <= fit_window[1])
        slope = r2 = np.nan
        if w.sum() >= 3:
            x, y = np.sqrt(ts[w]), E[sel][w]
            A = np.column_stack([x, np.ones_like(x)])
            coef, *_ = np.linalg.lstsq(A, y, rcond=None)
            slope = coef[0]
            ss_res = np.sum((y - A @ coef) ** 2)
            ss_tot = np.sum((y - y.mean()) ** 2)
            r2 = 1 - ss_res / ss_tot if ss_tot > 0 else np.nan
        d_radius = 4 * radius**2 / (9 * np.pi * tau) * (d_es / d_et) ** 2
        d_sqrt = 4 * radius**2 / (9 * np.pi) * (d_es / (tau * slope)) ** 2
        d_mass = np.nan
        if None not in (mass_g, molar_mass, molar_volume, area):
            d_mass = 4 / (np.pi * tau) * (mass_g * molar_volume / (molar_mass * area)) ** 2 * (d_es / d_et) ** 2
        q_pulse = np.trapezoid(I[a:b], t[a:b])
        charges_mid.append(charge + 0.5 * q_pulse)
        charge += q_pulse
        rows.append(dict(
            t_start_s=t_on, duration_s=tau, current_A=ipulse, charge_C=q_pulse, E_before_V=e_before,
            E_after_V=e_after, ir_drop_V=ir, delta_Et_V=d_et, delta_Es_V=d_es, rest_drift_mV_h=drift,
            sqrt_slope_V_s05=slope, sqrt_r2=r2, diffusivity_m2_s=d_radius, diffusivity_sqrt_m2_s=d_sqrt,
            diffusivity_mass_m2_s=d_mass, tau_D_over_r2=tau * d_radius / radius**2,
        ))
    med_tau = np.median([r["duration_s"] for r in rows])
    for r in rows:
        flags = []
        if np.isfinite(r["rest_drift_mV_h"]) and abs(r["rest_drift_mV_h"]) > drift_limit:
            flags.append("rest_drift")
        if np.isfinite(r["tau_D_over_r2"]) and r["tau_D_over_r2"] > 0.1:
            flags.append("tau_not_short")
        if not (np.isfinite(r["sqrt_r2"]) and r["sqrt_r2"] >= 0.99):
            flags.append("poor_sqrt_fit")
        if r["duration_s"] < 0.95 * med_tau:
            flags.append("truncated")
        if not (abs(r["delta_Es_V"]) >= max(1e-3, 0.02 * abs(r["delta_Et_V"]))):
            flags.append("small_dEs")
        r["flags"] = ";".join(flags)
    n = len(rows)
    data = {k: ("pulse", np.array([r[k] for r in rows])) for k in rows[0]}
    mid = np.array(charges_mid)
    if capacity_mAh is not None:
        if not capacity_mAh > 0:
            raise LithmapError(f"capacity={capacity_mAh!r} mAh is invalid; expected a positive capacity")
        if theta_start is None or not 0 <= theta_start <= 1:
            raise LithmapError(f"theta_start={theta_start!r} is invalid; give the lithium fraction at the start (0-1)")
        data["theta"] = ("pulse", theta_start - mid / (capacity_mAh * 3.6))
    else:
        total = charge if charge != 0 else 1.0
        data["soc"] = ("pulse", mid / total)
    ds = xr.Dataset(data, coords={"pulse": np.arange(1, n + 1)})
    ds.attrs.update(
        radius_m=float(radius), fit_window_s=np.asarray(fit_window, float), drift_limit_mV_h=float(drift_limit),
        method="Weppner-Huggins 1977: radius form 4r^2/(9 pi tau)(dEs/dEt)^2 (diffusivity_m2_s), "
        "sqrt(t)-slope form, mass/molar-volume/area form",
        current_convention="positive = charge (delithiation of the cathode)",
    )
    return ds


def write_gitt_csv(ds: xr.Dataset, path) -> Path:
    """One row per pulse (or PITT step); the columns ``theta`` (or ``soc``), ``diffusivity_m2_s``
    and ``flags`` feed ``lithmap simulate --diffusivity``."""
    dim = "pulse" if "pulse" in ds.dims else "step"
    cols = [dim] + [c for c in ("theta", "soc") if c in ds] + [
        c for c in ds.data_vars if c not in ("theta", "soc", "flags")] + ["flags"]
    rows = ([ds[c].values[i] for c in cols] for i in range(ds.sizes[dim]))
    return write_table(path, cols, rows)
