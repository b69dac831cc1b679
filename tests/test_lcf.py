"""Linear-combination fitting (issue: X-ray spectro-microscopy).

Real data: Mn K-edge XANES of MnO (Mn2+), Mn2O3 (Mn3+), MnO2 (Mn4+) and Mn3O4 (nominal 2.67),
three scans each (tests/data/xanes-standards, XAS Data Library, CC0). The fitting window is
6535-6580 eV: from just below the pre-edge peak to past the white lines, where the valences
differ; the normalisation (pre-edge line e0-60..e0-15 eV, post-edge line e0+15 eV..end) uses
the whole scan.
"""

from pathlib import Path

import numpy as np
import pytest
import tifffile
import xarray as xr
from scipy import optimize, stats

from lithmap.errors import LithmapError
from lithmap.io import read_xdi
from lithmap.io.results import read_result, write_result
from lithmap.spectro import (
    fit_lcf,
    interpolate_standards,
    lcf_from_files,
    normalise,
    parse_standard,
    parse_window,
    select_window,
)

DATA = Path(__file__).parent / "data" / "xanes-standards"
WINDOW = "6535:6580eV"
VALENCE = {"MnO": 2.0, "Mn2O3": 3.0, "MnO2": 4.0}
SCANS = ("01", "02", "03")


def standards(scan):
    return [f"{DATA / f'{name}_rt_{scan}.xdi'}:{v:g}" for name, v in VALENCE.items()]


@pytest.fixture(scope="module")
def real_matrix():
    """Normalised MnO, Mn2O3, MnO2 (scan 01) on the Mn3O4 grid in the window: (n, 3)."""
    std = {name: normalise(read_xdi(DATA / f"{name}_rt_01.xdi")["mu"]) for name in VALENCE}
    grid = select_window(normalise(read_xdi(DATA / "Mn3O4_rt_01.xdi")["mu"]), 6535, 6580)
    return interpolate_standards(std, grid["energy"])


# --------------------------------------------------------------------------- real standards


@pytest.mark.parametrize("scan", SCANS)
def test_mn3o4_mean_valence_from_each_set_of_standards(scan):
    ds = lcf_from_files([DATA / f"Mn3O4_rt_{s}.xdi" for s in SCANS], standards(scan), window=WINDOW)
    assert ds["weights"].dims == ("sample", "standard")
    mv = ds["mean_valence"].values
    assert mv.shape == (3,)
    assert np.all((mv > 2.6) & (mv < 2.8)), mv  # known: 2.6-2.8 (nominal 8/3)
    np.testing.assert_allclose(ds["fit_sum"], 1.0, atol=1e-12)
    assert (ds["weights"] >= 0).all()
    assert (ds["r_factor"] < 0.01).all()  # a fit, not just a number
    assert np.all(np.abs(ds["standard_energy_shift"]) < 0.5)  # same session: the foils agree


@pytest.mark.parametrize("scan", SCANS)
def test_each_standard_recovers_its_own_valence_from_other_scans(scan):
    others = [s for s in SCANS if s != scan]
    files = [DATA / f"{name}_rt_{s}.xdi" for name in VALENCE for s in others]
    ds = lcf_from_files(files, standards(scan), window=WINDOW)
    expected = np.repeat(list(VALENCE.values()), len(others))
    np.testing.assert_allclose(ds["mean_valence"], expected, atol=0.1)


