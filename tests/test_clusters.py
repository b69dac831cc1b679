"""`lithmap clusters` / lithmap.spectral_clusters: three phases mixed from the real Mn standards,
thickness varying ×4 across the map, 1 % noise, a sloped background → the phases come back as
clusters (adjusted Rand index), their LCF valences, thickness invariance, bad input."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
import xarray as xr
from sklearn.metrics import adjusted_rand_score
from typer.testing import CliRunner

import lithmap as lm
from lithmap.cli import app
from lithmap.errors import LithmapError

NAMES, VALENCES = ("MnO", "Mn2O3", "MnO2"), np.array([2.0, 3.0, 4.0])
SHIPPED = [f"{lm.example_file(n + '_rt_01.xdi')}:{v:g}" for n, v in zip(NAMES, VALENCES)]
OTHER_SCANS = Path(__file__).parent / "data" / "xanes-standards"
runner = CliRunner()


def _standards():
    """The shipped standards, each edge-step normalised, on the MnO2 scan's energies."""
    mus = [lm.read_spectra(lm.example_file(f"{n}_rt_01.xdi"))["mu"] for n in NAMES]
    e = mus[2]["energy"].values
    return e, np.stack([np.interp(e, m["energy"].values, lm.normalise(m).values) for m in mus])


def _absorbance(phase, t, rng, *, mixing=0.2, noise=0.01, jump=0.5, slope=-1e-3, offset=0.02):
    """Raw optical density: t·(jump·Σ w μ̃ + a sloped pre-edge background) + an offset, with w
    the pixel's phase plus up to ``mixing`` of a random mix of all three, and Gaussian noise of
    ``noise`` × the pixel's edge jump (of ``jump`` where t = 0, the background). Returns the
    DataArray (energy, ...) and the true mean valence of each pixel."""
    e, S = _standards()
    n = phase.size
    m = rng.uniform(0, mixing, n)
    w = (1 - m)[:, None] * np.eye(3)[np.clip(phase.ravel(), 0, 2)] + m[:, None] * rng.dirichlet([1, 1, 1], n)
    tt = t.ravel()
    od = tt[:, None] * (jump * (w @ S) + 0.3 + slope * (e - 6520.0)) + offset
    od += rng.normal(size=od.shape) * (noise * jump * np.where(tt > 0, tt, 1.0))[:, None]
    dims = ("z", "y", "x")[-phase.ndim:]
    coords = {"energy": ("energy", e, {"units": "eV"})}
    coords.update({d: (d, 50e-9 * np.arange(s), {"units": "m"}) for d, s in zip(dims, phase.shape)})
    da = xr.DataArray(od.T.reshape((e.size,) + phase.shape), dims=("energy",) + dims, coords=coords,
                      name="absorbance", attrs={"units": "1"})
    return da, (w @ VALENCES).reshape(phase.shape)


def _map2d(seed=1, background=True, scale=1.0, **kw):
    """40×40: an elliptical particle (background around it) in three wavy bands of MnO-, Mn2O3-
    and MnO2-rich material; the thickness rises ×4 from the left edge of the particle to the right."""
    y, x = np.mgrid[:40, :40]
    inside = ((y - 19.5) / 18) ** 2 + ((x - 19.5) / 19) ** 2 <= 1 if background else np.ones((40, 40), bool)
    phase = np.where(y < 13 + 2 * np.sin(x / 5), 0, np.where(y < 26 + 2 * np.cos(x / 4), 1, 2))
    phase = np.where(inside, phase, -1)
    xs = x[inside]
    t = np.where(inside, 1 + 3 * (x - xs.min()) / (xs.max() - xs.min()), 0.0) * scale
    da, val = _absorbance(phase, t, np.random.default_rng(seed), **kw)
    return da, phase, val


def _phase_valences(ds, phase, val):
    """(cluster valence, true mean valence of the phase it mostly holds) per cluster."""
    out = []
    c = ds["cluster"].values
    for i in range(ds.sizes["cluster"]):
        p = np.bincount(phase[(c == i) & (phase >= 0)], minlength=3).argmax()
        out.append((float(ds["cluster_mean_valence"][i]), float(val[phase == p].mean())))
    return out


