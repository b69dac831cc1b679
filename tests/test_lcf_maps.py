"""LCF on maps, right by default (issue 11, part 1).

A 48×40 map mixed from the real MnO / Mn2O3 / MnO2 standards shipped in src/lithmap/data
(Dirichlet fractions, 1 % noise, a window e0−20 … e0+60 eV), as raw optical density: per-pixel
thickness varying ×10 (0.3–3 edge steps), a matrix background t·c·(E/e0)⁻³ (c = 1–4 edge steps,
a curved pre-edge that a line only approximates) plus a slope and an OD offset. The default fit
of a map (free non-negative amplitudes of the Larch-normalised standards plus a linear
background; fractions = amplitudes / their sum) must give a mean-valence error ≤ 0.03 through the
API, through ``lcf_from_files`` and through ``lithmap lcf`` on a NetCDF ``absorbance`` file, and
the same answer on the map already normalised.

Truth: the pixels are made from the standards normalised as ``lcf_from_files`` normalises them
(Larch's ``pre_edge``, checked against Larch in tests/test_spectra.py) on the energies their foils
align them to (``align``, checked in tests/test_spectra.py), so what is tested here is the pixel
model, not the normalisation. The noise is 1 % of each pixel's edge step per energy.
"""

import numpy as np
import pytest
import xarray as xr
from scipy import optimize
from typer.testing import CliRunner

import lithmap as lm
from lithmap.cli import app
from lithmap.errors import LithmapError
from lithmap.spectro import align, fit_lcf, interpolate_standards, lcf_from_files, normalise

NAMES = ("MnO", "Mn2O3", "MnO2")
VAL = np.array([2.0, 3.0, 4.0])
E0 = 6546.0  # the map's nominal edge: window E0 - 20 ... E0 + 60 eV
SHAPE = (48, 40)
runner = CliRunner()


def standard_files():
    return [f"{lm.example_file(n + '_rt_01.xdi')}:{v:g}" for n, v in zip(NAMES, VAL)]


@pytest.fixture(scope="module")
def scene():
    raw = {n: lm.read_xdi(lm.example_file(f"{n}_rt_01.xdi")) for n in NAMES}
    ref = raw["MnO"]
    e = ref["energy"].values
    emap = e[(e >= E0 - 20) & (e <= E0 + 60)]
    std, shifts = {}, []
    for n in NAMES:
        d = raw[n]
        s = 0.0 if n == "MnO" else align(d["energy"].values, d["mu_ref"].values, ref["mu_ref"].values, e,
                                         window=(6529, 6544))  # what lcf_from_files does: Mn K edge -10..+5 eV
        shifts.append(s)
        std[n] = normalise(d["mu"], e0="larch").assign_coords(energy=d["energy"].values + s)
    A = interpolate_standards(std, emap)
    rng = np.random.default_rng(11)
    f = rng.dirichlet(np.ones(3), size=SHAPE)
    t = 0.3 * 10 ** rng.uniform(0, 1, SHAPE)
    normed = f @ A.values.T + 0.01 * rng.standard_normal(SHAPE + (emap.size,))
    c = rng.uniform(1, 4, SHAPE)[..., None]
    slope = rng.uniform(-2e-3, 2e-3, SHAPE)[..., None]
    od = rng.uniform(-0.05, 0.05, SHAPE)[..., None]
    raw_od = t[..., None] * (normed + c * (emap / E0) ** -3 + slope * (emap - E0)) + od

    def cube(values):
        return xr.DataArray(np.moveaxis(values, -1, 0), dims=("energy", "y", "x"),
                            coords={"energy": ("energy", emap, {"units": "eV"})}, name="absorbance")

    return {"A": A, "f": f, "t": t, "valence": f @ VAL, "raw": cube(raw_od), "normed": cube(normed),
            "shifts": np.array(shifts)}


def write(da, path):
    da.to_dataset().to_netcdf(path, engine="h5netcdf")
    return path