def test_result_writes_to_netcdf_and_names_standards(tmp_path):
    ds = lcf_from_files(DATA / "Mn3O4_rt_02.xdi", standards("01"), window=WINDOW)
    assert list(ds["standard"].values) == ["MnO_rt_01", "Mn2O3_rt_01", "MnO2_rt_01"]
    np.testing.assert_allclose(ds["valence"], [2, 3, 4])
    assert ds.attrs["window_lo"] == 6535 and ds.attrs["window_hi"] == 6580
    assert ds["weights"].dims == ("standard",) and ds["mean_valence"].ndim == 0
    back = read_result(write_result(ds, tmp_path / "lcf.nc"))
    np.testing.assert_allclose(back["mean_valence"], ds["mean_valence"])
    np.testing.assert_allclose(back["weights"], ds["weights"])
    several = lcf_from_files([DATA / "Mn3O4_rt_02.xdi", DATA / "MnO_rt_02.xdi"], standards("01"), window=WINDOW)
    back = read_result(write_result(several, tmp_path / "two.nc"))
    np.testing.assert_allclose(back["mean_valence"][0], ds["mean_valence"])
    assert [Path(s).name for s in back["sample"].values] == ["Mn3O4_rt_02.xdi", "MnO_rt_02.xdi"]


# ----------------------------------------------------------------------- synthetic maps


def sum_constrained_covariance(A):
    """Covariance / sigma² of the Σw = 1 least-squares weights: G⁻¹ − G⁻¹11ᵀG⁻¹ / 1ᵀG⁻¹1."""
    Gi = np.linalg.inv(A.T @ A)
    g = Gi.sum(axis=1)
    return Gi - np.outer(g, g) / g.sum()


def simplex_fractions(rng, shape, k):
    w = rng.dirichlet(np.ones(k), size=shape)
    flat = w.reshape(-1, k)
    flat[::7, rng.integers(k)] = 0.0  # every 7th pixel on a face of the simplex
    flat /= flat.sum(axis=1, keepdims=True)
    return w


def test_synthetic_map_exact_without_noise(real_matrix):
    A = real_matrix.values
    rng = np.random.default_rng(10)
    W = simplex_fractions(rng, (40, 50), 3)
    ds = fit_lcf(W @ A.T, real_matrix, [2, 3, 4])
    assert ds["weights"].dims == ("y", "x", "standard")
    np.testing.assert_allclose(ds["weights"], W, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ds["mean_valence"], W @ [2, 3, 4], rtol=0, atol=1e-10)
    assert float(ds["residual"].max()) < 1e-6 and ds.attrs["n_nan_pixels"] == 0


