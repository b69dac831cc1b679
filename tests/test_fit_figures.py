"""The model-vs-movie figures of a fit (lithmap.plot_fit; Xu, Merryweather et al., Joule 2022,
Fig. 3C-F): files written as PNG, optional panels left out, bad input refused in one line,
nothing overwritten or half-written."""

import struct

import numpy as np
import pytest
import xarray as xr

import lithmap as lm
from lithmap.imaging.profiles import line_sampler
from lithmap.report import fit_figures
from lithmap.report.fit_figures import _sample, _View

PX = 50e-9


def fake_fit(*, rings=True, contrast=True, misfit=True, diffusivity=False, line=True, synthetic=False):
    """A fit-like Dataset: a 1.2 µm × 0.8 µm elliptical particle delithiating from its edge
    (θ = θ0 − a t r²), the 'movie' the model plus noise."""
    rng = np.random.default_rng(1)
    t = np.array([0.0, 120.0, 240.0, 360.0, 480.0, 600.0])
    yy, xx = np.mgrid[0:24, 0:32]
    r2 = ((yy - 11.5) / 8.0) ** 2 + ((xx - 15.5) / 12.0) ** 2
    inside = r2 <= 1
    sim = np.where(inside, 0.97 - 0.15 * (t[:, None, None] / 600) * r2, np.nan)
    meas = sim + np.where(inside, rng.normal(0, 0.004, sim.shape), np.nan)
    dims = ("time", "y", "x")
    coords = {"time": ("time", t, {"units": "s"}), "y": ("y", yy[:, 0] * PX, {"units": "m"}),
              "x": ("x", xx[0] * PX, {"units": "m"})}
    ds = xr.Dataset({"mask": (("y", "x"), inside.astype(np.int8)), "theta_simulated": (dims, sim),
                     "theta_measured": (dims, meas), "theta_residual": (dims, sim - meas),
                     "alpha": 2.7, "alpha_low": 2.3, "alpha_high": 3.2, "misfit": 1.6e-5}, coords=coords)
    ds.attrs.update({"protocol": "Charge at C/3 for 600 s", "material": "nmc811", "reference_frame": 0})
    if line:
        ds.attrs["profile_line"] = np.array([11.5, 3.0, 11.5, 28.0])
    if synthetic:
        ds.attrs["synthetic"] = 1
    if contrast:
        ds["contrast_simulated"] = (dims, 0.8 * (0.97 - sim))
        ds["contrast_measured"] = (dims, 0.8 * (0.97 - meas))
    if rings:
        edges = np.quantile(r2[inside], [0, 0.25, 0.5, 0.75, 1.0])
        ring = np.clip(3 - np.searchsorted(edges[1:-1], r2), 0, 3)  # 0 = edge
        for name, f in (("simulated", sim), ("measured", meas)):
            ds[f"ring_theta_{name}"] = (("time", "ring_index"),
                                        np.stack([np.nanmean(f[:, inside & (ring == k)], axis=1) for k in range(4)], 1))
        ds = ds.assign_coords(ring_index=np.arange(4))
    if misfit:
        a = np.array([1.0, 1.8, 2.4, 2.7, 3.0, 4.5, 8.0])
        ds = ds.assign_coords(alpha_grid=a)
        ds["misfit_curve"] = ("alpha_grid", 1.6e-5 * (1 + np.log(a / 2.7) ** 2))
    if diffusivity:
        th = np.linspace(0.8, 0.97, 5)
        d = 1e-14 * np.exp(-30 * (th - 0.8))
        ds = ds.assign_coords(theta=th)
        ds["diffusivity"] = ("theta", d, {"units": "m^2/s"})
        ds["diffusivity_low"] = ("theta", d / 2)
        ds["diffusivity_high"] = ("theta", d * 2)
        ds["diffusivity_prior"] = ("theta", d * 1.3)
    return ds


