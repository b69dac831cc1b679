"""Materials: D(θ) tables and constants, and the nmc811 preset's numbers (Xu, Merryweather et al., Joule 2022)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from lithmap import ConstantDiffusivity, LithmapError, Material, TabulatedDiffusivity, get_material, nmc811
from lithmap.physics.materials import FARADAY, PRESETS

# ----------------------------------------------------------------------------- tables

THETA = np.array([0.2, 0.5, 0.8, 1.0])
D = np.array([3e-15, 1e-15, 1e-16, 1e-18])


def _by_hand(theta):
    """log-linear interpolation, flat outside: what the CSV contract promises."""
    return 10.0 ** np.interp(theta, THETA, np.log10(D))


def test_tabulated_log_linear_interpolation_matches_hand_computation():
    d = TabulatedDiffusivity(THETA, D)
    theta = np.linspace(0.2, 1.0, 161)
    np.testing.assert_allclose(d(theta), _by_hand(theta), rtol=1e-12)
    np.testing.assert_allclose(d(THETA), D, rtol=1e-12)  # passes through the rows
    # halfway in log space between 1e-16 and 1e-18
    assert float(d(0.9)) == pytest.approx(1e-17, rel=1e-12)


def test_tabulated_accepts_unsorted_rows():
    order = np.array([2, 0, 3, 1])
    d = TabulatedDiffusivity(THETA[order], D[order])
    theta = np.linspace(0, 1, 101)
    np.testing.assert_allclose(d(theta), _by_hand(theta), rtol=1e-12)


def test_tabulated_flat_extrapolation():
    d = TabulatedDiffusivity(THETA, D)
    below = np.array([0.0, 0.05, 0.1999])
    value, deriv = d.evaluate(np.array([0.0, 0.1]))
    np.testing.assert_allclose(d(below[:2]), D[0], rtol=1e-12)
    np.testing.assert_allclose(value, D[0], rtol=1e-12)
    np.testing.assert_array_equal(deriv, 0.0)
    # a table that ends inside (0, 1) is flat above its last row too
    d2 = TabulatedDiffusivity([0.3, 0.6], [1e-15, 1e-17])
    np.testing.assert_allclose(d2([0.6, 0.7, 1.0]), 1e-17, rtol=1e-12)
    np.testing.assert_allclose(d2([0.0, 0.3]), 1e-15, rtol=1e-12)
    np.testing.assert_array_equal(d2.evaluate(np.array([0.7, 0.1]))[1], 0.0)


def test_tabulated_single_row_is_constant():
    d = TabulatedDiffusivity([0.5], [2e-16])
    value, deriv = d.evaluate(np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(value, 2e-16)
    np.testing.assert_array_equal(deriv, 0.0)


def test_tabulated_derivative_matches_central_difference_away_from_nodes():
    d = TabulatedDiffusivity(THETA, D)
    theta = np.array([0.25, 0.33, 0.47, 0.55, 0.71, 0.85, 0.93, 0.99])
    h = 1e-6
    _, deriv = d.evaluate(theta)
    fd = (d(theta + h) - d(theta - h)) / (2 * h)
    np.testing.assert_allclose(deriv, fd, rtol=1e-6)
    # and against the closed form d/dθ 10^(a + bθ) = ln(10)·b·D
    slope = np.diff(np.log10(D)) / np.diff(THETA)
    seg = np.searchsorted(THETA, theta) - 1
    np.testing.assert_allclose(deriv, math.log(10) * slope[seg] * _by_hand(theta), rtol=1e-10)


def test_tabulated_scalar_input():
    d = TabulatedDiffusivity(THETA, D)
    assert float(d(0.5)) == pytest.approx(1e-15, rel=1e-12)
    value, deriv = d.evaluate(0.9)
    assert np.ndim(value) == 0 and np.ndim(deriv) == 0


# The value may be printed as 0.0 or np.float64(0.0) (see the xfail below): match the number.
V = r"(?:np\.float64\()?"


@pytest.mark.parametrize(
    "theta, diffusivity, pattern",
    [
        ([0.5, 1.0], [1e-15, 0.0], rf"diffusivity={V}0\.0\b"),
        ([0.5, 1.0], [-1e-15, 1e-16], rf"diffusivity={V}-1e-15\b"),
        ([0.5, 1.0], [1e-15, np.nan], rf"diffusivity={V}nan\b"),
        ([0.5, 1.0], [1e-15, np.inf], rf"diffusivity={V}inf\b"),
        ([0.5, 1.2], [1e-15, 1e-16], rf"theta={V}1\.2\b.*outside \[0, 1\]"),
        ([-0.1, 1.0], [1e-15, 1e-16], rf"theta={V}-0\.1\b.*outside \[0, 1\]"),
        ([np.nan, 1.0], [1e-15, 1e-16], rf"theta={V}nan\b"),
        ([0.5, 0.5], [1e-15, 1e-16], r"repeats a theta"),
        ([0.5, 1.0], [1e-15], r"2 theta values and 1 diffusivities"),
        ([], [], r"0 theta values"),
    ],
    ids=["D=0", "D<0", "D=nan", "D=inf", "theta>1", "theta<0", "theta=nan", "repeat", "lengths", "empty"],
)
def test_tabulated_rejects_bad_tables(theta, diffusivity, pattern):
    with pytest.raises(LithmapError, match=pattern):
        TabulatedDiffusivity(theta, diffusivity)


@pytest.mark.parametrize(
    "theta, diffusivity, text",
    [([0.5, 1.0], [1e-15, 0.0], "diffusivity=0.0 in"), ([0.5, 1.2], [1e-15, 1e-16], "theta=1.2 in")],
    ids=["D=0", "theta>1"],
)
def test_tabulated_error_prints_plain_numbers(theta, diffusivity, text):
    with pytest.raises(LithmapError) as info:
        TabulatedDiffusivity(theta, diffusivity)
    assert text in str(info.value) and "np.float64" not in str(info.value)


def _write(path, text):
    path.write_text(text)
    return path


def test_from_csv_reads_columns_ignores_extras_and_skips_empty_rows(tmp_path):
    path = _write(
        tmp_path / "gitt.csv",
        "pulse,theta,diffusivity_m2_s,flags\n"
        "1,1.0,1e-18,\n"
        "2,0.9,,relaxation too short\n"  # unusable pulse: empty D, skipped
        "3,0.8,1e-16,\n"
        "4,0.5,1e-15,noisy\n"  # flagged but with a number: kept as it is
        ",,,\n",  # blank row: skipped
    )
    d = TabulatedDiffusivity.from_csv(path)
    np.testing.assert_allclose(d.theta, [0.5, 0.8, 1.0])
    np.testing.assert_allclose(10 ** d.log_d, [1e-15, 1e-16, 1e-18], rtol=1e-12)
    # the skipped row at 0.9 is interpolated, not read
    assert float(d(0.9)) == pytest.approx(1e-17, rel=1e-10)
    assert str(path) in repr(d)
    assert TabulatedDiffusivity.from_csv(str(path)).theta.size == 3


def test_from_csv_skips_nan_diffusivity_rows(tmp_path):
    path = _write(tmp_path / "gitt.csv", "theta,diffusivity_m2_s,flags\n1.0,1e-18,\n0.9,nan,bad pulse\n0.8,1e-16,\n")
    d = TabulatedDiffusivity.from_csv(path)
    np.testing.assert_allclose(d.theta, [0.8, 1.0])


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("theta,diffusivity_m2_s\n0.5,1e-15\n1.0,0\n", rf"diffusivity={V}0\.0\b.*gitt\.csv"),
        ("theta,diffusivity_m2_s\n0.5,1e-15\n1.0,-1e-16\n", rf"diffusivity={V}-1e-16\b.*gitt\.csv"),
        ("theta,diffusivity_m2_s\n0.5,1e-15\n1.5,1e-16\n", rf"theta={V}1\.5\b.*gitt\.csv.*outside \[0, 1\]"),
        ("theta,diffusivity_m2_s\n-0.2,1e-15\n1.0,1e-16\n", rf"theta={V}-0\.2\b.*gitt\.csv.*outside \[0, 1\]"),
        ("theta,D\n0.5,1e-15\n", r"gitt\.csv.*lacks column\(s\) \['diffusivity_m2_s'\]"),
        ("soc,diffusivity_m2_s\n0.5,1e-15\n", r"gitt\.csv.*lacks column\(s\) \['theta'\]"),
        ("", r"gitt\.csv.*lacks column"),
        ("theta,diffusivity_m2_s\n0.5,\n,1e-15\n", r"gitt\.csv.*no numeric rows"),
    ],
    ids=["D=0", "D<0", "theta>1", "theta<0", "no D column", "no theta column", "empty file", "no rows"],
)
def test_from_csv_errors_name_file_and_value(tmp_path, text, pattern):
    path = _write(tmp_path / "gitt.csv", text)
    with pytest.raises(LithmapError, match=pattern):
        TabulatedDiffusivity.from_csv(path)


def test_from_csv_missing_file(tmp_path):
    path = tmp_path / "nowhere.csv"
    with pytest.raises(LithmapError, match=re.escape(repr(str(path))) + " does not exist"):
        TabulatedDiffusivity.from_csv(path)


# ----------------------------------------------------------------------------- constants


def test_constant_diffusivity():
    d = ConstantDiffusivity(1e-18)
    value, deriv = d.evaluate(np.array([0.0, 0.5, 1.0]))
    np.testing.assert_array_equal(value, 1e-18)
    np.testing.assert_array_equal(deriv, 0.0)
    assert float(d(0.3)) == 1e-18
    assert "1e-18" in repr(d)


@pytest.mark.parametrize("value", [0.0, -1e-18, float("nan"), float("inf"), float("-inf"), "0", -0.0])
def test_constant_diffusivity_rejects(value):
    with pytest.raises(LithmapError, match=re.escape(f"diffusivity={float(value)!r} is invalid")):
        ConstantDiffusivity(value)


# ----------------------------------------------------------------------------- nmc811


@pytest.fixture(scope="module")
def nmc():
    return nmc811()


def test_get_material_returns_the_preset():
    assert "nmc811" in PRESETS
    for name in ("nmc811", "NMC811", " nmc811 "):
        m = get_material(name)
        assert isinstance(m, Material) and m.name == "nmc811"


def test_get_material_unknown_names_it():
    with pytest.raises(LithmapError, match=r"material='nope' is invalid.*nmc811"):
        get_material("nope")


def test_nmc811_apparent_diffusivity(nmc):
    """Xu, Merryweather et al., Joule 2022, Fig. 3B: D_app = α·D = 1e-18 m²/s at θ = 1, 100× larger by
    θ = 0.8, flat below."""
    assert nmc.alpha == pytest.approx(2.7)
    theta = np.array([1.0, 0.9, 0.8, 0.7, 0.5, 0.3, 0.0])
    d_app = nmc.alpha * nmc.diffusivity(theta)
    expected = np.array([1e-18, 1e-17, 1e-16, 1e-16, 1e-16, 1e-16, 1e-16])
    np.testing.assert_allclose(d_app, expected, rtol=1e-10)
    # log-linear in between
    th = np.linspace(0.8, 1.0, 41)
    np.testing.assert_allclose(nmc.alpha * nmc.diffusivity(th), 10.0 ** (-16 - 2 * (th - 0.8) / 0.2), rtol=1e-10)


def test_nmc811_capacities(nmc):
    """SI fields: practical capacity 210 mA h / g = 756 000 C/kg, molar mass in kg/mol."""
    assert nmc.practical_capacity == 210.0 * 3600
    molar_mass = 6.941 + 0.88 * 58.693 + 0.05 * 54.938 + 0.07 * 58.933 + 2 * 15.999  # LiNi.88Mn.05Co.07O2, g/mol
    assert nmc.molar_mass == pytest.approx(molar_mass * 1e-3, rel=1e-15)
    theoretical = 96485.33212 / 3.6 / molar_mass  # mA h / g
    assert nmc.theoretical_capacity == pytest.approx(theoretical * 3600, rel=1e-9)  # C/kg
    assert nmc.theoretical_capacity == pytest.approx(FARADAY / nmc.molar_mass)
    assert 270 * 3600 < nmc.theoretical_capacity < 280 * 3600
    assert nmc.capacity_fraction == pytest.approx(210.0 / theoretical, rel=1e-12)
    assert nmc.capacity_fraction == pytest.approx(0.764, abs=5e-4)  # README
    assert nmc.voltage_window == (3.0, 4.3)
    assert "210" in nmc.c_rate_convention


def test_nmc811_ocv_at_start_of_charge(nmc):
    """Xu, Merryweather et al., Joule 2022, Fig. 4A: θ ≈ 0.97 at OCV ≈ 3.5 V after the CV hold."""
    assert 3.45 <= float(nmc.ocv(0.97)) <= 3.55


def test_nmc811_ocv_decreases_with_lithiation(nmc):
    theta = np.linspace(0.3, 1.0, 1401)
    u = nmc.ocv(theta)
    assert np.all(np.diff(u) < 0)
    _, du = nmc.ocv.evaluate(theta)
    assert np.all(du < 0)
    assert u[-1] < 3.5 < u[0]


def test_nmc811_ocv_derivative_matches_finite_difference(nmc):
    theta = np.linspace(0.02, 0.98, 49)
    h = 1e-6
    _, du = nmc.ocv.evaluate(theta)
    fd = (nmc.ocv(theta + h) - nmc.ocv(theta - h)) / (2 * h)
    np.testing.assert_allclose(du, fd, rtol=1e-5, atol=1e-6)


def test_nmc811_exchange_current(nmc):
    j0, dj0 = nmc.exchange_current.evaluate(np.array([0.0, 0.5, 1.0]))
    assert j0[0] == 0.0 and j0[2] == 0.0
    assert j0[1] == pytest.approx(3.4)
    assert np.all(np.isfinite(dj0))
    theta = np.array([0.1, 0.3, 0.45, 0.7, 0.9])
    h = 1e-7
    _, d = nmc.exchange_current.evaluate(theta)
    fd = (nmc.exchange_current(theta + h) - nmc.exchange_current(theta - h)) / (2 * h)
    np.testing.assert_allclose(d, fd, rtol=1e-6)
    assert np.all(nmc.exchange_current(np.linspace(0.01, 0.99, 99)) > 0)


def test_nmc811_c_max_and_provenance(nmc):
    assert nmc.density == 4750.0  # kg/m^3
    assert nmc.c_max == pytest.approx(nmc.density / nmc.molar_mass)
    assert 45_000 < nmc.c_max < 52_000
    assert "Xu, Merryweather et al., Joule 2022" in nmc.provenance["paper"]
    assert nmc.provenance["assumed"]


def test_material_replace_keeps_the_rest(nmc):
    m = nmc.replace(diffusivity=ConstantDiffusivity(1e-15), alpha=1.0)
    assert m.alpha == 1.0 and isinstance(m.diffusivity, ConstantDiffusivity)
    assert m.ocv is nmc.ocv and m.practical_capacity == 210.0 * 3600
    assert nmc.alpha == 2.7  # frozen original untouched


def test_material_takes_si_numbers_and_quantity_strings_alike():
    d = ConstantDiffusivity(1e-16)
    text = Material("oxide", d, molar_mass="97.46 g/mol", practical_capacity="210 mAh/g", density="4.75 g/cm^3",
                    c_max="48.7 mol/L")
    si = Material("oxide", d, molar_mass=0.09746, practical_capacity=756000.0, density=4750.0, c_max=48700.0)
    for field in ("molar_mass", "practical_capacity", "density", "c_max", "temperature"):
        assert getattr(text, field) == pytest.approx(getattr(si, field), rel=1e-12), field
    assert text.theoretical_capacity == pytest.approx(FARADAY / 0.09746)  # C/kg
    assert text.capacity_fraction == pytest.approx(si.capacity_fraction, rel=1e-12)
    # what people read stays in mA h / g
    assert "practical 210 mA h / g" in text.describe()
    assert "practical capacity 210 mA h / g" in text.c_rate_convention


@pytest.mark.parametrize("field, value, needle", [
    ("molar_mass", "97 g", "molar_mass='97 g' is invalid"),
    ("practical_capacity", "lots", "practical_capacity='lots' is invalid"),
    ("density", -1.0, "density=-1.0 is invalid"),
])
def test_material_bad_quantities_name_the_field(field, value, needle):
    with pytest.raises(LithmapError, match=re.escape(needle)):
        Material("oxide", ConstantDiffusivity(1e-16), **{field: value})


def test_nmc811_c_rate_needs_the_same_charge_as_its_capacities():
    """1C for one hour moves θ by capacity_fraction: practical capacity × molar mass / F."""
    nmc = nmc811()
    assert nmc.capacity_fraction == pytest.approx(nmc.practical_capacity * nmc.molar_mass / FARADAY, rel=1e-15)