def test_synthetic_map_with_noise_within_derived_tolerances(real_matrix):
    A = real_matrix.values
    k = A.shape[1]
    sigma = 0.01  # 1 % of the edge step per energy, a typical map
    rng = np.random.default_rng(11)
    W = simplex_fractions(rng, (64, 64), k)
    b = W @ A.T + rng.normal(0.0, sigma, W.shape[:-1] + (A.shape[0],))
    ds = fit_lcf(b, real_matrix, [2, 3, 4], model="sum-to-one")  # normalised pixels: the Σw = 1 fit
    err = (ds["weights"].values - W).reshape(-1, k)
    P = sum_constrained_covariance(A)
    # the constrained fit is the G-metric projection of the Σw = 1 fit onto the simplex, which
    # holds the truth: its error in the G-norm is at most that fit's, sigma² χ²(k − 1)
    G = A.T @ A
    g_norm2 = np.einsum("ij,jk,ik->i", err, G, err) / sigma**2
    limit = stats.chi2.isf(1e-6, k - 1)
    assert g_norm2.max() <= limit
    r = np.sqrt(limit)
    assert np.all(np.abs(err) <= r * np.sqrt(np.diag(P)) * sigma + 1e-12)
    v = np.array([2.0, 3.0, 4.0])
    assert np.all(np.abs(ds["mean_valence"].values.ravel() - W.reshape(-1, k) @ v) <= r * np.sqrt(v @ P @ v) * sigma)
    # pixels well inside the simplex: no constraint binds, errors are Gaussian with covariance
    # sigma² P (the rms matches to sampling error, ~2 % here)
    inner = (W.reshape(-1, k) > 8 * sigma * np.sqrt(np.diag(P)).max()).all(axis=1)
    assert inner.sum() > 1500
    ratio = err[inner].std(axis=0) / (sigma * np.sqrt(np.diag(P)))
    assert np.all((ratio > 0.9) & (ratio < 1.1)), ratio
    assert abs(err[inner].mean(axis=0)).max() < 4 * sigma * np.sqrt(np.diag(P)).max() / np.sqrt(inner.sum())
    # and the residual is the noise
    assert float(ds["residual"].mean()) == pytest.approx(sigma * np.sqrt(1 - (k - 1) / A.shape[0]), rel=0.02)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_synthetic_volume_energy_first_dataarray(real_matrix, dtype):
    A = real_matrix.values
    rng = np.random.default_rng(12)
    W = simplex_fractions(rng, (6, 12, 10), 3)
    sigma = 0.005
    cube = np.einsum("zyxk,ek->ezyx", W, A) + rng.normal(0, sigma, (A.shape[0], 6, 12, 10))
    da = xr.DataArray(cube.astype(dtype), dims=("energy", "z", "y", "x"),
                      coords={"energy": real_matrix["energy"], "z": np.arange(6) * 50e-9})
    ds = fit_lcf(da, real_matrix, [2, 3, 4], model="sum-to-one")
    assert ds["weights"].dims == ("z", "y", "x", "standard")
    np.testing.assert_allclose(ds["z"], np.arange(6) * 50e-9)  # coordinates carried over
    P = sum_constrained_covariance(A)
    r = np.sqrt(stats.chi2.isf(1e-6, 2))
    err = ds["weights"].values - W
    assert np.all(np.abs(err) <= r * sigma * np.sqrt(np.diag(P)) + 1e-5)
    v = np.array([2.0, 3.0, 4.0])
    assert np.all(np.abs(ds["mean_valence"].values - W @ v) <= r * sigma * np.sqrt(v @ P @ v) + 1e-5)
    # the same pixels laid out energy-last as a plain array give the same answer
    again = fit_lcf(np.moveaxis(cube.astype(dtype), 0, -1), A, [2, 3, 4], model="sum-to-one")
    np.testing.assert_allclose(again["weights"], ds["weights"], rtol=0, atol=1e-12)


def test_exact_volume_without_noise(real_matrix):
    A = real_matrix.values
    W = simplex_fractions(np.random.default_rng(13), (4, 5, 6), 3)
    ds = fit_lcf(xr.DataArray(np.einsum("zyxk,ek->ezyx", W, A), dims=("energy", "z", "y", "x")), A, [2, 3, 4])
    assert ds["weights"].dims == ("z", "y", "x", "standard")
    np.testing.assert_allclose(ds["weights"], W, rtol=0, atol=1e-10)


# -------------------------------------------------------------- exactness against scipy


def reference_solution(A, b, *, sum_to_one, nonneg, offset):
    """The same problem solved independently with scipy: NNLS (Lawson-Hanson) for w ≥ 0, the
    sum constraint by the method of multipliers around it, an offset as two non-negative
    columns (+1, −1); without w ≥ 0, dense least squares / the KKT system."""
    n, k = A.shape
    M = np.concatenate([A, np.ones((n, 1)), -np.ones((n, 1))], axis=1) if offset else A
    s = np.r_[np.ones(k), np.zeros(M.shape[1] - k)]
    if not nonneg:
        cols = A if not offset else np.concatenate([A, np.ones((n, 1))], axis=1)
        if not sum_to_one:
            return np.linalg.lstsq(cols, b, rcond=None)[0][:k]
        m = cols.shape[1]
        t = np.r_[np.ones(k), np.zeros(m - k)]
        K = np.block([[cols.T @ cols, t[:, None]], [t[None, :], np.zeros((1, 1))]])
        return np.linalg.solve(K, np.r_[cols.T @ b, 1.0])[:k]
    if not sum_to_one:
        return optimize.nnls(M, b)[0][:k]
    rho = 10 * np.linalg.norm(A)
    y = 0.0
    for _ in range(500):
        w = optimize.nnls(np.vstack([M, rho * s]), np.r_[b, rho * (1.0 - y)], maxiter=1000)[0]
        gap = s @ w - 1.0
        y += gap
        if abs(gap) < 1e-15:
            break
    return w[:k]


