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
from ..io.units import UNIT_SPELLING, optional_quantity, parse_quantity

__all__ = ["CSV_COLUMNS", "analyse_cycles", "dqdv", "segment", "write_cycles_csv"]

#: Columns of the cycles CSV table: Dataset variable → CSV column (the CSV has no attrs, so its
#: column names carry the units, as the contract fixes them).
CSV_COLUMNS = {
    "charge_capacity": "charge_capacity_mAh", "discharge_capacity": "discharge_capacity_mAh",
    "charge_cv": "charge_cv_mAh", "discharge_cv": "discharge_cv_mAh",
    "average_charge_voltage": "average_charge_voltage_V", "average_discharge_voltage": "average_discharge_voltage_V",
    "specific_charge_capacity": "charge_capacity_mAh_g", "specific_discharge_capacity": "discharge_capacity_mAh_g",
    "specific_charge_cv": "charge_cv_mAh_g", "specific_discharge_cv": "discharge_cv_mAh_g",
}


def _record(ds, what="cycler"):
    if not isinstance(ds, xr.Dataset):
        raise LithmapError(
            f"the {what} record must be an xarray Dataset (lithmap.read_cycler); got {type(ds).__name__}")
    missing = [v for v in ("time", "voltage", "current", "step", "cycle", "capacity") if v not in ds.variables]
    if missing:
        raise LithmapError(f"the {what} record lacks {missing}; read it with lithmap.read_cycler")
    return ds


def _step_kinds(ds, cv_tolerance):
    step, v, current = ds.step.values, ds.voltage.values, ds.current.values
    imax = np.max(np.abs(current)) if current.size else 0.0
    kind = np.zeros(step.size, dtype="<U4")
    bounds = np.flatnonzero(np.diff(step) != 0) + 1
    for a, b in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [step.size]])):
        seg_i, seg_v = current[a:b], v[a:b]
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


def segment(record: xr.Dataset, *, cv_tolerance=2e-3) -> xr.DataArray:
    """Label every record ``cc_charge``, ``cc_discharge``, ``cv_charge``, ``cv_discharge`` or ``rest``.

    A protocol step (the record's ``step``) is a rest when its |current| stays below 0.1 % of the
    largest; within a current step, the records from where the voltage reaches the step's
    extreme (within ``cv_tolerance``) and the current has fallen below 95 % of its peak are CV.

    Parameters
    ----------
    record : xarray.Dataset
        A :func:`lithmap.read_cycler` record.
    cv_tolerance : float or str
        How close to the step's extreme voltage a CV hold stays, in V or as a quantity string.

    Returns
    -------
    xarray.DataArray
        Strings on the record's dim, named ``segment``.

    Examples
    --------
    >>> import lithmap
    >>> seg = lithmap.segment(lithmap.read_cycler(lithmap.example_file("test.ndax")))
    >>> sorted(set(seg.values.tolist()))
    ['cc_charge', 'cc_discharge', 'cv_charge', 'cv_discharge', 'rest']
    """
    ds = _record(record)
    kind = _step_kinds(ds, parse_quantity(cv_tolerance, "V", name="cv_tolerance"))
    current = ds.current.values
    label = np.where(kind == "rest", "rest", np.where(kind == "cv", "cv_", "cc_"))
    label = np.where(label == "rest", label,
                     np.char.add(label.astype("<U12"), np.where(current >= 0, "charge", "discharge")))
    return xr.DataArray(label.astype(str), dims=ds.current.dims, name="segment")


