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
- Flags: ``rest_drift`` (end-of-rest drift above ``drift_limit``, default 5 mV/h: not at equilibrium),
  ``tau_not_short`` (τ·D/r² above 0.1: the semi-infinite assumption fails), ``poor_sqrt_fit``
  (R² below 0.99), ``truncated`` (pulse shorter than 95 % of the median, e.g. stopped by a
  voltage limit), ``small_dEs`` (|ΔEs| below 1 mV or 2 % of |ΔEt|: a two-phase plateau gives a
  false D). Empty when the pulse is sound.

Flow: raw file(s) → :func:`lithmap.read_cycler` (a cycler file, or CSV pulse files joined by
time) → :func:`analyse_gitt` (a Dataset on dim ``pulse``) → :func:`write_gitt_csv`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.tables import write_table
from ..io.units import optional_quantity, parse_quantity

__all__ = ["CSV_COLUMNS", "DRIFT_LIMIT", "analyse_gitt", "record_arrays", "write_gitt_csv"]

#: Default end-of-rest drift limit: 5 mV/h, in V/s.
DRIFT_LIMIT = 5e-3 / 3600

#: Columns of the GITT/PITT CSV table: Dataset variable → (CSV column, factor from the
#: Dataset's SI unit to the column's). The CSV has no attrs, so its column names carry the units.
CSV_COLUMNS = {
    "t_start": ("t_start_s", 1.0), "duration": ("duration_s", 1.0), "current": ("current_A", 1.0),
    "charge": ("charge_C", 1.0), "E_before": ("E_before_V", 1.0), "E_after": ("E_after_V", 1.0),
    "ir_drop": ("ir_drop_V", 1.0), "delta_Et": ("delta_Et_V", 1.0), "delta_Es": ("delta_Es_V", 1.0),
    "rest_drift": ("rest_drift_mV_h", 3600e3), "sqrt_slope": ("sqrt_slope_V_s05", 1.0),
    "voltage": ("voltage_V", 1.0),
}

_UNITS = {
    "t_start": "s", "duration": "s", "current": "A", "charge": "C", "E_before": "V", "E_after": "V",
    "ir_drop": "V", "delta_Et": "V", "delta_Es": "V", "rest_drift": "V/s", "sqrt_slope": "V/s^0.5",
    "diffusivity_m2_s": "m^2/s", "diffusivity_sqrt_m2_s": "m^2/s", "diffusivity_mass_m2_s": "m^2/s",
    "voltage": "V", "diffusivity_cottrell_m2_s": "m^2/s", "theta": "1", "soc": "1", "tau_D_over_r2": "1",
}


def record_arrays(record, voltage: str = "voltage", *, what: str = "GITT"):
    """``time``, ``voltage`` and ``current`` of a record (a :func:`lithmap.read_cycler` Dataset or
    any Dataset with those 1-D variables) as float arrays; a one-line error when one is missing.

    >>> import xarray as xr
    >>> t, v, i = record_arrays(xr.Dataset({"time": ("record", [0, 1.0]), "voltage": ("record", [3.7, 3.8]),
    ...                                     "current": ("record", [1e-3, 1e-3])}))
    >>> v.tolist()
    [3.7, 3.8]
    >>> record_arrays(xr.Dataset({"time": ("record", [0, 1.0])}))
    Traceback (most recent call last):
    lithmap.errors.LithmapError: the GITT record lacks the variable 'voltage'; found ['time']
    """
    if not isinstance(record, xr.Dataset):
        raise LithmapError(
            f"the {what} record must be an xarray Dataset (lithmap.read_cycler); got {type(record).__name__}")
    out = []
    for name in ("time", voltage, "current"):
        if name not in record.variables:
            raise LithmapError(
                f"the {what} record lacks the variable {name!r}; found {sorted(map(str, record.variables))}")
        if record[name].ndim != 1:
            raise LithmapError(f"the {what} record's {name!r} has dims {record[name].dims}; expected one dim")
        out.append(np.asarray(record[name].values, dtype=float))
    if not out[0].shape == out[1].shape == out[2].shape:
        raise LithmapError(f"the {what} record's time, {voltage!r} and current differ in length")
    return tuple(out)