def kkt_violation(A, b, w, *, sum_to_one):
    """Largest violation of the KKT conditions of min ||Aw − b||², w ≥ 0 (, Σw = 1), relative
    to the gradient's scale: equal gradients on the support, not smaller off it."""
    g = A.T @ (A @ w - b)
    scale = np.abs(A.T @ b).max() + np.abs(A.T @ A).max()
    on = w > 1e-9
    lam = -g[on].mean() if sum_to_one else 0.0
    viol = np.abs(g[on] + lam).max(initial=0.0)
    viol = max(viol, max(0.0, -(g[~on] + lam).min(initial=0.0)))
    return viol / scale


OPTIONS = [
    {"sum_to_one": True, "nonneg": True, "offset": False},
    {"sum_to_one": False, "nonneg": True, "offset": False},
    {"sum_to_one": True, "nonneg": False, "offset": False},
    {"sum_to_one": False, "nonneg": False, "offset": False},
    {"sum_to_one": True, "nonneg": True, "offset": True},
    {"sum_to_one": False, "nonneg": True, "offset": True},
]


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: "-".join(k for k, v in o.items() if v) or "free")
def test_weights_equal_independent_scipy_solution(real_matrix, opts):
    A = real_matrix.values
    rng = np.random.default_rng(20)
    # truths inside and far outside the simplex, so that constraints bind on many pixels
    W = np.concatenate([rng.dirichlet(np.ones(3), 60), rng.normal(0.3, 0.8, (90, 3))])
    b = W @ A.T + rng.normal(0, 0.02, (150, A.shape[0])) + (0.05 if opts["offset"] else 0.0)
    ds = fit_lcf(b, A, [2, 3, 4], **opts)
    w = ds["weights"].values
    ref = np.array([reference_solution(A, bi, **opts) for bi in b])
    np.testing.assert_allclose(w, ref, rtol=0, atol=1e-8)
    if opts["nonneg"]:
        active = (w <= 0).any(axis=1)
        assert 30 <= active.sum() < 150  # the sample holds both kinds of pixels
        if not opts["offset"]:
            viol = [kkt_violation(A, bi, wi, sum_to_one=opts["sum_to_one"]) for bi, wi in zip(b, w)]
            assert max(viol) < 1e-10
    if opts["sum_to_one"]:
        np.testing.assert_allclose(ds["fit_sum"], 1.0, atol=1e-12)
    # the residual from the Gram identity equals the one computed from the spectra
    cols = np.concatenate([A, np.ones((A.shape[0], 1))], axis=1) if opts["offset"] else A
    coef = np.concatenate([w, ds["offset"].values[:, None]], axis=1) if opts["offset"] else w
    rms = np.sqrt(((b - coef @ cols.T) ** 2).mean(axis=1))
    np.testing.assert_allclose(ds["residual"], rms, rtol=1e-8)
    np.testing.assert_allclose(ds["r_factor"], ((b - coef @ cols.T) ** 2).sum(1) / (b**2).sum(1), rtol=1e-8)