def dqdv(record: xr.Dataset, cycle: int, *, direction: str = "discharge", bin_width=5e-3) -> xr.DataArray:
    """Differential capacity dQ/dV of one cycle's charge or discharge.

    Capacity increments are summed in voltage bins of ``bin_width`` and divided by the bin width.

    Parameters
    ----------
    record : xarray.Dataset
        A :func:`lithmap.read_cycler` record.
    cycle : int
        The cycle (the record's ``cycle`` numbering, 1-based).
    direction : {"discharge", "charge"}
        Which half of the cycle.
    bin_width : float or str
        Voltage bin width, in V or as a quantity string (``"5mV"``).

    Returns
    -------
    xarray.DataArray
        ``dqdv`` (mA h / V) on dim ``voltage`` (bin centres, V); attrs ``cycle``, ``direction``.

    Examples
    --------
    >>> import lithmap
    >>> curve = lithmap.dqdv(lithmap.read_cycler(lithmap.example_file("test.ndax")), 1, direction="charge")
    >>> curve.attrs["units"], curve.voltage.attrs["units"]
    ('mA h / V', 'V')
    >>> round(float(curve.sum()) * 5e-3, 4)  # the integral: the cycle's charge capacity, mA h
    0.5928
    """
    ds = _record(record)
    if direction not in ("charge", "discharge"):
        raise LithmapError(f"direction={direction!r} is invalid; expected one of ['charge', 'discharge']")
    bin_width = parse_quantity(bin_width, "V", name="bin_width")
    if not bin_width > 0:
        raise LithmapError(f"bin_width={bin_width!r} is invalid; expected a positive voltage")
    q = ds.capacity.values
    dq = np.diff(q, prepend=q[0])
    m = (ds.cycle.values == cycle) & ((dq > 0) if direction == "charge" else (dq < 0))
    if not m.any():
        raise LithmapError(f"cycle {cycle!r} has no {direction} in this record")
    v = ds.voltage.values[m]
    edges = np.arange(np.floor(v.min() / bin_width) * bin_width, v.max() + 2 * bin_width, bin_width)
    sums = np.histogram(v, bins=edges, weights=np.abs(dq[m]))[0]
    centres = 0.5 * (edges[1:] + edges[:-1])
    return xr.DataArray(sums / bin_width, dims="voltage",
                        coords={"voltage": ("voltage", centres, {"units": UNIT_SPELLING["voltage"]})},
                        name="dqdv", attrs={"units": "mA h / V", "cycle": int(cycle), "direction": direction})


def analyse_cycles(record: xr.Dataset, *, mass=None, specific_capacity=None, cv_tolerance=2e-3) -> xr.Dataset:
    """Per-cycle capacities, CV parts, coulombic efficiencies and average voltages.

    Parameters
    ----------
    record : xarray.Dataset
        A :func:`lithmap.read_cycler` record.
    mass : float or str, optional
        Active mass, in kg or as a quantity string (``"5mg"``); defaults to the record's
        ``mass`` attr (``read_cycler(..., mass=...)``). Adds the specific (mA h / g) variables.
    specific_capacity : float or str, optional
        Practical specific capacity for the C-rate, in C/kg or as a quantity string
        (``"210mAh/g"``); needs a mass. Adds ``charge_c_rate`` and ``discharge_c_rate`` (the
        median |current| of each cycle's CC part over 1C = mass × specific capacity per hour).
    cv_tolerance : float or str
        See :func:`segment` (V or a quantity string).

    Returns
    -------
    xarray.Dataset
        On dim ``cycle``: ``charge_capacity``, ``discharge_capacity``, ``charge_cv``,
        ``discharge_cv`` (mA h), ``average_charge_voltage``, ``average_discharge_voltage`` (V),
        ``coulombic_efficiency``, ``coulombic_efficiency_cc`` and, with a mass,
        ``specific_charge_capacity``, ``specific_discharge_capacity``, ``specific_charge_cv``,
        ``specific_discharge_cv`` (mA h / g); units in ``units`` attrs. :func:`write_cycles_csv`
        writes it with the contract's column names (:data:`CSV_COLUMNS`).

    Examples
    --------
    >>> import lithmap
    >>> rec = lithmap.read_cycler(lithmap.example_file("test.ndax"), mass="5mg")
    >>> res = lithmap.analyse_cycles(rec, specific_capacity="170mAh/g")
    >>> round(float(res.charge_capacity[0]), 4), res.charge_capacity.attrs["units"]
    (0.5928, 'mA h')
    >>> round(float(res.specific_discharge_capacity[0]), 1), round(float(res.coulombic_efficiency[0]), 3)
    (125.3, 1.057)
    """
    ds = _record(record)
    mass = optional_quantity(mass, "kg", name="mass", positive=True)
    if mass is None and np.isfinite(ds.attrs.get("mass", np.nan)):
        mass = float(ds.attrs["mass"])
    specific_capacity = optional_quantity(specific_capacity, "C/kg", name="specific_capacity", positive=True)
    if specific_capacity is not None and mass is None:
        raise LithmapError("a C-rate needs the active mass (mass=..., 1C = mass x specific capacity in one hour)")
    cv_tolerance = parse_quantity(cv_tolerance, "V", name="cv_tolerance")
    q = ds.capacity.values
    dq = np.diff(q, prepend=q[0])
    kind = _step_kinds(ds, cv_tolerance)
    v = ds.voltage.values
    vmid = np.concatenate([[v[0]], 0.5 * (v[1:] + v[:-1])])
    cycles = np.unique(ds.cycle.values)
    out = {k: [] for k in ("charge_capacity", "discharge_capacity", "charge_cv", "discharge_cv",
                           "average_charge_voltage", "average_discharge_voltage")}
    for c in cycles:
        m = ds.cycle.values == c
        ch, dis = m & (dq > 0), m & (dq < 0)
        out["charge_capacity"].append(dq[ch].sum())
        out["discharge_capacity"].append(0.0 - dq[dis].sum())
        out["charge_cv"].append(dq[ch & (kind == "cv")].sum())
        out["discharge_cv"].append(0.0 - dq[dis & (kind == "cv")].sum())
        out["average_charge_voltage"].append(np.sum(vmid[ch] * dq[ch]) / dq[ch].sum() if ch.any() else np.nan)
        out["average_discharge_voltage"].append(np.sum(vmid[dis] * dq[dis]) / dq[dis].sum() if dis.any() else np.nan)
    mah, volt = UNIT_SPELLING["capacity"], UNIT_SPELLING["voltage"]
    data = {k: ("cycle", np.array(val, float), {"units": volt if "voltage" in k else mah}) for k, val in out.items()}
    chg, dis = data["charge_capacity"][1], data["discharge_capacity"][1]
    with np.errstate(invalid="ignore", divide="ignore"):
        data["coulombic_efficiency"] = ("cycle", np.where(chg > 0, dis / chg, np.nan), {"units": "1"})
        cc_c = chg - data["charge_cv"][1]
        cc_d = dis - data["discharge_cv"][1]
        data["coulombic_efficiency_cc"] = ("cycle", np.where(cc_c > 0, cc_d / cc_c, np.nan),
                                           {"units": "1", "long_name": "coulombic efficiency of the CC parts"})
    if mass is not None:
        for k in ("charge_capacity", "discharge_capacity", "charge_cv", "discharge_cv"):
            data[f"specific_{k}"] = ("cycle", data[k][1] / (mass * 1e3), {"units": UNIT_SPELLING["specific_capacity"]})
    if specific_capacity is not None:
        one_c = specific_capacity * mass / 3600.0  # A
        current = ds.current.values
        for direction, sign in (("charge", 1), ("discharge", -1)):
            rates = []
            for c in cycles:
                sel = (ds.cycle.values == c) & (kind == "cc") & (sign * current > 0)
                rates.append(np.median(np.abs(current[sel])) / one_c if sel.any() else np.nan)
            data[f"{direction}_c_rate"] = ("cycle", np.array(rates),
                                           {"units": "1/h", "long_name": "C-rate of the CC part"})
    res = xr.Dataset(data, coords={"cycle": cycles.astype(np.int64)})
    res.attrs.update(source=ds.attrs.get("source", ""), mass=float(mass) if mass else np.nan,
                     cycle_convention="one charge then one discharge; a leading discharge forms cycle 1",
                     cv_tolerance=float(cv_tolerance))
    return res