def png_size(path):
    """(width, height) from a PNG's IHDR chunk; fails unless the file is a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """The figures of a full fit (with D(θ)) and of a bare one (θ maps only), drawn once."""
    root = tmp_path_factory.mktemp("figures")
    full = lm.plot_fit(fake_fit(diffusivity=True), root / "out" / "fit", dpi=50)
    bare_ds = fake_fit(rings=False, contrast=False, misfit=False, line=False).drop_vars(["theta_residual", "mask"])
    bare = lm.plot_fit(bare_ds, root / "bare", dpi=50)
    return root, full, bare


def test_writes_the_four_figures_as_png(drawn):
    root, full, _ = drawn
    assert [p.name for p in full] == ["fit_maps.png", "fit_kymograph.png", "fit_traces.png", "fit_misfit.png"]
    for p in full:
        assert p.parent == root / "out"
        w, h = png_size(p)
        assert w > 100 and h > 100
    assert not list((root / "out").glob(".*tmp*"))  # no temporary left


def test_missing_optional_variables_skip_their_panels(drawn, tmp_path):
    _, full, bare = drawn
    assert [p.name for p in bare] == ["bare_maps.png", "bare_kymograph.png", "bare_traces.png"]  # no misfit figure
    size = {p.name.split("_", 1)[1]: png_size(p) for p in full}
    size_bare = {p.name.split("_", 1)[1]: png_size(p) for p in bare}
    assert size_bare["traces.png"][1] < 0.6 * size["traces.png"][1]  # 1 panel instead of 3
    assert size_bare["kymograph.png"][1] < 0.75 * size["kymograph.png"][1]  # no contrast row
    assert size_bare["maps.png"] == pytest.approx(size["maps.png"], rel=0.1)  # residual computed, same layout
    alpha_only = tmp_path / "misfit.png"
    fit_figures._plot_misfit(_View(fake_fit()), alpha_only, 50)
    assert png_size(alpha_only)[0] < 0.7 * size["misfit.png"][0]  # no D(θ) panel beside the misfit


def test_a_dataset_that_is_not_a_fit_is_one_line_error(tmp_path):
    movie = xr.Dataset({"total_contrast": (("time", "y", "x"), np.zeros((2, 4, 4)))})
    with pytest.raises(lm.LithmapError, match="not a fit result: it lacks theta_simulated, theta_measured") as err:
        lm.plot_fit(movie, tmp_path / "fit")
    assert "\n" not in str(err.value)
    path = tmp_path / "contrast.nc"
    movie.to_netcdf(path)
    with pytest.raises(lm.LithmapError, match="contrast.nc' is not a fit result"):
        lm.plot_fit(path, tmp_path / "fit")
    wrong = fake_fit().assign(theta_measured=(("time", "z"), np.zeros((6, 3))))
    with pytest.raises(lm.LithmapError, match="theta_measured .* has dims"):
        lm.plot_fit(wrong, tmp_path / "fit")
    assert not list(tmp_path.glob("*.png"))


@pytest.fixture
def quick(monkeypatch):
    """Drawing replaced by writing the dpi (the file logic is what is tested)."""
    def write(*args):
        path, dpi = args[-2], args[-1]
        path.write_text(f"figure at {dpi} dpi")

    for name in ("_plot_maps", "_plot_kymographs", "_plot_traces", "_plot_misfit"):
        monkeypatch.setattr(fit_figures, name, write)


def test_existing_files_are_kept_unless_overwrite(tmp_path, quick):
    ds = fake_fit(rings=False, contrast=False)
    first = lm.plot_fit(ds, tmp_path / "fit.nc", dpi=40)  # the result's suffix is dropped
    assert [p.name for p in first] == ["fit_maps.png", "fit_kymograph.png", "fit_traces.png", "fit_misfit.png"]
    assert first[0].parent == tmp_path
    with pytest.raises(lm.LithmapError, match=r"fit_maps\.png \(and 3 more figures\) already exists; pass overwrite"):
        lm.plot_fit(ds, tmp_path / "fit", dpi=80)
    assert {p.read_text() for p in first} == {"figure at 40 dpi"}
    again = lm.plot_fit(ds, tmp_path / "fit", dpi=80, overwrite=True)
    assert again == first and {p.read_text() for p in first} == {"figure at 80 dpi"}


def test_a_failing_figure_leaves_nothing_written(tmp_path, quick, monkeypatch):
    def broken(*args):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(fit_figures, "_plot_traces", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        lm.plot_fit(fake_fit(), tmp_path / "fit", dpi=40)
    assert list(tmp_path.iterdir()) == []


def test_times_pick_the_nearest_frames_and_refuse_outside(tmp_path):
    assert fit_figures._frames(np.arange(6) * 120.0, ["2 min", 250, "10 min"]).tolist() == [1, 2, 5]
    assert fit_figures._frames(np.arange(6) * 120.0, None).tolist() == [0, 1, 2, 4, 5]
    with pytest.raises(lm.LithmapError, match="3600 s is outside the movie"):
        lm.plot_fit(fake_fit(), tmp_path / "fit", times=["1 h"])


def test_centre_trace_line_and_titles():
    ds = fake_fit(line=False, synthetic=True)
    v = _View(ds)
    # the centre: the pixels within 2 px of the centroid (11.5, 15.5) -> 12 pixels of this grid
    assert int(v.centre.sum()) == 12 and v.centroid == pytest.approx((11.5, 15.5))
    yy, xx = np.mgrid[0:24, 0:32]
    r2 = ((yy - 11.5) / 8.0) ** 2 + ((xx - 15.5) / 12.0) ** 2
    expected = 0.97 - 0.15 * (ds.time.values / 600) * r2[v.centre].mean()
    assert v.centre_mean(v.simulated) == pytest.approx(expected)
    assert v.particle_mean(v.simulated)[-1] < v.centre_mean(v.simulated)[-1] - 0.05  # the edge leads
    # without a profile_line attr: the major axis through the centroid (here along x)
    (y0, x0), (y1, x1) = v.line
    assert v.line_source == "the particle's major axis"
    assert y0 == pytest.approx(11.5, abs=0.2) and y1 == pytest.approx(11.5, abs=0.2) and abs(x1 - x0) > 20
    assert "SYNTHETIC" in v.title("x") and "α = 2.7 (95 %: 2.3–3.2)" in v.title("x")
    assert "SYNTHETIC" not in _View(fake_fit()).title("x")


def test_line_sampling_ignores_pixels_outside_the_particle():
    frame = np.full((1, 5, 6), np.nan)
    frame[0, 2, 1:5] = [1.0, 2.0, 3.0, 4.0]
    _, pixels, weights = line_sampler(frame.shape[1:], (2.0, 0.0), (2.0, 5.0))
    got = _sample(frame, pixels, weights)[0]
    assert np.isnan(got[0]) and np.isnan(got[-1])
    assert got[1:5].tolist() == [1.0, 2.0, 3.0, 4.0]
    _, pixels, weights = line_sampler(frame.shape[1:], (2.4, 1.0), (2.4, 4.0))
    assert _sample(frame, pixels, weights)[0].tolist() == [1.0, 2.0, 3.0, 4.0]  # NaN row below renormalised away


@pytest.mark.slow
def test_figures_of_a_real_alpha_fit(tmp_path):
    """lithmap.fit_alpha on the first frames of the shipped (synthetic) example movie."""
    movie = lm.analyse_movie("example", rate="C/3", material="nmc811").isel(time=slice(0, 6))
    fit = lm.fit_alpha(movie, material="nmc811", rate="C/3", psf="177nm", bounds=(1, 8), n_scan=3, rtol=0.05)
    paths = lm.plot_fit(fit, tmp_path / "fit", dpi=50)
    assert [p.name for p in paths] == ["fit_maps.png", "fit_kymograph.png", "fit_traces.png", "fit_misfit.png"]
    assert all(png_size(p)[0] > 100 for p in paths)
    v = _View(fit)
    assert v.synthetic and v.line_source == "the movie's profile line" and v.c_measured is not None