def test_compiled_and_numpy_paths_agree_with_nan_and_mask(real_matrix):
    A = real_matrix.values
    rng = np.random.default_rng(21)
    b = rng.normal(0.3, 0.8, (20, 30, 3)) @ A.T + rng.normal(0, 0.02, (20, 30, A.shape[0]))
    b[3, 4, 10] = np.nan
    b[7, 8, :] = np.nan
    b[9, 9, 0] = np.inf
    mask = np.ones((20, 30), bool)
    mask[:2] = False
    for opts in OPTIONS:
        a = fit_lcf(b, A, [2, 3, 4], mask=mask, use_numba=True, **opts)
        c = fit_lcf(b, A, [2, 3, 4], mask=mask, use_numba=False, **opts)
        for name in ("weights", "mean_valence"):
            np.testing.assert_allclose(a[name], c[name], rtol=1e-10, atol=1e-12)
        # the residual comes from bᵀb − 2wᵀAᵀb + wᵀGw: summation order shows at ~eps·cond(G)·bᵀb/rss
        np.testing.assert_allclose(a["residual"], c["residual"], rtol=1e-8)
        assert a.attrs["n_nan_pixels"] == 3 and a.attrs["n_masked_pixels"] == 60
        assert np.isnan(a["weights"].values[:2]).all() and np.isnan(a["weights"].values[7, 8]).all()
        assert np.isfinite(a["weights"].values[2:]).sum() == (18 * 30 - 3) * 3


# ------------------------------------------------------------------------------ bad input


def test_bad_inputs_name_the_bad_value(real_matrix):
    A = real_matrix.values
    b = A @ [0.2, 0.3, 0.5]
    with pytest.raises(LithmapError, match="2 energies cannot determine 3 standards"):
        fit_lcf(b[:2], A[:2])
    mix = np.column_stack([A, 0.5 * A[:, 0] + 0.5 * A[:, 1]])
    with pytest.raises(LithmapError, match=r"standards 'MnO', 'Mn2O3', 'mix' are collinear"):
        fit_lcf(b, mix, names=["MnO", "Mn2O3", "MnO2", "mix"])
    bad = A.copy()
    bad[5, 1] = np.nan
    with pytest.raises(LithmapError, match=r"standard 'Mn2O3' is nan at energy index 5 \(65\d\d"):
        fit_lcf(b, real_matrix.copy(data=bad))
    with pytest.raises(LithmapError, match=f"sample has {A.shape[0] - 1} energies but the standards have {A.shape[0]}"):
        fit_lcf(b[:-1], A)
    with pytest.raises(LithmapError, match="2 valences for 3 standards"):
        fit_lcf(b, A, [2, 3])
    with pytest.raises(LithmapError, match=r"mask has shape \(3,\); expected the sample's pixel shape \(4,\)"):
        fit_lcf(np.tile(b, (4, 1)), A, mask=[True, False, True])
    with pytest.raises(LithmapError, match="different energy grids"):
        fit_lcf(xr.DataArray(b, dims="energy", coords={"energy": real_matrix.energy.values + 1}), real_matrix)


def test_bad_file_inputs(tmp_path):
    with pytest.raises(LithmapError, match=r"standard 'MnO.xdi' is invalid; expected FILE:VALENCE"):
        parse_standard("MnO.xdi")
    with pytest.raises(LithmapError, match="valence 'two'"):
        parse_standard("MnO.xdi:two")
    assert parse_standard("a.prj:MnO:2") == ("a.prj:MnO", 2.0)
    assert parse_window("6.535:6.58keV") == pytest.approx((6535.0, 6580.0))
    with pytest.raises(LithmapError, match="window '6580:6535eV' is invalid"):
        parse_window("6580:6535eV")
    mno = read_xdi(DATA / "MnO_rt_01.xdi").sel(energy=slice(6500, 6600))
    short = tmp_path / "MnO_short.txt"
    np.savetxt(short, np.column_stack([mno.energy, mno.mu]), header="energy mu")
    stds = [f"{short}:2"] + standards("01")[1:]
    with pytest.raises(LithmapError,
                       match=r"standard 'MnO_short' covers 6520-6599.68 eV but the window needs 6535.02-6619.41 eV"):
        lcf_from_files(DATA / "Mn3O4_rt_01.xdi", stds, window="6535:6620eV")
    assert lcf_from_files(DATA / "Mn3O4_rt_01.xdi", stds, window="6535:6580eV")["mean_valence"] > 2.5
    with pytest.raises(LithmapError, match="missing.xdi' does not exist"):
        lcf_from_files(tmp_path / "missing.xdi", standards("01"))