def write_cycles_csv(res: xr.Dataset, path):
    """Write a cycles table as CSV, one row per cycle.

    Columns: ``cycle``, ``charge_capacity_mAh``, ``discharge_capacity_mAh``, ``charge_cv_mAh``,
    ``discharge_cv_mAh``, ``average_charge_voltage_V``, ``average_discharge_voltage_V``,
    ``coulombic_efficiency``, ``coulombic_efficiency_cc`` and, with a mass, the ``..._mAh_g``
    columns and C-rates (:data:`CSV_COLUMNS` maps the Dataset's names to these).

    Parameters
    ----------
    res : xarray.Dataset
        From :func:`analyse_cycles`.
    path : str or Path
        The CSV file to write (atomically).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import lithmap, tempfile, pathlib
    >>> from lithmap.io.tables import read_columns
    >>> res = lithmap.analyse_cycles(lithmap.read_cycler(lithmap.example_file("test.ndax")))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     fields, rows = read_columns(lithmap.write_cycles_csv(res, pathlib.Path(d) / "cycles.csv"))
    >>> fields[:4], rows[0]["charge_capacity_mAh"]
    (['cycle', 'charge_capacity_mAh', 'discharge_capacity_mAh', 'charge_cv_mAh'], '0.5927708333')
    """
    from ..io.tables import write_table

    names = list(res.data_vars)
    cols = ["cycle"] + [CSV_COLUMNS.get(c, c) for c in names]
    rows = ([str(int(res.cycle.values[k]))] + [res[c].values[k] for c in names] for k in range(res.sizes["cycle"]))
    return write_table(path, cols, rows)
