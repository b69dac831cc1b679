"""Element maps from two energies per element, TM/O segmentation (Liu, Zeng et al. Fig. 2), forward-modelled
with xraydb's coefficients from known element densities."""

import numpy as np
import pytest

from lithmap.errors import LithmapError
from lithmap.spectro.composition import (
    LRTMO,
    classify_composition,
    composition_maps,
    element_maps,
    mass_attenuation,
    molar_mass,
    parse_formula,
    tm_o_ratio,
)

ENERGIES = {"O": (530.0, 550.0), "Mn": (630.0, 650.0), "Co": (770.0, 790.0), "Ni": (845.0, 860.0)}
MOLAR = {"O": 15.999e-3, "Mn": 54.938e-3, "Co": 58.933e-3, "Ni": 58.693e-3}  # kg/mol, written out here
VOXEL = 25e-9  # m (Liu, Zeng et al.: 25 nm voxels)


def _particle():
    """A 3D LRTMO sphere (4.2 g/cm³) with an oxygen-poor cap (O −13 %: TM/O +15 %), an oxygen-rich
    column (O +15 %: TM/O −13 %) and a +2 % O patch that stays inside the ±5 % band."""
    n = 32
    z, y, x = np.indices((n, n, n)) - n / 2 + 0.5
    mask = x * x + y * y + z * z < 14**2
    o_factor = np.ones(mask.shape)
    o_factor[mask & (z > 6)] = 1 / 1.15
    o_factor[mask & (np.hypot(x + 5, y) < 4) & (z < 0)] = 1.15
    o_factor[mask & (x > 8)] *= 1.02
    comp = parse_formula(LRTMO)
    units = 4200.0 / 0.0852  # formula units per m³ (approximate molar mass is fine here)
    density = {el: np.where(mask, comp[el] * units * MOLAR[el] * (o_factor if el == "O" else 1.0), 0.0)
               for el in ENERGIES}  # kg/m³
    # forward model: OD of one voxel = Σ_j μ/ρ_j(E) ρ_j L, μ/ρ from xraydb (cm²/g → m²/kg)
    import xraydb

    images = {el: tuple(sum(0.1 * xraydb.mu_elam(k, [e])[0] * density[k] * VOXEL for k in density)
                        for e in ENERGIES[el]) for el in ENERGIES}
    ratio_over_target = 1 / o_factor
    truth = np.where(ratio_over_target - 1 > 0.05, 1, np.where(ratio_over_target - 1 < -0.05, 2, 0))
    return images, density, mask, truth


def test_parse_formula_and_target_ratio():
    assert parse_formula(LRTMO) == {"Li": 1.2, "Mn": 0.56, "Ni": 0.16, "Co": 0.08, "O": 2.0}
    assert parse_formula("LiCoO2") == {"Li": 1.0, "Co": 1.0, "O": 2.0}
    assert tm_o_ratio(LRTMO) == pytest.approx(0.8 / 2)
    M = 1.2 * 6.94 + 0.56 * 54.938 + 0.16 * 58.693 + 0.08 * 58.933 + 2 * 15.999  # g/mol by hand
    assert molar_mass(LRTMO) == pytest.approx(M * 1e-3, rel=1e-4)
    for bad in ("Li1.2Mn(0.5)O2", "Xx2O", "", "LiO0"):
        with pytest.raises(LithmapError):
            parse_formula(bad)


def test_noise_free_volume_recovers_densities_and_exact_fractions():
    images, density, mask, truth = _particle()
    ds = composition_maps(images, ENERGIES, mask=mask, path_length=VOXEL, pixel_size=VOXEL)
    for el in ENERGIES:
        np.testing.assert_allclose(ds["density"].sel(element=el).values, density[el], rtol=1e-9, atol=1e-6)
    # number densities: ρ N_A / M
    n_ni = ds["number_density"].sel(element="Ni").values[mask]
    np.testing.assert_allclose(n_ni, density["Ni"][mask] / MOLAR["Ni"] * 6.02214076e23, rtol=1e-4)
    assert ds["residual"].max() < 1e-12
    # TM/O = 0.4 where the composition is on target
    plain = mask & (truth == 0)
    assert np.nanmax(np.abs(ds["tm_o_ratio"].values[plain] / 0.4 - 1)) <= 0.021
    expect = [(truth[mask] == k).mean() for k in range(3)]
    np.testing.assert_allclose(ds["volume_fraction"].values, expect, rtol=0, atol=1e-12)  # exact
    assert ds["phase"].values[~mask].tolist() == [-1] * int((~mask).sum())
    np.testing.assert_array_equal(ds["phase"].values[mask], truth[mask])
    # the per-shell fractions are the phases' shares of each equal-volume shell, summing to 1
    shell_frac = ds["shell_volume_fraction"].values
    np.testing.assert_allclose(shell_frac.sum(axis=0), 1.0)
    np.testing.assert_allclose(shell_frac.mean(axis=1), expect, atol=2e-3)  # equal shells (±1 voxel)
    assert ds["z"].attrs["units"] == "m" and ds.attrs["target_tm_o_ratio"] == pytest.approx(0.4)


