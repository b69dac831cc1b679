"""`lithmap fit A.nc B.nc ...`: several single-particle movies, each fitted as one Dask task.

The movies are SYNTHETIC (lithmap.synthetic_movie: a disc of known radius and alpha through the
same microscope, shot noise, no flicker, no drift), analysed by `lithmap contrast`. Recovery of
alpha, CLI = Python and the resumable store are one slow test; the fast ones check bad input and
the figures (on a table of known numbers in place of the fit).
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
from lithmap.inverse.particles import fit_movies

PX = 100e-9
D = 2e-16  # m^2/s: as in tests/test_fit_particles.py, a 0.5-0.7 um disc is heterogeneous at 2C
TRUTH = {"material": "nmc811", "diffusivity": D, "rate": "2C"}


def synthetic_result(shape: str, alpha: float, minutes: int, seed: int) -> xr.Dataset:
    """SYNTHETIC single-particle movie of 2C charge, one frame a minute, analysed as `lithmap contrast`."""
    movie = lm.synthetic_movie(shape, f"Charge at 2C for {minutes} minutes", pixel_size=PX, alpha=alpha,
                               diffusivity=D, material="nmc811", times=list(range(0, 60 * minutes + 1, 60)), pad=6,
                               seed=seed, drift=0.0, flicker=0.0)
    return lm.analyse_movie(movie, rate="2C", material="nmc811")


@pytest.fixture(scope="module")
def movies(tmp_path_factory):
    """A 0.5 um disc made with alpha 1 and a 0.7 um one with alpha 3, ten minutes of 2C (11 frames)."""
    folder = tmp_path_factory.mktemp("movies")
    paths = []
    for name, shape, alpha, seed in (("slow.nc", "disc:0.5um", 1.0, 0), ("fast.nc", "disc:0.7um", 3.0, 1)):
        lm.write_result(synthetic_result(shape, alpha, 10, seed), folder / name)
        paths.append(folder / name)
    return paths


def invoke(*args):
    return CliRunner().invoke(app, ["fit", *[str(a) for a in args]])


@pytest.mark.slow
def test_each_movie_within_its_interval_cli_equals_function_and_a_rerun_computes_nothing(movies, tmp_path):
    """~40 s: four alpha fits (two on 2 workers, two on 1) and two clusters."""
    out = tmp_path / "fits.zarr"
    args = [*movies, "--out", out, "--material", "nmc811", "--diffusivity", "2e-12cm^2/s", "--rate", "2C",
            "--workers", 2]
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    assert "fitting 2 movies on 2 workers" in first.output
    assert (tmp_path / "fits_alpha_movies.png").exists() and (tmp_path / "fits_alpha_size.png").exists()
    cli = lm.read_result(out)
    assert cli.movie.values.tolist() == ["slow.nc", "fast.nc"]
    assert cli.status.values.tolist() == [COMPUTED, COMPUTED]
    for name, alpha in (("slow.nc", 1.0), ("fast.nc", 3.0)):  # each truth inside its own 95 % interval
        row = cli.sel(movie=name)
        assert float(row.alpha_low) < alpha < float(row.alpha_high), (name, float(row.alpha_low),
                                                                      float(row.alpha_high))
    # told apart: each estimate lies outside the other's interval
    slow, fast = cli.sel(movie="slow.nc"), cli.sel(movie="fast.nc")
    assert float(slow.alpha) < float(fast.alpha_low) and float(fast.alpha) > float(slow.alpha_high)
    assert float(fast.equivalent_radius) > float(slow.equivalent_radius)
    assert cli.attrs["n_computed"] == 2 and np.isfinite(cli.attrs["alpha_heterogeneity_p"])
    py = fit_movies(movies, **TRUTH, workers=1)
    assert py.movie.values.tolist() == cli.movie.values.tolist()
    for name in ("alpha", "alpha_low", "alpha_high", "misfit", "n_data", "equivalent_radius", "status"):
        np.testing.assert_allclose(cli[name].values, py[name].values, rtol=1e-9, err_msg=name)
    assert py.attrs["alpha_median"] == pytest.approx(cli.attrs["alpha_median"], rel=1e-9)
    # the same command again: nothing to compute (no cluster is started), the store is unchanged
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert "2 of 2 movies already in fits.zarr; nothing to compute" in again.output
    assert {p: p.stat().st_mtime_ns for p in before} == before
    # another fit on the same store is refused before anything is written
    other = invoke(*args[:-4], "--rate", "1C")
    one_line_error(other, "holds a different movie fit", "rate")


def test_a_fit_that_fails_is_recorded_with_its_reason_the_others_finish(movies):
    """Bounds that exclude both truths: each movie's scan ends at the bound, recorded as its failure."""
    seen = []
    fits = fit_movies(movies, **TRUTH, bounds=(8.0, 20.0), n_scan=3, workers=1, log=seen.append)
    assert seen == ["fitting 2 movies on 1 worker"]
    assert fits.status.values.tolist() == [FAILED, FAILED]
    assert all("at the bound" in str(f) for f in fits.failure.values)
    assert np.isnan(fits.alpha.values).all() and fits.attrs["n_computed"] == 0