def _segments(mask):
    """(start, stop) index pairs of runs of True."""
    d = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


_REST = 0.02  # a rest sample passes less than 2 % of the peak current (cyclers log offsets, never 0 A)


def _rest_end(t, E, current, lo, a, imax):
    """Voltage of the last rest sample in [lo, a) at least 50 ms before t[a] (NaN if none)."""
    idx = np.arange(lo, a)
    idx = idx[(np.abs(current[idx]) < _REST * imax) & (t[idx] <= t[a] - 0.05)]
    return E[idx[-1]] if idx.size else np.nan


def analyse_gitt(
    record: xr.Dataset,
    *,
    radius,
    voltage: str = "voltage",
    fit_window=(2.0, 60.0),
    drift_limit=DRIFT_LIMIT,
    capacity=None,
    theta_start: float | None = None,
    mass=None,
    molar_mass=None,
    molar_volume=None,
    area=None,
) -> xr.Dataset:
    """Weppner–Huggins diffusivity of every GITT pulse, with quality flags (see the module docstring).

    Pulses are found from the record's step index when it has one that changes (each step whose
    median |current| exceeds 5 % of the peak is a pulse, so pulses of different currents and
    noisy or ramped logs are all found), else from the current level alone (above half the peak
    current: robust to logged offsets and switch-on ramps, but it assumes one pulse current).

    Parameters
    ----------
    record : xarray.Dataset
        A :func:`lithmap.read_cycler` record: 1-D ``time`` (s), ``voltage`` (V) and ``current``
        (A, + = charge); ``step`` is used when present and not constant.
    radius : float or str
        Particle radius, in m or as a quantity string (``"5.22um"``).
    voltage : str
        The record's variable holding the electrode voltage (default ``"voltage"``).
    fit_window : (float or str, float or str)
        The √t fit window after switch-on, in s or as quantity strings (``("2s", "1min")``).
    drift_limit : float or str
        End-of-rest drift above which a pulse is flagged ``rest_drift``, in V/s or as a
        quantity string (default :data:`DRIFT_LIMIT`, 5 mV/h).
    capacity : float or str, optional
        Cell capacity for coulomb counting, in C or as a quantity string (``"4.6mAh"``); with
        ``theta_start`` gives ``theta`` at each pulse midpoint (charge lowers θ). Without it the
        result has ``soc``: the fraction of the titration's total charge passed.
    theta_start : float, optional
        Lithium fraction at the start of the record (0–1), with ``capacity``.
    mass, molar_mass, molar_volume, area : float or str, optional
        For the mass form of D: active mass (kg), molar mass (kg/mol), molar volume
        (m^3/mol), electrode–electrolyte area (m^2); SI or quantity strings.

    Returns
    -------
    xarray.Dataset
        On dim ``pulse`` (1-based): ``t_start``, ``duration`` (s), ``current`` (A), ``charge``
        (C), ``E_before``, ``E_after``, ``ir_drop``, ``delta_Et``, ``delta_Es`` (V),
        ``rest_drift`` (V/s), ``sqrt_slope`` (V/s^0.5), ``sqrt_r2``, ``diffusivity_m2_s``
        (radius form), ``diffusivity_sqrt_m2_s``, ``diffusivity_mass_m2_s`` (m^2/s),
        ``tau_D_over_r2``, ``flags`` (";"-joined, empty when sound) and ``theta`` or ``soc``;
        units in each variable's ``units`` attr.

    Examples
    --------
    >>> import lithmap
    >>> pulses = [lithmap.example_file(f"gitt_pulse_{k}.csv") for k in range(1, 7)]
    >>> g = lithmap.analyse_gitt(lithmap.read_cycler(pulses), radius="5.22um")
    >>> g.sizes["pulse"], g.diffusivity_m2_s.attrs["units"]
    (6, 'm^2/s')
    >>> bool(1e-17 < g.diffusivity_m2_s.median() < 1e-14)
    True
    """
    t, E, cur = record_arrays(record, voltage, what="GITT")
    given, radius = radius, parse_quantity(radius, "m", name="radius")
    if not radius > 0:
        raise LithmapError(f"radius={given!r} is invalid; expected a positive length in m")
    fit_window = tuple(parse_quantity(w, "s", name="fit_window") for w in fit_window)
    drift_limit = parse_quantity(drift_limit, "V/s", name="drift_limit")
    cap = optional_quantity(capacity, "C", name="capacity", positive=True)
    mass, molar_mass, molar_volume, area = (
        optional_quantity(v, u, name=n, positive=True) for v, u, n in (
            (mass, "kg", "mass"), (molar_mass, "kg/mol", "molar_mass"), (molar_volume, "m^3/mol", "molar_volume"),
            (area, "m^2", "area")))
    step = None
    if "step" in record.variables:
        st = np.asarray(record["step"].values)
        if st.shape != t.shape:
            raise LithmapError(f"step has {st.size} values for {t.size} records")
        if np.unique(st).size > 1:
            step = st
    if t.size < 3 or not np.all(np.isfinite(t)):
        raise LithmapError("GITT record is empty or has non-finite times")
    if np.any(np.diff(t) < 0):
        raise LithmapError("time goes backwards in the GITT record")
    imax = np.nanmax(np.abs(cur))
    if not imax > 0:
        raise LithmapError("no pulses found: the current is zero throughout")
    if step is not None:
        edges = np.flatnonzero(np.r_[True, step[1:] != step[:-1], True])
        segs = [(a, b) for a, b in zip(edges[:-1], edges[1:])
                if b - a >= 3 and np.median(np.abs(cur[a:b])) > 0.05 * imax]
        what = "no step with at least 3 samples passes current above 5 % of the peak"
    else:
        on = np.abs(cur) > 0.5 * imax  # robust to logged offsets and switch-on ramps
        segs = [(a, b) for a, b in _segments(on) if b - a >= 3]
        what = "no stretch of at least 3 samples above half the peak current"
    if not segs:
        raise LithmapError(f"no pulses found ({what})")
    rows = []
    charge = 0.0  # C, positive = charge (delithiation)
    charges_mid = []
    for k, (a, b) in enumerate(segs):
        ipulse = float(np.median(cur[a:b]))
        full = np.flatnonzero(np.abs(cur[a:b] - ipulse) <= 0.02 * abs(ipulse)) + a
        first, last = int(full[0]), int(full[-1])
        t_on, t_off = t[a], t[b - 1]
        tau = t_off - t_on
        # rest voltages are read at least 50 ms before a switch (the cell starts moving with the
        # switch-on ramp; cyclers log a few samples within milliseconds of it)
        e_before = _rest_end(t, E, cur, 0, a, imax)
        nxt = segs[k + 1][0] if k + 1 < len(segs) else t.size
        rest = np.arange(b, nxt)
        rest = rest[(np.abs(cur[rest]) < _REST * imax) & ((t[rest] <= t[nxt] - 0.05) if nxt < t.size else True)]
        e_after = E[rest[-1]] if rest.size else np.nan
        drift = np.nan
        if rest.size >= 2:
            tail = rest[t[rest] >= t[rest[-1]] - min(600.0, 0.25 * (t[rest[-1]] - t[rest[0]]))]
            if tail.size >= 2 and t[tail[-1]] > t[tail[0]]:
                drift = (E[tail[-1]] - E[tail[0]]) / (t[tail[-1]] - t[tail[0]])  # V/s
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
        if None not in (mass, molar_mass, molar_volume, area):
            d_mass = 4 / (np.pi * tau) * (mass * molar_volume / (molar_mass * area)) ** 2 * (d_es / d_et) ** 2
        q_pulse = np.trapezoid(cur[a:b], t[a:b])
        charges_mid.append(charge + 0.5 * q_pulse)
        charge += q_pulse
        rows.append(dict(
            t_start=t_on, duration=tau, current=ipulse, charge=q_pulse, E_before=e_before,
            E_after=e_after, ir_drop=ir, delta_Et=d_et, delta_Es=d_es, rest_drift=drift,
            sqrt_slope=slope, sqrt_r2=r2, diffusivity_m2_s=d_radius, diffusivity_sqrt_m2_s=d_sqrt,
            diffusivity_mass_m2_s=d_mass, tau_D_over_r2=tau * d_radius / radius**2,
        ))
    med_tau = np.median([r["duration"] for r in rows])
    for r in rows:
        flags = []
        if np.isfinite(r["rest_drift"]) and abs(r["rest_drift"]) > drift_limit:
            flags.append("rest_drift")
        if np.isfinite(r["tau_D_over_r2"]) and r["tau_D_over_r2"] > 0.1:
            flags.append("tau_not_short")
        if not (np.isfinite(r["sqrt_r2"]) and r["sqrt_r2"] >= 0.99):
            flags.append("poor_sqrt_fit")
        if r["duration"] < 0.95 * med_tau:
            flags.append("truncated")
        if not (abs(r["delta_Es"]) >= max(1e-3, 0.02 * abs(r["delta_Et"]))):
            flags.append("small_dEs")
        r["flags"] = ";".join(flags)
    n = len(rows)
    data = {k: ("pulse", np.array([r[k] for r in rows])) for k in rows[0]}
    mid = np.array(charges_mid)
    if cap is not None:
        if theta_start is None or not 0 <= theta_start <= 1:
            raise LithmapError(f"theta_start={theta_start!r} is invalid; give the lithium fraction at the start (0-1)")
        data["theta"] = ("pulse", theta_start - mid / cap)
    else:
        total = charge if charge != 0 else 1.0
        data["soc"] = ("pulse", mid / total)
    ds = xr.Dataset(data, coords={"pulse": np.arange(1, n + 1)})
    _label(ds)
    ds.attrs.update(
        radius=float(radius), fit_window=np.asarray(fit_window, float), drift_limit=float(drift_limit),
        method="Weppner-Huggins 1977: radius form 4r^2/(9 pi tau)(dEs/dEt)^2 (diffusivity_m2_s), "
        "sqrt(t)-slope form, mass/molar-volume/area form",
        current_convention="positive = charge (delithiation of the cathode)",
        source=str(record.attrs.get("source", "")),
    )
    return ds