def test_jump_method_agrees_on_noise_free_data_and_noise_stays_close():
    images, density, mask, truth = _particle()
    jump = element_maps(images, ENERGIES, method="jump", path_length=VOXEL)
    np.testing.assert_allclose(jump["density"].sel(element="O").values, density["O"], rtol=1e-9, atol=1e-6)
    rng = np.random.default_rng(0)
    noisy = {el: tuple(a + 0.005 * a[mask].mean() * rng.standard_normal(a.shape) for a in pair)
             for el, pair in images.items()}
    ds = composition_maps(noisy, ENERGIES, mask=mask, path_length=VOXEL)
    expect = np.array([(truth[mask] == k).mean() for k in range(3)])
    np.testing.assert_allclose(ds["volume_fraction"].values, expect, atol=0.01)
    med = np.median(np.abs(ds["density"].values[:, mask] / np.stack([density[e] for e in ENERGIES])[:, mask] - 1))
    assert med < 0.02


def test_default_mask_and_2d_projection():
    images, density, mask, _ = _particle()
    ds = composition_maps(images, ENERGIES)  # Otsu mask on the total density
    np.testing.assert_array_equal(ds["mask"].values.astype(bool), mask)
    # a 2D projection (sum along z): areal densities in kg/m²
    proj = {el: tuple(a.sum(axis=0) for a in pair) for el, pair in images.items()}
    maps = element_maps(proj, ENERGIES)
    np.testing.assert_allclose(maps["areal_density"].sel(element="Mn").values, density["Mn"].sum(axis=0) * VOXEL,
                               rtol=1e-9, atol=1e-15)
    cls = classify_composition(maps, mask=mask.any(axis=0), n_shells=3)
    assert cls["shell_volume_fraction"].shape == (3, 3) and cls["phase"].dims == ("y", "x")


def test_single_element_jump_ratio():
    m = np.full((4, 4), 2e-5)  # kg/m² of Ni
    od = tuple(mass_attenuation("Ni", e) * m for e in ENERGIES["Ni"])
    ds = element_maps({"Ni": od}, {"Ni": ENERGIES["Ni"]}, method="jump")
    np.testing.assert_allclose(ds["areal_density"].values[0], m, rtol=1e-12)
    assert "L3" in ds.attrs["edges"]


def test_bad_input_names_the_value():
    images, _, mask, _ = _particle()
    with pytest.raises(LithmapError, match="shape"):
        element_maps({**images, "Ni": (images["Ni"][0], images["Ni"][1][:-1])}, ENERGIES)
    with pytest.raises(LithmapError, match="Co has 1 energies"):
        element_maps(images, {**ENERGIES, "Co": (780.0,)})
    with pytest.raises(LithmapError, match="no energies"):
        element_maps(images, {k: v for k, v in ENERGIES.items() if k != "Mn"})
    with pytest.raises(LithmapError,
                       match=r"800 and 840 eV do not bracket an absorption edge of Ni \(nearest: Ni L3 at 852.7 eV\)"):
        element_maps(images, {**ENERGIES, "Ni": (800.0, 840.0)})
    with pytest.raises(LithmapError, match="Ni"):
        element_maps(images, {**ENERGIES, "Ni": (870.0, 850.0)})
    with pytest.raises(LithmapError, match="images"):
        element_maps({**images, "O": (images["O"][0],)}, ENERGIES)
    maps = element_maps(images, ENERGIES)
    for t in (0, -0.05):
        with pytest.raises(LithmapError, match=f"threshold={t}"):
            classify_composition(maps, threshold=t, mask=mask)
    with pytest.raises(LithmapError, match="mask has shape"):
        classify_composition(maps, mask=mask[:-1])
    with pytest.raises(LithmapError, match="method"):
        element_maps(images, ENERGIES, method="pca")