def test_raw_od_map_default_fit_through_the_api(scene):
    ds = fit_lcf(scene["raw"], scene["A"], VAL)
    assert ds.attrs["model"] == "amplitudes" and ds["weights"].dims == ("y", "x", "standard")
    err = np.abs(ds["mean_valence"].values - scene["valence"])
    assert err.mean() <= 0.03  # the bound; measured 0.006
    np.testing.assert_allclose(ds["weights"].sum("standard"), 1.0, atol=1e-12)
    assert (ds["weights"] >= 0).all()
    # the edge jump is the thickness map (in edge steps): 1 % noise gives ~0.3 % per pixel
    ratio = ds["edge_jump"].values / scene["t"]
    assert np.median(np.abs(ratio - 1)) < 0.01 and np.abs(ratio - 1).max() < 0.05
    # the residual is the noise (1 % of the edge step, scaled by thickness) plus the curvature of
    # the (E/e0)^-3 background that the line leaves: within 10 % of the noise alone
    resid = ds["residual"].values / (0.01 * scene["t"])
    assert 0.9 < np.median(resid) < 1.1


def test_already_normalised_map_gives_the_same_answer(scene):
    raw = fit_lcf(scene["raw"], scene["A"], VAL)
    normed = fit_lcf(scene["normed"], scene["A"], VAL)
    assert np.abs(normed["mean_valence"].values - scene["valence"]).mean() <= 0.03
    # same noise: the two differ only by the background's curvature, which the line cannot take
    diff = np.abs(raw["mean_valence"].values - normed["mean_valence"].values)
    assert diff.mean() < 2e-3 and diff.max() < 0.01
    np.testing.assert_allclose(normed["edge_jump"], 1.0, atol=0.05)


