"""`lithmap lcf` on maps with background: the particle mask from the edge step (the one rule that
`clusters` uses), its overrides, the `mask` it writes for `clusters`/`shells`, and the one-line
errors for an all-NaN energy and keV energies; `--i0` for intensity stacks (issue 11 follow-up)."""

import numpy as np
import pytest
import tifffile
import xarray as xr
from typer.testing import CliRunner

import lithmap as lm
from lithmap.cli import app
from lithmap.errors import LithmapError
from lithmap.spectro.lcf import lcf_from_files
from lithmap.spectro.spectra import edge_mask, normalise

NAMES, VALENCES = ("MnO", "Mn2O3", "MnO2"), (2, 3, 4)
STD = [f"{lm.example_file(n + '_rt_01.xdi')}:{v}" for n, v in zip(NAMES, VALENCES)]
STD_ARGS = [a for s in STD for a in ("--standard", s)]
E = np.linspace(6521.0, 6620.0, 60)
runner = CliRunner()


def _particle_map(rng, n=28, noise=0.01):
    """Raw optical density (energy, y, x): a disc of Mn2O3/MnO2 mixtures (edge jump up to 1.5)
    on a background of binder (OD 0.3, sloped pre-edge, no Mn edge). Returns the DataArray,
    the particle and the true mean valence."""
    S = np.stack([lm.normalise(lm.read_spectra(lm.example_file(f"{nm}_rt_01.xdi"))["mu"]).interp(energy=E).values
                  for nm in NAMES])
    y, x = np.mgrid[:n, :n]
    r = np.hypot(y - (n - 1) / 2, x - (n - 1) / 2) / (0.4 * n)
    inside = r < 1
    t = np.where(inside, 0.5 + np.sqrt(np.clip(1 - r**2, 0, 1)), 0.0)
    w4 = np.clip(r, 0, 1)
    w = np.stack([np.zeros_like(r), 1 - w4, w4], axis=-1)
    od = t[..., None] * (w @ S) + 0.3 - 0.0015 * (E - 6520) + rng.normal(0, noise, (n, n, E.size))
    da = xr.DataArray(np.moveaxis(od, -1, 0).astype(np.float32), dims=("energy", "y", "x"),
                      coords={"energy": ("energy", E, {"units": "eV"})}, name="absorbance")
    return da, inside, np.where(inside, w @ np.array(VALENCES, float), np.nan)


def _write(path, da):
    xr.Dataset({"absorbance": da}).to_netcdf(path, engine="h5netcdf")
    return str(path)


def test_edge_mask_steps_are_normalise_steps_and_clusters_use_the_same_rule():
    rng = np.random.default_rng(3)
    da, inside, _ = _particle_map(rng)
    em = edge_mask(da)
    flat = np.moveaxis(da.values.astype(float), 0, -1)
    _, _, step = normalise(flat, E, e0=em.e0, pre=(-60, -15), norm=(15, 200), return_edge=True)
    ok = np.isfinite(em.edge_step)
    np.testing.assert_allclose(em.edge_step[ok], step[ok], rtol=1e-9, atol=1e-12)
    assert np.array_equal(em.mask, inside)  # every particle pixel, no background pixel
    cl = lm.spectral_clusters(da, 2)
    assert np.array_equal(cl["mask"].values, em.mask) and cl.attrs["mask_rule"].startswith(em.rule)


def test_lcf_map_leaves_background_nan_by_default(tmp_path):
    da, inside, truth = _particle_map(np.random.default_rng(1))
    src = _write(tmp_path / "map.nc", da)
    # before: every background pixel got a valence (spread 2-4 on the noise); now they are NaN
    every = lcf_from_files(src, STD, mask="none")
    bg = every["mean_valence"].values[~inside]
    assert np.isfinite(bg).mean() > 0.5 and np.nanmax(bg) - np.nanmin(bg) > 1.0
    ds = lcf_from_files(src, STD)
    mv = ds["mean_valence"].values
    assert np.isnan(mv[~inside]).all() and np.isfinite(mv[inside]).all()
    assert np.array_equal(ds["mask"].values, inside) and ds.attrs["mask_rule"].startswith("edge step above")
    assert np.nanmean(np.abs(mv - truth)) < 0.05
    # the same with --no-auto-mask (API: auto_mask=False) as with mask "none"
    off = lcf_from_files(src, STD, auto_mask=False)
    np.testing.assert_array_equal(off["mean_valence"].values, every["mean_valence"].values)
    # a single spectrum is never masked
    one = lcf_from_files(lm.example_file("Mn3O4_rt_02.xdi"), STD)
    assert "mask" not in one and 2.6 < float(one.mean_valence) < 2.8


