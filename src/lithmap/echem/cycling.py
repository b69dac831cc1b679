"""Per-cycle capacities, the CV parts, coulombic efficiency and average voltages.

A cycle is one charge followed by one discharge (a leading discharge forms cycle 1), unless
the file numbers its cycles. Capacities are increments of the record's cumulative charge:
positive increments are charge, negative discharge. A protocol step (the file's step index)
is a rest when |current| is below 0.1 % of the largest; within a current step, the records from
where the voltage reaches the step's extreme (within ``cv_tolerance``, V) and the current has
fallen below 95 % of its peak are the CV part (this finds CV phases in combined CCCV steps too).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LithmapError


def _step_kinds(ds, cv_tolerance):
    step, v, i = ds.step.values, ds.voltage.values, ds.current.values
    imax = np.max(np.abs(i)) if i.size else 0.0
    kind = np.zeros(step.size, dtype="<U4")
    bounds = np.flatnonzero(np.diff(step) != 0) + 1
    for a, b in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [step.size]])):
        seg_i, seg_v = i[a:b], v[a:b]
        if imax == 0 or np.max(np.abs(seg_i)) < 1e-3 * imax:
            kind[a:b] = "rest"
        else:
            # CV records: from where the voltage reaches the step's extreme (within tolerance)
            # and the current has fallen below 95 % of its peak — also inside combined CCCV steps
            charge = np.sum(seg_i) > 0
            v_ext = seg_v.max() if charge else seg_v.min()
            peak = np.max(np.abs(seg_i))
            at = (np.abs(seg_v - v_ext) < cv_tolerance) & (np.abs(seg_i) < 0.95 * peak)
            kind[a:b] = "cc"
            if at.any():
                start = int(np.flatnonzero(at)[0])
                tail = np.abs(seg_v[start:] - v_ext) < cv_tolerance
                if tail.mean() > 0.9 and b - a - start >= 3:
                    kind[a + start : b] = "cv"
    return kind


def segment(ds: xr.Dataset, *, cv_tolerance: float = 2e-3) -> xr.DataArray:
    """Label every record ``cc_charge``, ``cc_discharge``, ``cv_charge``, ``cv_discharge`` or ``rest``."""
    kind = _step_kinds(ds, cv_tolerance)
    i = ds.current.values
    label = np.where(kind == "rest", "rest", np.where(kind == "cv", "cv_", "cc_"))
    label = np.where(label == "rest", label, np.char.add(label.astype("<U12"), np.where(i >= 0, "charge", "discharge")))
    return xr.DataArray(label.astype(str), dims="record", name="segment")


def dqdv(ds: xr.Dataset, cycle: int, *, direction: str = "discharge", bin_width: float = 5e-3) -> xr.DataArray:
    """Differential capacity dQ/dV (mAh/V) of one cycle's charge or discharge, on voltage bins
    of ``bin_width`` V (capacity increments summed per bin, divided by the bin width)."""
    if direction not in ("charge", "discharge"):
        raise LithmapError(f"direction={direction!r} is invalid; expected one of ['charge', 'discharge']")
    q = ds.capacity.values
    dq = np.diff(q, prepend=q[0])
    m = (ds.cycle.values == cycle) & ((dq > 0) if direction == "charge" else (dq < 0))
    if not m.any():
        raise LithmapError(f"cycle {cycle!r} has no {direction} in this record")
    v = ds.voltage.values[m]
    edges = np.arange(np.floor(v.min() / bin_width) * bin_width, v.max() + 2 * bin_width, bin_width)
    sums = np.histogram(v, bins=edges, weights=np.abs(dq[m]))[0]
    centres = 0.5 * (edges[1:] + edges[:-1])
    return xr.DataArray(sums / bin_width, dims="voltage", coords={"voltage": ("voltage", centres, {"units": "V"})},
                        name="dqdv", attrs={"units": "mA h / V", "cycle": int(cycle), "direction": direction})


def analyse_cycles(ds: xr.Dataset, *, mass_mg: float | None = None, cv_tolerance: float = 2e-3,
                   specific_capacity: float | None = None) -> xr.Dataset:
    """Per-cycle table (dim ``cycle``) from a :func:`lithmap.io.cycler.read_cycler` record.

    With ``mass_mg`` the mAh/g columns are added; with ``specific_capacity`` (mAh/g, e.g. seed1's
    practical 210) too, the C-rate of each cycle's CC charge and discharge (1C = mass × capacity
    in one hour)."""
    if mass_mg is not None and not (np.isfinite(mass_mg) and mass_mg > 0):
        raise LithmapError(f"mass={mass_mg!r} mg is invalid; expected a positive active mass")
    q = ds.capacity.values
    dq = np.diff(q, prepend=q[0])
    kind = _step_kinds(ds, cv_tolerance)
    v = ds.voltage.values
    vmid = np.concatenate([[v[0]], 0.5 * (v[1:] + v[:-1])])
    cycles = np.unique(ds.cycle.values)
    out = {k: [] for k in ("charge_capacity_mAh", "discharge_capacity_mAh", "charge_cv_mAh", "discharge_cv_mAh",
                           "average_charge_voltage_V", "average_discharge_voltage_V")}
    for c in cycles:
        m = ds.cycle.values == c
        ch, dis = m & (dq > 0), m & (dq < 0)
        out["charge_capacity_mAh"].append(dq[ch].sum())
        out["discharge_capacity_mAh"].append(0.0 - dq[dis].sum())
        out["charge_cv_mAh"].append(dq[ch & (kind == "cv")].sum())
        out["discharge_cv_mAh"].append(0.0 - dq[dis & (kind == "cv")].sum())
        out["average_charge_voltage_V"].append(np.sum(vmid[ch] * dq[ch]) / dq[ch].sum() if ch.any() else np.nan)
        out["average_discharge_voltage_V"].append(np.sum(vmid[dis] * dq[dis]) / dq[dis].sum() if dis.any() else np.nan)
    data = {k: ("cycle", np.array(v, float)) for k, v in out.items()}
    chg, dis = data["charge_capacity_mAh"][1], data["discharge_capacity_mAh"][1]
    with np.errstate(invalid="ignore", divide="ignore"):
        data["coulombic_efficiency"] = ("cycle", np.where(chg > 0, dis / chg, np.nan))
        cc_c = chg - data["charge_cv_mAh"][1]
        cc_d = dis - data["discharge_cv_mAh"][1]
        data["coulombic_efficiency_cc"] = ("cycle", np.where(cc_c > 0, cc_d / cc_c, np.nan))
    if mass_mg is not None:
        for k in ("charge_capacity", "discharge_capacity", "charge_cv", "discharge_cv"):
            key = f"{k}_mAh" if k.endswith("capacity") else f"{k}_mAh"
            data[f"{k}_mAh_g"] = ("cycle", data[key][1] / (mass_mg * 1e-3))
    if specific_capacity is not None:
        if mass_mg is None or not specific_capacity > 0:
            raise LithmapError("a C-rate needs a positive specific capacity (mAh/g) and the active mass")
        one_c = specific_capacity * mass_mg * 1e-3 * 1e-3  # A
        i = ds.current.values
        for direction, sign in (("charge", 1), ("discharge", -1)):
            rates = []
            for c in cycles:
                sel = (ds.cycle.values == c) & (kind == "cc") & (sign * i > 0)
                rates.append(np.median(np.abs(i[sel])) / one_c if sel.any() else np.nan)
            data[f"{direction}_c_rate"] = ("cycle", np.array(rates))
    res = xr.Dataset(data, coords={"cycle": cycles.astype(np.int64)})
    res.attrs.update(source=ds.attrs.get("source", ""), mass_mg=float(mass_mg) if mass_mg else np.nan,
                     cycle_convention="one charge then one discharge; a leading discharge forms cycle 1",
                     cv_tolerance_V=float(cv_tolerance))
    return res


def write_cycles_csv(res: xr.Dataset, path):
    """One row per cycle: ``cycle``, ``charge_capacity_mAh``, ``discharge_capacity_mAh``,
    ``coulombic_efficiency``, the CV parts and, with a mass, the mAh/g columns."""
    from ..io.tables import write_table

    cols = ["cycle"] + list(res.data_vars)
    rows = ([str(int(res.cycle.values[k]))] + [res[c].values[k] for c in cols[1:]] for k in range(res.sizes["cycle"]))
    return write_table(path, cols, rows)
