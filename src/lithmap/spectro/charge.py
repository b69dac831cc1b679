"""Charge balance: the capacity implied by a change of oxidation state (Liu, Zeng et al., Nat.
Nanotechnol. 2024: 39 mA h/g of irreversible Ni/Co redox).

A change Δv_i of the mean valence of element i, present x_i times per formula unit of molar
mass M, moves Σ_i x_i·Δv_i electrons per formula unit, i.e. a specific charge

    Q = F · Σ_i x_i · Δv_i / M      (C/kg;  mA h/g = C/g / 3.6)

Sign convention: oxidation (valence up, as on charge, Li extracted) gives a positive capacity;
reduction (discharge) a negative one. Oxygen counts like any element (O²⁻ → O⁻: Δv = +1 per O).
Molar masses are xraydb's atomic masses. Capacities carry the ``units`` attr ``"mA h / g"``.

:func:`parse_valences` reads the valences as ``lithmap charge`` takes them (``EL=VALENCE`` or
``EL=lcf.nc``, the ``mean_valence`` map of an LCF result); :func:`charge_balance` takes those
strings too.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.units import UNIT_SPELLING
from .composition import LRTMO, molar_mass, parse_formula

FARADAY = 96485.33212  # C/mol
_CAPACITY_UNIT = UNIT_SPELLING["specific_capacity"]  # "mA h / g"


def valence_capacity(delta_valence: Mapping[str, float], formula: str | Mapping[str, float] = LRTMO) -> float:
    """Specific capacity in mA h/g moved by mean valence changes ``{element: Δv}`` in ``formula``.

    Parameters
    ----------
    delta_valence : mapping element → float
        The change of each element's mean oxidation state (positive: oxidation).
    formula : str or mapping
        The composition (default Li1.2Mn0.56Ni0.16Co0.08O2).

    Returns
    -------
    float
        mA h/g (1 mA h/g = 3.6 C/g); positive for oxidation (charge).

    Examples
    --------
    >>> round(valence_capacity({"Ni": 2.0, "Co": 1.0}), 1)  # Ni2+→Ni4+, Co3+→Co4+ in Li1.2Mn0.56Ni0.16Co0.08O2
    125.8
    """
    comp = parse_formula(formula) if isinstance(formula, str) else dict(formula)
    if not isinstance(delta_valence, Mapping) or not delta_valence:
        raise LithmapError("give the valence changes as a mapping element → Δv, e.g. {'Ni': 2.0}")
    electrons = 0.0
    for el, dv in delta_valence.items():
        if el not in comp:
            raise LithmapError(f"element {el!r} is not in the formula {formula!r}")
        dv = float(dv)
        if not np.isfinite(dv):
            raise LithmapError(f"valence change of {el} is {dv!r}; it must be a finite number")
        electrons += comp[el] * dv
    return FARADAY * electrons / molar_mass(comp) / 3.6e3  # C/kg → mA h/g (1 mA h/g = 3.6 C/g = 3600 C/kg)


def _mean_valence(el, v, mask):
    a = v.values if isinstance(v, xr.DataArray) else np.asarray(v, float)
    a = np.asarray(a, float)
    if mask is not None and a.ndim:
        m = np.asarray(mask, bool)
        if a.shape[-m.ndim:] != m.shape:
            raise LithmapError(f"valence map of {el} has shape {a.shape}, the mask {m.shape}")
        a = a[..., m]
    a = a[np.isfinite(a)]
    if a.size == 0:
        raise LithmapError(f"the valence of {el} has no finite value{' inside the mask' if mask is not None else ''}")
    return float(a.mean())


def charge_balance(before: Mapping, after: Mapping, formula: str | Mapping[str, float] = LRTMO, *,
                   mask=None) -> xr.Dataset:
    """Capacity implied by the change of mean oxidation state between two states.

    Parameters
    ----------
    before, after : mapping element → valence, or sequence of str
        Each valence a number or a map (array or DataArray, e.g. ``mean_valence`` of
        ``lithmap lcf``); maps are averaged over ``mask`` (or all finite pixels) — an
        unweighted mean, which equals the particle's mean valence when the element's density is
        uniform. Both need the same elements, all in ``formula``. Strings ``"EL=VALENCE"`` or
        ``"EL=lcf.nc"`` are read by :func:`parse_valences`.
    formula : str or mapping
        The composition (default Li1.2Mn0.56Ni0.16Co0.08O2).
    mask : array_like of bool, optional
        Pixels/voxels to average.

    Returns
    -------
    xarray.Dataset
        On dim ``element``: ``valence_before``, ``valence_after``, ``valence_change`` (after −
        before), ``electrons`` (x·Δv per formula unit) and ``capacity`` (mA h/g); scalars
        ``total_capacity`` (mA h/g; positive = oxidation = charge) and ``total_electrons``;
        attrs ``formula`` and ``molar_mass`` (kg/mol).

    Examples
    --------
    >>> ds = charge_balance({"Ni": 2.0, "Co": 3.0}, {"Ni": 4.0, "Co": 4.0})
    >>> round(float(ds["total_capacity"]), 1), ds["total_capacity"].attrs["units"]
    (125.8, 'mA h / g')
    >>> round(float(charge_balance(["Ni=2"], ["Ni=3.5"])["total_capacity"]), 1)
    75.5
    """
    if before is not None and not isinstance(before, Mapping):
        before = parse_valences(before, "before")
    if after is not None and not isinstance(after, Mapping):
        after = parse_valences(after, "after")
    comp = parse_formula(formula) if isinstance(formula, str) else dict(formula)
    if not isinstance(before, Mapping) or not isinstance(after, Mapping) or not before:
        raise LithmapError("give before and after as mappings element → valence (number or map)")
    if set(before) != set(after):
        raise LithmapError(f"before has elements {sorted(before)}, after {sorted(after)}; give the same")
    elements = list(before)
    for el in elements:
        if el not in comp:
            raise LithmapError(f"element {el!r} is not in the formula {formula!r}")
    vb = np.array([_mean_valence(el, before[el], mask) for el in elements])
    va = np.array([_mean_valence(el, after[el], mask) for el in elements])
    dv = va - vb
    x = np.array([comp[el] for el in elements])
    M = molar_mass(comp)
    per = FARADAY * x * dv / M / 3.6e3
    return xr.Dataset(
        {
            "valence_before": ("element", vb, {"long_name": "mean oxidation state before", "units": "1"}),
            "valence_after": ("element", va, {"long_name": "mean oxidation state after", "units": "1"}),
            "valence_change": ("element", dv, {"long_name": "after - before (positive = oxidation)", "units": "1"}),
            "electrons": ("element", x * dv, {"long_name": "electrons per formula unit", "units": "1"}),
            "capacity": ("element", per, {"long_name": "specific capacity from this element's redox",
                                          "units": _CAPACITY_UNIT}),
            "total_capacity": ((), float(per.sum()), {"long_name": "specific capacity (positive = oxidation/charge)",
                                                       "units": _CAPACITY_UNIT}),
            "total_electrons": ((), float((x * dv).sum()), {"long_name": "electrons per formula unit", "units": "1"}),
        },
        coords={"element": elements},
        attrs={"formula": formula if isinstance(formula, str) else str(comp), "molar_mass": M,
               "model": "Q = F * sum(x_i * dv_i) / M_formula; 1 mA h / g = 3.6 C/g"},
    )


def parse_valences(items, what: str = "valence") -> dict:
    """Valences as ``lithmap charge`` takes them: ``EL=VALENCE`` or ``EL=FILE``.

    Parameters
    ----------
    items : str or sequence of str
        ``"Ni=2"`` (a number) or ``"Ni=lcf.nc"`` (the ``mean_valence`` map of a result, or an
        image of valences, read by :func:`lithmap.read_field`).
    what : str
        What they are (``"before"``, ``"after"``), for the error message.

    Returns
    -------
    dict
        element → float or DataArray, for :func:`charge_balance`.

    Examples
    --------
    >>> parse_valences(["Ni=2", "Co=3"])
    {'Ni': 2.0, 'Co': 3.0}
    >>> parse_valences(["Ni2"], "before")
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: before 'Ni2' is invalid; expected EL=VALENCE or EL=lcf.nc
    """
    from ..io.spectra import read_field

    out = {}
    for text in [items] if isinstance(items, str) else list(items):
        el, sep, value = str(text).partition("=")
        if not sep or not el.strip():
            raise LithmapError(f"{what} {text!r} is invalid; expected EL=VALENCE or EL=lcf.nc")
        try:
            out[el.strip()] = float(value)
        except ValueError:
            out[el.strip()] = read_field(value.strip(), "mean_valence")
    return out