def test_lcf_cli_summary_and_mask_for_clusters_and_shells(tmp_path):
    da, inside, _ = _particle_map(np.random.default_rng(2))
    src = _write(tmp_path / "map.nc", da)
    out = tmp_path / "lcf.nc"
    res = runner.invoke(app, ["lcf", src, *STD_ARGS, "--out", str(out)])
    assert res.exit_code == 0, res.output
    n_out = int((~inside).sum())
    assert f"over {int(inside.sum())} pixels" in res.output and f"{n_out} pixels outside the particle" in res.output
    assert "window 6521-6620 eV (60 energies)" in res.output
    res = runner.invoke(app, ["clusters", src, "--n", "2", "--mask", str(out), "--no-figure",
                              "--out", str(tmp_path / "cl.nc")])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(tmp_path / "cl.nc", engine="h5netcdf") as cl:
        assert int(cl.attrs["n_pixels_clustered"]) == int(inside.sum())
    res = runner.invoke(app, ["shells", str(out), "--mask", str(out), "--out", str(tmp_path / "s.csv")])
    assert res.exit_code == 0, res.output
    assert f"shells of {int(inside.sum())} pixels" in res.output
    # a user mask wins; --mask none and --no-auto-mask fit every pixel
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, (inside & (np.arange(28) < 14)[:, None]).astype(np.uint8) * 255)
    res = runner.invoke(app, ["lcf", src, *STD_ARGS, "--mask", str(small), "--overwrite", "--out", str(out)])
    assert res.exit_code == 0 and "(mask given)" in res.output, res.output
    for opt in (["--mask", "none"], ["--no-auto-mask"]):
        res = runner.invoke(app, ["lcf", src, *STD_ARGS, *opt, "--overwrite", "--out", str(out)])
        assert res.exit_code == 0 and "outside the particle" not in res.output, res.output


def test_all_nan_energy_and_kev_energies_are_one_line_errors(tmp_path):
    da, _, _ = _particle_map(np.random.default_rng(4), n=12)
    nan = da.copy()
    nan[10] = np.nan
    with pytest.raises(LithmapError, match=f"NaN in every pixel at {E[10]:.6g} eV"):
        lcf_from_files(_write(tmp_path / "nan.nc", nan), STD)
    kev = da.assign_coords(energy=("energy", E / 1000, {"units": "eV"}))
    with pytest.raises(LithmapError, match=r"energies look like keV \(6.521-6.62\).*give the energies in eV"):
        lcf_from_files(_write(tmp_path / "kev.nc", kev), STD)
    res = runner.invoke(app, ["lcf", str(tmp_path / "kev.nc"), *STD_ARGS, "--out", str(tmp_path / "k.nc")])
    assert res.exit_code != 0 and "look like keV" in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "k.nc").exists()


def test_lcf_cli_i0_makes_intensity_optical_density(tmp_path):
    da, inside, _ = _particle_map(np.random.default_rng(5), n=16)
    energies = tmp_path / "energies.txt"
    energies.write_text("\n".join(f"{v:.4f}" for v in E) + "\n")
    tifffile.imwrite(tmp_path / "od.tif", da.values)
    tifffile.imwrite(tmp_path / "counts.tif", (1000.0 * np.exp(-da.values.astype(float))).astype(np.float32))
    outs = []
    for name, extra in (("od", []), ("counts", ["--i0", "1000"])):
        out = tmp_path / f"{name}.nc"
        res = runner.invoke(app, ["lcf", str(tmp_path / f"{name}.tif"), "--energies", str(energies), *STD_ARGS,
                                  *extra, "--out", str(out)])
        assert res.exit_code == 0, res.output
        with xr.open_dataset(out, engine="h5netcdf") as ds:
            outs.append(ds["mean_valence"].values)
    assert np.isfinite(outs[1][inside]).all()
    np.testing.assert_allclose(outs[1], outs[0], atol=1e-4)