# ------------------------------------------------------------------------ image samples


def test_tiff_stack_and_netcdf_samples_through_lcf_from_files(tmp_path):
    """A (y, x) stack made of the real standards with known fractions, as a TIFF with an
    energies file (the CLI's input) and as a NetCDF volume."""
    names = list(VALENCE)
    raw = {n: read_xdi(DATA / f"{n}_rt_01.xdi") for n in names}
    e = raw["MnO"]["energy"].values  # all scans share this grid
    rng = np.random.default_rng(30)
    W = simplex_fractions(rng, (12, 14), 3)
    mus = np.stack([raw[n]["mu"].values for n in names], axis=1)  # (n, 3)
    stack = np.einsum("yxk,ek->eyx", W, mus)
    tifffile.imwrite(tmp_path / "map.tif", stack.astype(np.float32), photometric="minisblack")
    (tmp_path / "energies.txt").write_text("\n".join(f"{x:.4f}" for x in e))
    stds = standards("01")
    ds = lcf_from_files(tmp_path / "map.tif", stds, energies=tmp_path / "energies.txt", window=WINDOW,
                        normalise=False, align=False)
    assert ds["weights"].dims == ("y", "x", "standard")
    np.testing.assert_allclose(ds["weights"], W, atol=2e-5)  # float32 storage of the stack
    # by default (a map: free amplitudes of the Larch-normalised standards plus a linear
    # background) the pixels, mixtures of raw spectra with different edge steps and pre-edge
    # lines, give the edge-step-weighted fractions exactly (to the float32 storage); not aligned:
    # the pixels were made from the standards' own energies
    dsn = lcf_from_files(tmp_path / "map.tif", stds, energies=tmp_path / "energies.txt", window=WINDOW, align=False)
    steps = dsn["standard_edge_step"].values
    frac = W * steps / (W * steps).sum(axis=-1, keepdims=True)
    assert dsn.attrs["model"] == "amplitudes" and "edge_step" not in dsn
    np.testing.assert_allclose(dsn["weights"], frac, atol=1e-6)
    np.testing.assert_allclose(dsn["edge_jump"], (W * steps).sum(axis=-1), rtol=1e-6)
    # the sum-to-one fit, each pixel normalised at the map's common e0: the old default
    old = lcf_from_files(tmp_path / "map.tif", stds, energies=tmp_path / "energies.txt", window=WINDOW,
                         align=False, model="sum-to-one")
    assert old["edge_step"].dims == ("y", "x") and old["e0"].ndim == 0
    # (each pixel's post-edge line, fitted over its own oscillations, is not the mixture of the
    # standards' lines: a bias of about 0.1 in valence that the amplitudes fit does not have)
    got, want = old["mean_valence"].values.ravel(), (frac @ [2, 3, 4]).ravel()
    assert np.abs(got - want).max() < 0.15 and np.corrcoef(got, want)[0, 1] > 0.99
    assert np.abs(dsn["mean_valence"].values.ravel() - want).max() < 1e-3 * np.abs(got - want).mean()

    vol = np.einsum("zyxk,ek->ezyx", W.reshape(3, 4, 14, 3), mus)
    xr.Dataset({"absorbance": (("energy", "z", "y", "x"), vol)},
               coords={"energy": ("energy", e, {"units": "eV"})}).to_netcdf(tmp_path / "vol.nc", engine="h5netcdf")
    dv = lcf_from_files(tmp_path / "vol.nc", stds, window=WINDOW, normalise=False, align=False)
    assert dv["weights"].dims == ("z", "y", "x", "standard")
    np.testing.assert_allclose(dv["weights"].values.reshape(12, 14, 3), W, atol=1e-10)