@pytest.mark.parametrize("bad", ["missing", "not_netcdf", "no_mask"])
def test_a_bad_file_among_them_is_one_line_naming_it_and_writes_nothing(movies, tmp_path, bad):
    path = tmp_path / f"{bad}.nc"
    if bad == "not_netcdf":
        path.write_text("not a movie")
    elif bad == "no_mask":
        lm.write_result(lm.read_result(movies[0]).drop_vars("mask"), path)
    for out in (tmp_path / "fits.zarr", tmp_path / "fits.nc"):
        res = invoke(movies[0], path, movies[1], "--out", out, "--material", "nmc811", "--rate", "2C")
        one_line_error(res, f"{bad}.nc")
        assert not out.exists()
    assert not list(tmp_path.glob("fits*"))
    with pytest.raises(LithmapError, match=f"{bad}.nc"):
        fit_movies([movies[0], path], tmp_path / "py.zarr", material="nmc811", rate="2C")
    assert not (tmp_path / "py.zarr").exists()


@pytest.mark.parametrize("extra, needle", [
    (["--fit", "kinetics"], "--fit 'kinetics' is invalid with several results"),
    (["--particles"], "--particles fits the particles of one field"),
    (["--workers", "0"], "workers=0 is invalid"),
    (["--rate", "0C"], "rate"),
    (["--log", "x.csv", "--mass", "1mg"], "--log and --mass do not go with several results"),
])
def test_bad_options_are_one_line_and_write_nothing(movies, tmp_path, extra, needle):
    out = tmp_path / "fits.zarr"
    res = invoke(*movies, "--out", out, "--material", "nmc811", *(["--rate", "2C"] if "--rate" not in extra else []),
                 *extra)
    one_line_error(res, needle)
    assert not out.exists()


def test_the_same_movie_twice_is_refused(movies, tmp_path):
    copy = tmp_path / "copy.nc"
    copy.write_bytes(movies[0].read_bytes())
    res = invoke(movies[0], copy, "--out", tmp_path / "fits.nc", "--material", "nmc811", "--rate", "2C")
    one_line_error(res, "'copy.nc' is the same movie as 'slow.nc'")
    assert not (tmp_path / "fits.nc").exists()


def test_one_result_keeps_the_single_fit(movies, tmp_path):
    """One result: today's `lithmap fit` (no Dask options), whatever the table path would say."""
    res = invoke(movies[0], "--out", tmp_path / "fit.nc", "--material", "nmc811", "--workers", 2)
    one_line_error(res, "--particles", "several results")


PNG = b"\x89PNG\r\n\x1a\n"


def known_table(names) -> xr.Dataset:
    """A table of movie fits of known numbers (the layout fit_movies returns), summarised as it is."""
    from lithmap.inverse.particles import _summarise

    n = len(names)
    alpha = np.linspace(1.0, 3.0, n)
    return _summarise(xr.Dataset({
        "alpha": ("movie", alpha), "alpha_low": ("movie", alpha * 0.8), "alpha_high": ("movie", alpha * 1.25),
        "misfit": ("movie", np.ones(n)), "equivalent_radius": ("movie", np.linspace(0.5e-6, 0.7e-6, n)),
        "pixel_count": ("movie", np.full(n, 100)), "status": ("movie", np.full(n, COMPUTED, np.int8)),
        "failure": ("movie", [""] * n), "lagging": ("movie", np.zeros(n, np.int8))},
        coords={"movie": list(names)}, attrs={"synthetic": 1}))


