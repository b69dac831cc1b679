"""`lithmap fit FIELD --particles`: every particle of a field fitted on its own outline as a Dask task.

The fields are SYNTHETIC: discs of known radius and α made by lithmap.synthetic_movie (each its own
simulation, through the same microscope: no flicker, no drift, shot noise), side by side on one
matrix, then analysed by `lithmap contrast --particles`. Recovery of α is the slow test; the fast
ones check the plumbing (CLI = Python, a LocalCluster of 2 workers, a rerun computes nothing, a
particle too small to fit is recorded and the others finish, bad input writes nothing).
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

import lithmap as lm
from cli_checks import one_line_error
from lithmap.cli import app
from lithmap.errors import LithmapError
from lithmap.inverse.distributed import COMPUTED, FAILED
from lithmap.inverse.particles import fit_particles

PX = 100e-9
D = 2e-16  # m^2/s: slow enough that a 0.5-0.7 um disc is heterogeneous at 2C (R^2 / (alpha D) ~ 10 min)
TRUTH = {"material": "nmc811", "diffusivity": D, "rate": "2C"}


def synthetic_field(parts, minutes: int, step: int = 60) -> xr.Dataset:
    """SYNTHETIC field: one synthetic movie per (shape, alpha), side by side, analysed with --particles."""
    times = list(range(0, 60 * minutes + 1, step))
    tiles = [lm.synthetic_movie(shape, f"Charge at 2C for {minutes} minutes", pixel_size=PX, alpha=alpha,
                                diffusivity=D, material="nmc811", times=times, pad=6, seed=i, drift=0.0,
                                flicker=0.0).values for i, (shape, alpha) in enumerate(parts)]
    height = max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, 0), ((height - t.shape[1]) // 2, height - t.shape[1] - (height - t.shape[1]) // 2),
                        (0, 0)), constant_values=300) for t in tiles]
    frames = np.concatenate(tiles, axis=2)
    movie = xr.DataArray(frames, dims=("time", "y", "x"), coords={
        "time": ("time", np.asarray(times, float), {"units": "s"}),
        "y": ("y", np.arange(frames.shape[1]) * PX, {"units": "m"}),
        "x": ("x", np.arange(frames.shape[2]) * PX, {"units": "m"})})
    return lm.analyse_movie(movie, particles=True, rate="2C", material="nmc811")


@pytest.fixture(scope="module")
def small_field(tmp_path_factory):
    """A 0.5 um disc (alpha 1) and a 0.25 um one (21 pixels: too small to fit), 5 minutes of 2C."""
    ds = synthetic_field([("disc:0.5um", 1.0), ("disc:0.25um", 1.0)], minutes=5)
    path = tmp_path_factory.mktemp("field") / "field.nc"
    lm.write_result(ds, path)
    return path


def invoke(*args):
    return CliRunner().invoke(app, ["fit", *[str(a) for a in args]])


@pytest.mark.slow
def test_cli_with_two_workers_equals_the_function_and_a_rerun_computes_nothing(small_field, tmp_path):
    """~25 s: two full α fits (31 simulations each) and two clusters."""
    out = tmp_path / "fits.zarr"
    args = [small_field, "--particles", "--out", out, "--material", "nmc811", "--diffusivity", "2e-12cm^2/s",
            "--rate", "2C", "--workers", 2]
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    assert "fitting 1 particle (1 too small to fit) on 2 workers" in first.output
    assert (tmp_path / "fits_alpha_size.png").exists() and (tmp_path / "fits_alpha_map.png").exists()
    cli = lm.read_result(out)
    py = fit_particles(small_field, **TRUTH, workers=1)
    assert cli.particle.values.tolist() == py.particle.values.tolist() == [1, 2]
    for name in ("alpha", "alpha_low", "alpha_high", "misfit", "equivalent_radius", "centroid_x", "status"):
        np.testing.assert_allclose(cli[name].values, py[name].values, rtol=1e-9, err_msg=name)
    # the small particle: recorded as failed with its reason; the other finished
    assert cli.status.values.tolist() == [COMPUTED, FAILED]
    assert "21 pixels, fewer than min_pixels=30: too small to fit" in str(cli.failure.values[1])
    assert str(cli.failure.values[0]) == ""
    assert float(cli.equivalent_radius[0]) == pytest.approx(0.5e-6, rel=0.1)
    assert np.isfinite(cli.alpha[0]) and float(cli.alpha_low[0]) < float(cli.alpha[0]) < float(cli.alpha_high[0])
    assert cli.attrs["n_computed"] == 1 and cli.labels.dims == ("y", "x")
    # the same command again: nothing to compute (no cluster is started), the store is unchanged
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert "1 of 2 particles already in fits.zarr (1 too small to fit); nothing to compute" in again.output
    assert {p: p.stat().st_mtime_ns for p in before} == before
    # another fit on the same store is refused, naming what differs, before anything is written
    other = invoke(*args[:-2], "--min-pixels", 10)
    one_line_error(other, "holds a different particle fit", "min_pixels")


def test_a_fit_that_fails_is_recorded_with_its_reason_on_two_workers(small_field):
    """Bounds that exclude the truth (alpha 1): the scan's best is at the bound, a failure of that particle,
    recorded with the fit's own reason; the too-small particle is recorded without being submitted."""
    seen = []
    fits = fit_particles(small_field, **TRUTH, bounds=(4.0, 20.0), n_scan=3, workers=2, log=seen.append)
    assert seen == ["fitting 1 particle (1 too small to fit) on 2 workers"]
    assert fits.status.values.tolist() == [FAILED, FAILED]
    assert "did not converge: best α = 4 at the bound" in str(fits.failure.values[0])
    assert "too small to fit" in str(fits.failure.values[1])
    assert np.isnan(fits.alpha.values).all() and fits.attrs["n_computed"] == 0