def test_thickness_and_linear_background_leave_the_fractions_unchanged(scene):
    b = scene["normed"].values  # (energy, y, x)
    e = scene["normed"]["energy"].values[:, None, None]
    base = fit_lcf(scene["normed"], scene["A"], VAL)
    thick = fit_lcf(scene["normed"].copy(data=2.0 * b + 0.3 - 4e-3 * (e - E0)), scene["A"], VAL)
    np.testing.assert_allclose(thick["weights"], base["weights"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(thick["edge_jump"], 2.0 * base["edge_jump"], rtol=1e-9)
    np.testing.assert_allclose(thick["background"].sel(background_order=1),
                               2.0 * base["background"].sel(background_order=1) - 4e-3, rtol=0, atol=1e-9)


def test_old_default_is_biased_on_the_same_map(tmp_path, scene):
    """The sum-to-one fit after normalising each pixel inside the narrow window (the default
    before issue 11) is many times worse on the same raw map."""
    path = write(scene["raw"], tmp_path / "raw.nc")
    new = lcf_from_files(path, standard_files())
    old = lcf_from_files(path, standard_files(), model="sum-to-one")
    err_new = np.abs(new["mean_valence"].values - scene["valence"]).mean()
    err_old = np.abs(old["mean_valence"].values - scene["valence"]).mean()
    assert err_new <= 0.03 and err_old > 5 * err_new, (err_new, err_old)


def test_netcdf_map_through_lcf_from_files_and_the_cli(tmp_path, scene):
    raw, normed = write(scene["raw"], tmp_path / "raw.nc"), write(scene["normed"], tmp_path / "normed.nc")
    ds = lcf_from_files(raw, standard_files())
    assert ds.attrs["model"] == "amplitudes" and ds.attrs["normalised"] == 1
    np.testing.assert_allclose(ds["standard_energy_shift"], scene["shifts"], atol=1e-9)
    err = np.abs(ds["mean_valence"].values - scene["valence"])
    assert err.mean() <= 0.03
    again = lcf_from_files(normed, standard_files())
    assert np.abs(again["mean_valence"].values - ds["mean_valence"].values).mean() < 2e-3

    out = tmp_path / "lcf.nc"
    std = [a for s in standard_files() for a in ("--standard", s)]
    res = runner.invoke(app, ["lcf", *std, str(raw), "--out", str(out)])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(out, engine="h5netcdf") as f:
        assert f.attrs["model"] == "amplitudes"
        np.testing.assert_allclose(f["mean_valence"], ds["mean_valence"], rtol=0, atol=1e-12)
        assert np.abs(f["mean_valence"].values - scene["valence"]).mean() <= 0.03
        assert f["edge_jump"].dims == ("y", "x") and f["residual"].dims == ("y", "x")
    assert out.with_suffix(".png").exists()
    res = runner.invoke(app, ["lcf", *std, str(raw), "--model", "sum-to-one", "--out", str(tmp_path / "old.nc")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["lcf", *std, str(raw), "--model", "amplitude", "--out", str(tmp_path / "bad.nc")])
    assert res.exit_code != 0 and "model='amplitude' is invalid" in res.output and not (tmp_path / "bad.nc").exists()
    assert len(res.output.strip().splitlines()) == 1, res.output


def test_real_mn3o4_with_defaults():
    for window in (None, "6535:6580eV"):
        ds = lcf_from_files(lm.example_file("Mn3O4_rt_02.xdi"), standard_files(), window=window)
        assert ds.attrs["model"] == "sum-to-one"  # a single normalised spectrum
        assert 2.6 < float(ds["mean_valence"]) < 2.8  # nominal 8/3
        assert float(ds["r_factor"]) < 0.01


def test_amplitudes_fit_equals_an_independent_nnls(scene):
    """The exact solver against scipy's NNLS on [standards, +background, −background] columns
    (the free background as two non-negative parts), compiled and NumPy paths, with a pixel of
    background only (no edge: NaN fractions)."""
    A = scene["A"].values
    e = scene["A"]["energy"].values
    rng = np.random.default_rng(5)
    truth = np.concatenate([rng.dirichlet(np.ones(3), 40), rng.normal(0.2, 0.6, (40, 3))])
    b = truth @ A.T + 0.5 - 2e-3 * (e - E0) + rng.normal(0, 0.02, (80, e.size))
    b[0] = 0.4 + 1e-3 * (e - E0)  # no edge at all
    x = (e - 0.5 * (e[0] + e[-1])) / (0.5 * (e[-1] - e[0]))
    C = np.stack([np.ones_like(x), x], axis=1)
    M = np.concatenate([A, C, -C], axis=1)
    ref = np.array([optimize.nnls(M, bi, maxiter=2000)[0][:3] for bi in b])
    for use_numba in (True, False):
        ds = fit_lcf(b, scene["A"], VAL, use_numba=use_numba)
        np.testing.assert_allclose(ds["amplitude"].values, ref, rtol=0, atol=1e-8)
        assert np.isnan(ds["weights"].values[0]).all() and np.isnan(ds["mean_valence"].values[0])
        assert abs(float(ds["edge_jump"][0])) < 1e-9
        rms = np.sqrt(((b - ds["amplitude"].values @ A.T - (ds["background"].values @ np.vander(
            e - ds.attrs["background_centre"], 2, increasing=True).T)) ** 2).mean(axis=1))
        # the Gram identity's rounding, eps·cond·bᵀb on the sum of squares, shows as ~1e-8 on a perfect fit
        np.testing.assert_allclose(ds["residual"], rms, rtol=1e-7, atol=1e-6)
    assert (ref == 0).any(axis=1).sum() >= 20  # constraints bind on many pixels


def test_model_keywords_and_bad_values(scene):
    A = scene["A"]
    one = scene["normed"].isel(y=0, x=0)
    assert fit_lcf(one, A, VAL).attrs["model"] == "sum-to-one"
    assert fit_lcf(one, A, VAL, model="amplitudes").attrs["model"] == "amplitudes"
    two = fit_lcf(scene["normed"].isel(y=0, x=slice(0, 2)), A, VAL, sum_to_one=True)  # the keyword alone: as before
    assert two.attrs["model"] == "sum-to-one" and "edge_jump" not in two
    quad = fit_lcf(scene["raw"].isel(y=0), A, VAL, background=2)
    assert quad["background"].sizes["background_order"] == 3
    with pytest.raises(LithmapError, match="model='linear' is invalid; expected one of 'amplitudes', 'sum-to-one'"):
        fit_lcf(one, A, VAL, model="linear")
    with pytest.raises(LithmapError, match="sum_to_one=True contradicts model='amplitudes'"):
        fit_lcf(one, A, VAL, model="amplitudes", sum_to_one=True)
    with pytest.raises(LithmapError, match="background=5 is invalid"):
        fit_lcf(one, A, VAL, background=5)
    with pytest.raises(LithmapError, match="4 energies cannot determine 3 standards plus a background of 2 terms"):
        fit_lcf(scene["raw"].isel(energy=slice(0, 4)), A.isel(energy=slice(0, 4)), VAL)