def test_three_phases_thickness_x4_map_defaults():
    da, phase, val = _map2d()
    ds = lm.spectral_clusters(da, 3, standards=SHIPPED)
    ari = adjusted_rand_score(phase.ravel(), ds["cluster"].values.ravel())  # background is a class too
    print(f"2D map: adjusted Rand index {ari:.4f}")
    assert ari >= 0.9
    assert (ds["mask"].values == (phase >= 0)).mean() > 0.99  # the background found by the edge step
    # ordered by edge energy: MnO-rich (lowest edge) first, MnO2-rich last
    assert np.all(np.diff(ds["cluster_edge_energy"].values) > 0)
    assert ds["cluster_mean_valence"].values.tolist() == sorted(ds["cluster_mean_valence"].values.tolist())
    for got, true in _phase_valences(ds, phase, val):
        assert abs(got - true) < 0.1, (got, true)
    # a different scan of each standard (not those mixed) fits the clusters within 0.1 too
    other = [f"{OTHER_SCANS}/{n}_rt_02.xdi:{v:g}" for n, v in zip(NAMES, VALENCES)]
    ds2 = lm.spectral_clusters(da, 3, standards=other)
    for got, true in _phase_valences(ds2, phase, val):
        assert abs(got - true) < 0.1, (got, true)
    # the contract's variables and a sound decomposition
    assert ds["cluster"].dims == ("y", "x") and ds["cluster"].dtype.kind == "i"
    assert ds["cluster_spectrum"].dims == ("cluster", "energy") and ds["pca_component"].dims == ("component", "energy")
    assert ds["cluster_weights"].dims == ("cluster", "standard")
    ev = ds["explained_variance"].values
    assert ev.size == 3 and np.all(np.diff(ev) <= 0) and 0.9 < ev.sum() <= 1
    P = ds["pca_component"].values
    np.testing.assert_allclose(P @ P.T, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(ds["cluster_fraction"].sum(), 1.0)
    assert ds.attrs["seed"] == 0 and "Lerotic" in ds.attrs["citation"] and "Liu, Zeng" in ds.attrs["citation"]
    assert ds["cluster_edge_energy"].attrs["units"] == "eV"
    again = lm.spectral_clusters(da, 3)
    np.testing.assert_array_equal(again["cluster"].values, ds["cluster"].values)  # same seed, same labels


def test_three_phases_in_a_volume(tmp_path):
    # an ellipsoid (z, y, x) with an MnO-rich core, Mn2O3-rich middle shell and MnO2-rich surface
    z, y, x = np.mgrid[:8, :18, :18]
    r = np.sqrt(((z - 3.5) / 4) ** 2 + ((y - 8.5) / 9) ** 2 + ((x - 8.5) / 9) ** 2)
    inside = r <= 1
    phase = np.where(inside, np.digitize(r, [0.45, 0.75]), -1)
    t = np.where(inside, 1 + 3 * x / 17, 0.0)  # density ×4 across the volume
    da, val = _absorbance(phase, t, np.random.default_rng(2))
    ds = lm.spectral_clusters(da, 3)
    ari = adjusted_rand_score(phase.ravel(), ds["cluster"].values.ravel())
    print(f"3D volume: adjusted Rand index {ari:.4f}")
    assert ari >= 0.9 and ds["cluster"].dims == ("z", "y", "x")
    assert ds["pca_score"].dims == ("component", "z", "y", "x")
    fig = lm.plot_clusters(ds, tmp_path / "volume.png")
    assert fig.exists() and fig.stat().st_size > 5000


def test_doubling_the_thickness_changes_no_label():
    # no background: the auto mask keeps every pixel; then twice the material (same mix, same
    # relative noise) plus another sloped background gives the same labels
    da1, phase, _ = _map2d(seed=3, background=False)
    da2, _, _ = _map2d(seed=3, background=False, scale=2.0, offset=0.1, slope=-2.5e-3)
    assert not np.allclose(da1.values, da2.values / 2)
    ds1, ds2 = lm.spectral_clusters(da1, 3), lm.spectral_clusters(da2, 3)
    assert bool(ds1["mask"].all()) and "no background" in ds1.attrs["mask_rule"]
    np.testing.assert_array_equal(ds1["cluster"].values, ds2["cluster"].values)
    np.testing.assert_allclose(ds2["amplitude"].values / ds1["amplitude"].values, 2.0, rtol=1e-6)
    assert adjusted_rand_score(phase.ravel(), ds1["cluster"].values.ravel()) >= 0.9


def _tiny():
    """2×2 pixels: MnO, MnO2, Mn2O3 and twice MnO (three distinct shapes), noise-free."""
    e, S = _standards()
    cube = np.stack([S[0], S[2], S[1], 2 * S[0]], axis=1).reshape(e.size, 2, 2)
    return xr.DataArray(cube, dims=("energy", "y", "x"), coords={"energy": e})


@pytest.mark.parametrize("kwargs, message", [
    ({"n_clusters": 1}, "n_clusters=1"),
    ({"n_clusters": 2.5}, "n_clusters=2.5"),
    ({"n_clusters": 5}, "more than the 4 pixels"),
    ({"n_clusters": 2, "n_components": 0}, "n_components=0"),
    ({"n_clusters": 2, "mask": np.ones((3, 3), bool)}, "mask has shape"),
    ({"n_clusters": 3, "mask": np.eye(2, dtype=bool)}, "more than the 2 pixels in the mask"),
    ({"n_clusters": 2, "window": "7000:7100eV"}, "holds 0 energies"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(LithmapError, match=message):
        lm.spectral_clusters(_tiny(), **kwargs)


def test_bad_maps():
    with pytest.raises(LithmapError, match="expected an 'energy' dim"):
        lm.spectral_clusters(xr.DataArray(np.ones((3, 2, 2)), dims=("e", "y", "x")), 2)
    with pytest.raises(LithmapError, match="no 'energy' coordinate"):
        lm.spectral_clusters(xr.DataArray(np.ones((3, 2, 2)), dims=("energy", "y", "x")), 2)
    with pytest.raises(LithmapError, match="single spectrum"):
        lm.spectral_clusters(lm.read_spectra(lm.example_file("MnO_rt_01.xdi")), 2)
    with pytest.raises(LithmapError, match="distinct spectra"):  # four identical pixels
        lm.spectral_clusters(_tiny().isel(x=[0, 0], y=[0, 0]), 2)


def _write_map(path, da):
    xr.Dataset({"absorbance": da}).to_netcdf(path, engine="h5netcdf")
    return str(path)


def test_cli_clusters_writes_result_and_figure(tmp_path):
    da, phase, val = _map2d()
    src = _write_map(tmp_path / "map.nc", da)
    out = tmp_path / "clusters.nc"
    std = [a for s in SHIPPED for a in ("--standard", s)]
    res = runner.invoke(app, ["clusters", src, "--n", "3", *std, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "3 clusters of" in res.output and "valence" in res.output and out.with_suffix(".png").exists()
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds["cluster"].dims == ("y", "x")
        assert {"cluster_spectrum", "pca_component", "explained_variance", "cluster_fraction", "cluster_weights",
                "cluster_mean_valence"} <= set(ds.variables)
        assert adjusted_rand_score(phase.ravel(), ds["cluster"].values.ravel()) >= 0.9
    # a mask file, a window, no figure, --overwrite
    mask = tmp_path / "mask.tif"
    tifffile.imwrite(mask, (phase >= 0).astype(np.uint8) * 255)
    res = runner.invoke(app, ["clusters", src, "--n", "3", "--mask", str(mask), "--window", "6530:6600eV",
                              "--components", "2", "--no-figure", "--overwrite", "--out", str(out)])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.sizes["component"] == 2 and float(ds["energy"].min()) >= 6530
        assert int(ds.attrs["n_pixels_clustered"]) == int((phase >= 0).sum())


@pytest.mark.parametrize("case, message", [
    ("n1", "n_clusters=1"),
    ("more_than_pixels", "more than the 4 pixels"),
    ("no_energy", "energy"),
    ("more_than_mask", "pixels in the mask"),
    ("exists", "already exists"),
])
def test_cli_clusters_bad_input_is_one_line_and_writes_nothing(tmp_path, case, message):
    src = _write_map(tmp_path / "map.nc", _tiny())
    out = tmp_path / "clusters.nc"
    args = ["clusters", src, "--n", "2", "--out", str(out)]
    if case == "n1":
        args[3] = "1"
    elif case == "more_than_pixels":
        args[3] = "5"
    elif case == "no_energy":
        bad = tmp_path / "noenergy.nc"
        xr.Dataset({"absorbance": (("energy", "y", "x"), np.ones((5, 2, 2)))}).to_netcdf(bad, engine="h5netcdf")
        args[1] = str(bad)
    elif case == "more_than_mask":
        mask = tmp_path / "mask.tif"
        tifffile.imwrite(mask, np.array([[255, 0], [0, 0]], np.uint8))
        args += ["--mask", str(mask)]
    elif case == "exists":
        out.write_text("keep me")
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert message in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not out.with_suffix(".png").exists()
    assert (out.read_text() == "keep me") if case == "exists" else not out.exists()


def test_clusters_under_one_percent_are_flagged(tmp_path):
    """K too large: a cluster of a handful of pixels is named in the attrs and the summary line."""
    da, phase, _ = _map2d()
    assert lm.spectral_clusters(da, 3).attrs["small_clusters"] == []
    odd = da.copy()
    e = da["energy"].values
    spot = (slice(18, 21), slice(18, 21))  # 9 pixels, 0.7 % of the particle: an edge 8 eV higher
    odd.values[(slice(None),) + spot] = np.interp(e - 8.0, e, da.values[:, 19, 19])[:, None, None]
    ds = lm.spectral_clusters(odd, 4)
    small = ds.attrs["small_clusters"]
    assert len(small) == 1 and int(ds["cluster_size"][small[0]]) == 9
    assert "n_clusters=4 is probably too large" in ds.attrs["warning"]
    src = _write_map(tmp_path / "odd.nc", odd)
    res = runner.invoke(app, ["clusters", src, "--n", "4", "--no-figure", "--out", str(tmp_path / "c.nc")])
    assert res.exit_code == 0 and "warning: 1 of 4 clusters" in res.output, res.output


def test_a_results_own_mask_is_used_first(tmp_path):
    """A map file that stores a particle `mask` (as lithmap reconstruct and lcf write it): the
    clusters keep to it without --mask, as lcf does."""
    da, phase, _ = _map2d()
    stored = (phase >= 0) & (np.arange(40)[None, :] < 20)  # the left half of the particle only
    path = tmp_path / "with_mask.nc"
    xr.Dataset({"absorbance": da, "mask": (("y", "x"), stored.astype(np.int8))}).to_netcdf(path, engine="h5netcdf")
    ds = lm.spectral_clusters(str(path), 3)
    assert np.array_equal(ds["cluster"].values >= 0, stored)
    assert (lm.spectral_clusters(da, 3)["cluster"].values >= 0).sum() > stored.sum()  # without it: the whole particle
