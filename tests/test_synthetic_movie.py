"""lithmap.synthetic_movie: the example movie's recipe as a function (issue 10's synthetic movies)."""

import numpy as np
import pytest
import tifffile

import lithmap as lm
from lithmap import LithmapError

PROTOCOL = "Charge at 1C for 12 minutes"


@pytest.fixture(scope="module")
def small():
    """A 0.6 µm disc on 100 nm pixels charged at 1C for 12 minutes: (movie, truth) with the default optics."""
    return lm.synthetic_movie("disc:0.6um", PROTOCOL, pixel_size="100nm", times="4 min", pad=5, return_truth=True)


def quiet(truth, **kw):
    """The same truth seen without blur, drift, flicker or noise: the brightness law alone."""
    return lm.synthetic_movie(simulation=truth, psf=None, drift=0.0, flicker=0.0, shot_noise=False, pad=0, **kw)


def test_defaults_are_the_shipped_example_movie():
    movie = lm.synthetic_movie()
    shipped = tifffile.imread(lm.example_file("example_movie.tif"))
    assert movie.dtype == np.uint16 and movie.shape == shipped.shape
    assert np.array_equal(movie.values, shipped)
    assert movie.time.values[1] == 120.0 and movie.time.values[-1] == 3600.0
    assert movie.attrs["pixel_size"] == pytest.approx(50e-9) and movie.attrs["psf_sigma"] == 1.5


def test_attrs_say_synthetic_and_truth_shares_coordinates(small):
    movie, truth = small
    assert movie.attrs["synthetic"] == 1
    src = movie.attrs["source"]
    assert src.startswith("SYNTHETIC") and "not a measurement" in src
    for word in ("alpha 2.7", PROTOCOL, "PSF Gaussian", "Poisson", "drift"):
        assert word in src
    assert movie.attrs["alpha"] == pytest.approx(2.7) and movie.attrs["units"] == "counts"
    assert movie.dims == ("time", "y", "x") and movie.time.attrs["units"] == "s" and movie.x.attrs["units"] == "m"
    np.testing.assert_array_equal(movie.time.values, [0, 240, 480, 720])
    assert truth.theta.dims == ("time", "y", "x") and truth.sizes["time"] == 4
    # the truth's pixels sit on the movie's coordinates, inside the matrix padding
    sub = movie.sel(y=truth.y, x=truth.x, method="nearest", tolerance=1e-12)
    assert sub.shape[1:] == truth.theta.shape[1:]
    assert movie.sizes["x"] == truth.sizes["x"] + 10
    excess = movie.values.reshape(4, -1).astype(float).sum(1) - 300.0 * movie[0].size   # counts above the matrix
    assert excess[-1] > 1.1 * excess[0]   # brighter as lithium leaves (0.2 of it at 1C for 12 minutes)
    assert abs(movie.values[0, 0, 0].astype(float) - 300) < 5 * np.sqrt(300)


def test_linear_law_without_optics_is_the_formula(small):
    _, truth = small
    movie = quiet(truth)
    inside = truth.mask.values.astype(bool)
    theta = truth.theta.values[:, inside]
    expected = np.rint(2000.0 * (1 + 0.62 * (0.97 - theta) / 0.77))
    np.testing.assert_array_equal(movie.values[:, inside], expected)
    assert np.all(movie.values[:, ~inside] == 300)


def test_callable_law_is_used_and_differs_from_linear(small):
    _, truth = small

    def saturating(theta):
        return 1 + 0.5 * np.tanh((0.97 - theta) / 0.1)

    movie = quiet(truth, law=saturating)
    inside = truth.mask.values.astype(bool)
    theta = truth.theta.values[:, inside]
    np.testing.assert_array_equal(movie.values[:, inside], np.rint(2000.0 * saturating(theta)))
    assert not np.array_equal(movie.values, quiet(truth).values)
    assert "callable saturating" in movie.attrs["source"]


def test_reusing_the_simulation_gives_the_same_movie_and_seeds_matter(small):
    movie, truth = small
    again = lm.synthetic_movie(simulation=truth, pad=5)
    np.testing.assert_array_equal(again.values, movie.values)
    other = lm.synthetic_movie(simulation=truth, pad=5, seed=1)
    assert not np.array_equal(other.values, movie.values)
    k = np.arange(4)
    np.testing.assert_allclose(movie.attrs["drift_y"], 1.5 * np.sin(k / 7.0))
    np.testing.assert_allclose(movie.attrs["drift_x"], 2.0 * k / 4)


def test_psf_is_a_fwhm_in_metres(small):
    _, truth = small
    movie = lm.synthetic_movie(simulation=truth, psf="235.5nm", pad=2)
    assert movie.attrs["psf_sigma"] == pytest.approx(1.0, abs=1e-3)
    assert movie.attrs["psf_fwhm"] == pytest.approx(235.5e-9)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"law": lambda t: 1 + (t - 0.93) ** 2 - 0.04 ** 2}, "not monotone"),
        ({"law": lambda t: 2 - t}, "must be 1"),
        ({"law": "quadratic"}, "law='quadratic'"),
        ({"law": lambda t: t[:1]}, "one finite value"),
        ({"brightness": -5}, "brightness=-5"),
        ({"pad": 1.5}, "pad=1.5"),
        ({"psf": "-3nm"}, "psf="),
        ({"psf": "3 s"}, "psf"),
        ({"contrast": -2.0}, "contrast=-2.0"),
        ({"times": [0, 240, 9999]}, "no frame at t=9999"),
        ({"times": [5]}, "at least 2"),
    ],
)
def test_bad_options_are_one_line_errors(small, kwargs, words):
    _, truth = small
    with pytest.raises(LithmapError) as err:
        lm.synthetic_movie(simulation=truth, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg and words in msg


@pytest.mark.parametrize(
    "args, kwargs, words",
    [
        (("sphere:1um",), {}, "2D particle"),
        (("disc:1um",), {}, "needs pixel_size"),
        (("disc:0.5um", "Charge at C/3 until 4.3 V"), {"pixel_size": "100nm"}, "no fixed length"),
        (("disc:0.5um",), {"pixel_size": "100nm", "times": "soon"}, "times='soon'"),
        ((), {"simulation": "run.nc"}, "simulation is invalid"),
    ],
)
def test_bad_shapes_and_inputs_are_one_line_errors(args, kwargs, words):
    with pytest.raises(LithmapError) as err:
        lm.synthetic_movie(*args, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg and words in msg


def test_a_synthetic_movie_goes_through_the_analysis(small):
    movie, truth = small
    ds = lm.analyse_movie(movie, rate="1C", material="nmc811")
    assert abs(int(ds.mask.sum()) - int(truth.mask.sum())) <= 0.2 * int(truth.mask.sum())
    true_drift = np.column_stack([movie.attrs["drift_y"], movie.attrs["drift_x"]])
    assert np.abs(ds.drift.values - true_drift).max() < 0.3   # the registration finds the drift it was given
    assert float(ds.mean_contrast[-1]) > 0.03 > float(abs(ds.mean_contrast[0]))