def use_known_fit(monkeypatch) -> list:
    """fit_movies replaced by a table of known numbers (the fit itself is the slow test's): the calls it gets."""
    import lithmap.inverse.particles as particles

    calls = []

    def fake(results, store=None, *, overwrite=False, progress=None, log=None, **options):
        calls.append((list(results), store, options))
        table = known_table([p.name for p in results])
        if store is not None:
            lm.write_result(table, store, overwrite=True)
        return table

    monkeypatch.setattr(particles, "fit_movies", fake)
    return calls


@pytest.fixture
def known_fit(monkeypatch):
    return use_known_fit(monkeypatch)


def assert_png(path):
    from PIL import Image

    assert path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG, path
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 300 and im.height > 200, (path, im.size)


def test_several_results_draw_their_figures_beside_out_and_no_figures_draws_none(movies, known_fit, tmp_path):
    args = ["--material", "nmc811", "--rate", "2C"]
    res = invoke(*movies, "--out", tmp_path / "fits.nc", *args)
    assert res.exit_code == 0, res.output
    figures = [tmp_path / "fits_alpha_movies.png", tmp_path / "fits_alpha_size.png"]
    for path in figures:
        assert_png(path)
        assert f"wrote {path}" in res.output
    assert known_fit[0][0] == list(movies) and known_fit[0][1] is None
    # the same OUT again: refused before any work, the table and its figures as they were
    before = {p: p.stat().st_mtime_ns for p in [tmp_path / "fits.nc", *figures]}
    one_line_error(invoke(*movies, "--out", tmp_path / "fits.nc", *args), "already exists")
    assert len(known_fit) == 1 and {p: p.stat().st_mtime_ns for p in before} == before
    # a .nc whose figure exists already: refused before any work, naming the figure
    (tmp_path / "other_alpha_size.png").write_bytes(PNG)
    one_line_error(invoke(*movies, "--out", tmp_path / "other.nc", *args), "other_alpha_size.png", "already exists")
    assert len(known_fit) == 1 and not (tmp_path / "other.nc").exists()
    # --no-figures: the table only
    res = invoke(*movies, "--out", tmp_path / "plain.nc", *args, "--no-figures")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "plain.nc").exists() and not list(tmp_path.glob("plain_*"))
    # a .zarr store's figures are its products: redrawn on every run of the same store
    for _ in range(2):
        res = invoke(*movies, "--out", tmp_path / "fits.zarr", *args)
        assert res.exit_code == 0, res.output
        assert_png(tmp_path / "fits_alpha_movies.png")
    assert known_fit[-1][1] == tmp_path / "fits.zarr"


def test_a_bad_input_or_a_figure_that_fails_leaves_nothing_behind(movies, tmp_path, monkeypatch):
    args = ["--material", "nmc811", "--rate", "2C"]
    for out in (tmp_path / "fits.nc", tmp_path / "fits.zarr"):  # the real fit: the bad file stops it before any work
        one_line_error(invoke(movies[0], tmp_path / "missing.nc", "--out", out, *args), "missing.nc")
        assert not list(tmp_path.glob("fits*"))
    import lithmap.report.field_figures as field_figures

    use_known_fit(monkeypatch)

    def broken(ds, path, dpi, dim):  # the second figure: the first is drawn, then must go too
        raise LithmapError("no room to draw")

    monkeypatch.setattr(field_figures, "_plot_size", broken)
    one_line_error(invoke(*movies, "--out", tmp_path / "fits.nc", *args), "no room to draw")
    assert not list(tmp_path.glob("fits*")) and not list(tmp_path.glob(".fits*"))


def test_the_report_of_a_movies_fit_shows_its_figures(tmp_path):
    table = lm.write_result(known_table([f"m{i}.nc" for i in range(5)]), tmp_path / "movies_fit.nc")
    page = lm.build_report([table], tmp_path / "report")
    text = page.read_text()
    for key in ("alpha_movies", "alpha_size"):
        assert f"figures/movies_fit_{key}.png" in text and f"figures/movies_fit_{key}.svg" in text
        assert_png(tmp_path / "report" / "figures" / f"movies_fit_{key}.png")
    assert "α of each movie with its 95 % interval, sorted" in text and "α of each movie against its" in text