def test_only_particles_too_small_start_no_cluster(small_field, tmp_path):
    seen = []
    fits = fit_particles(small_field, tmp_path / "tiny.zarr", **TRUTH, particles=[2], scheduler="tcp://127.0.0.1:9",
                         log=seen.append)  # an unreachable scheduler: never contacted
    assert fits.status.values.tolist() == [FAILED] and seen == []
    assert lm.read_result(tmp_path / "tiny.zarr").failure.values[0] == fits.failure.values[0]


def test_a_result_without_particle_labels_is_one_line_and_writes_nothing(small_field, tmp_path):
    plain = lm.read_result(small_field).drop_vars(["particle", "particle_intensity_normalised"])
    path = tmp_path / "plain.nc"
    lm.write_result(plain, path)
    out = tmp_path / "fits.nc"
    res = invoke(path, "--particles", "--out", out, "--material", "nmc811", "--rate", "2C")
    one_line_error(res, "no particle labels", "--particles")
    assert not out.exists() and not list(tmp_path.glob("fits*"))
    with pytest.raises(LithmapError, match="no particle labels"):
        fit_particles(plain, material="nmc811", rate="2C")


@pytest.mark.parametrize("extra, needle", [
    (["--fit", "kinetics"], "--fit 'kinetics' is invalid with --particles"),
    (["--workers", "0"], "workers=0 is invalid"),
    (["--min-pixels", "0"], "min_pixels=0 is invalid"),
    (["--rate", "0C"], "rate"),
])
def test_bad_options_are_one_line_and_write_nothing(small_field, tmp_path, extra, needle):
    out = tmp_path / "fits.zarr"
    args = [small_field, "--particles", "--out", out, "--material", "nmc811"]
    res = invoke(*args, *(["--rate", "2C"] if "--rate" not in extra else []), *extra)
    one_line_error(res, needle)
    assert not out.exists()


def test_scheduler_options_need_particles(small_field, tmp_path):
    res = invoke(small_field, "--out", tmp_path / "fit.nc", "--material", "nmc811", "--workers", 2)
    one_line_error(res, "--particles")


@pytest.mark.slow
def test_alpha_of_each_particle_is_recovered_within_its_interval(tmp_path):
    """SYNTHETIC field: a 0.7 um disc made with alpha 3, a 0.5 um one with alpha 1 (and a 21-pixel one),
    10 minutes of 2C, 11 frames. Each particle's 95 % interval holds its own truth, and the two are told
    apart: the intervals do not overlap."""
    ds = synthetic_field([("disc:0.5um", 1.0), ("disc:0.7um", 3.0), ("disc:0.25um", 2.0)], minutes=10)
    store = tmp_path / "fits.zarr"
    fits = fit_particles(ds, store, **TRUTH, workers=2)
    truth = {}
    for k in fits.particle.values:  # which disc is which label: by size
        r = float(fits.equivalent_radius.sel(particle=k))
        truth[int(k)] = 3.0 if r > 0.6e-6 else 1.0 if r > 0.4e-6 else None
    got = {int(k): (float(fits.alpha_low.sel(particle=k)), float(fits.alpha.sel(particle=k)),
                    float(fits.alpha_high.sel(particle=k))) for k in fits.particle.values}
    for k, alpha in truth.items():
        if alpha is None:
            assert int(fits.status.sel(particle=k)) == FAILED
            continue
        low, best, high = got[k]
        assert int(fits.status.sel(particle=k)) == COMPUTED
        assert low < alpha < high, (k, alpha, got[k])
    (slow_k,), (fast_k,) = ([k for k, a in truth.items() if a == v] for v in (1.0, 3.0))
    # told apart: each particle's estimate lies outside the other's interval (on ten minutes of 2C the
    # intervals themselves overlap: 0.97-3.18 and 2.56-5.86), and one shared alpha is rejected at 5 %
    assert got[slow_k][1] < got[fast_k][0] and got[fast_k][1] > got[slow_k][2]
    assert fits.attrs["n_computed"] == 2
    assert fits.attrs["alpha_heterogeneity_p"] < 0.05  # the two particles do not share one alpha
    # lagging: the whole interval below the field's median (here the slow disc's interval reaches past it)
    median = fits.attrs["alpha_median"]
    for k in (slow_k, fast_k):
        assert int(fits.lagging.sel(particle=k)) == int(got[k][2] < median)
    assert int(fits.lagging.sel(particle=fast_k)) == 0
    # the store, reread, is the same table; its figures draw
    back = lm.read_result(store)
    np.testing.assert_allclose(back.alpha.values, fits.alpha.values)
    from lithmap.report.field_figures import plot_particle_fits

    paths = plot_particle_fits(back, tmp_path / "fits")
    assert [p.name for p in paths] == ["fits_alpha_size.png", "fits_alpha_map.png"]