def _label(ds):
    """``units`` attrs on a GITT/PITT table's variables (SI)."""
    for name, unit in _UNITS.items():
        if name in ds:
            ds[name].attrs["units"] = unit


def write_gitt_csv(ds: xr.Dataset, path) -> Path:
    """Write a GITT (or PITT) table as CSV, one row per pulse (or potential step).

    The columns are the table's variables; those whose Dataset names carry no unit get it in the
    column name (:data:`CSV_COLUMNS`: ``duration`` → ``duration_s``, ``rest_drift`` (V/s) →
    ``rest_drift_mV_h``, ...). ``theta`` (or ``soc``), ``diffusivity_m2_s`` and ``flags`` feed
    ``lithmap simulate --diffusivity``.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`analyse_gitt` (dim ``pulse``) or :func:`lithmap.analyse_pitt` (dim ``step``).
    path : str or Path
        The CSV file to write (atomically).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import lithmap, tempfile, pathlib
    >>> from lithmap.io.tables import read_columns
    >>> pulses = [lithmap.example_file(f"gitt_pulse_{k}.csv") for k in range(1, 7)]
    >>> g = lithmap.analyse_gitt(lithmap.read_cycler(pulses), radius="5.22um")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     fields, rows = read_columns(lithmap.write_gitt_csv(g, pathlib.Path(d) / "gitt.csv"))
    >>> fields[:4], len(rows)
    (['pulse', 'soc', 't_start_s', 'duration_s'], 6)
    """
    dim = "pulse" if "pulse" in ds.dims else "step"
    names = [dim] + [c for c in ("theta", "soc") if c in ds] + [
        c for c in ds.data_vars if c not in ("theta", "soc", "flags")] + ["flags"]
    header = [CSV_COLUMNS.get(c, (c, 1.0))[0] for c in names]
    columns = []
    for c in names:
        values = ds[c].values
        scale = CSV_COLUMNS.get(c, (c, 1.0))[1]
        columns.append(values * scale if scale != 1.0 else values)
    rows = ([col[i] for col in columns] for i in range(ds.sizes[dim]))
    return write_table(path, header, rows)
