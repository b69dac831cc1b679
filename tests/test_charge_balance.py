"""Charge balance: capacity from valence changes, against a hand calculation (Liu, Zeng et al.,
Nat. Nanotechnol. 2024)."""

import numpy as np
import pytest
import xarray as xr

from lithmap.errors import LithmapError
from lithmap.spectro.charge import charge_balance, valence_capacity

# Li1.2Mn0.56Ni0.16Co0.08O2 by hand (IUPAC atomic masses, g/mol)
M_LRTMO = 1.2 * 6.94 + 0.56 * 54.938 + 0.16 * 58.693 + 0.08 * 58.933 + 2 * 15.999  # 85.197 g/mol
F = 96485.33212  # C/mol


def test_full_ni_and_co_oxidation_by_hand():
    # Ni2+ → Ni4+ (2 e per Ni, 0.16 Ni) and Co3+ → Co4+ (1 e per Co, 0.08 Co): 0.40 e per formula unit
    electrons = 0.16 * 2 + 0.08 * 1
    by_hand = electrons * F / M_LRTMO / 3.6  # C/g → mAh/g
    assert by_hand == pytest.approx(125.83, abs=0.01)
    assert valence_capacity({"Ni": 2.0, "Co": 1.0}) == pytest.approx(by_hand, rel=1e-4)
    ds = charge_balance({"Ni": 2.0, "Co": 3.0, "Mn": 4.0}, {"Ni": 4.0, "Co": 4.0, "Mn": 4.0})
    assert float(ds["total_capacity"]) == pytest.approx(by_hand, rel=1e-4)
    assert float(ds["total_electrons"]) == pytest.approx(0.40)
    np.testing.assert_allclose(ds["capacity"].sel(element=["Ni", "Co", "Mn"]),
                               [0.32 * F / M_LRTMO / 3.6, 0.08 * F / M_LRTMO / 3.6, 0.0], rtol=1e-4)
    assert ds["total_capacity"].attrs["units"] == "mA h / g"
    assert ds.attrs["molar_mass"] == pytest.approx(M_LRTMO * 1e-3, rel=1e-4)


def test_sign_convention_and_oxygen():
    # reduction (discharge) is negative; the reverse of a charge gives minus the same capacity
    q = valence_capacity({"Ni": 2.0, "Co": 1.0})
    assert valence_capacity({"Ni": -2.0, "Co": -1.0}) == pytest.approx(-q)
    # oxygen counts like a cation: O2- → O(2-δ)- over 2 O per formula unit
    assert valence_capacity({"O": 0.1}) == pytest.approx(2 * 0.1 * F / M_LRTMO / 3.6, rel=1e-4)
    # a different formula: LiCoO2, Co3+ → Co4+ is its theoretical 274 mAh/g
    assert valence_capacity({"Co": 1.0}, "LiCoO2") == pytest.approx(273.8, abs=0.2)


def test_maps_are_averaged_over_the_mask():
    rng = np.random.default_rng(0)
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    ni0 = np.where(mask, 2.0 + 0.05 * rng.standard_normal((20, 20)), np.nan)
    ni1 = ni0 + np.where(mask, 1.5, 99.0)  # outside the mask must not count
    co0 = xr.DataArray(np.full((20, 20), 3.0), dims=("y", "x"))
    ds = charge_balance({"Ni": ni0, "Co": co0}, {"Ni": ni1, "Co": co0 + 0.5}, mask=mask)
    np.testing.assert_allclose(ds["valence_change"].sel(element=["Ni", "Co"]), [1.5, 0.5])
    expected = (0.16 * 1.5 + 0.08 * 0.5) * F / M_LRTMO / 3.6
    assert float(ds["total_capacity"]) == pytest.approx(expected, rel=1e-4)


def test_bad_input_names_the_value():
    with pytest.raises(LithmapError, match="'Fe'"):
        valence_capacity({"Fe": 1.0})
    with pytest.raises(LithmapError, match="nan"):
        valence_capacity({"Ni": float("nan")})
    with pytest.raises(LithmapError, match="same"):
        charge_balance({"Ni": 2.0}, {"Co": 4.0})
    with pytest.raises(LithmapError, match="Ni .* no finite value"):
        charge_balance({"Ni": np.full(3, np.nan)}, {"Ni": 4.0})
    with pytest.raises(LithmapError, match="formula"):
        valence_capacity({"Ni": 1.0}, "Li(NiO2")
