"""The examples run and show what the papers show."""

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_centre_lag_grows_with_rate_and_size():
    ds = load("centre_lag").centre_lag(radius=(0.5e-6, 1e-6), rate=(1 / 30, 1 / 3, 1.0), n_times=61)

    def lag(R, c):
        sel = ds.sel(radius=R, alpha=2.7, rate=c)
        moved = np.flatnonzero(0.97 - sel.theta_centre.values > 0.01)
        return 0.97 - sel.theta_mean.values[moved[0]] if moved.size else np.inf

    for R in ds.radius.values:
        lags = [lag(R, c) for c in ds.rate.values]
        assert lags[0] < lags[1] < lags[2]  # faster charge: the centre starts later
    for c in ds.rate.values:
        assert lag(0.5e-6, c) < lag(1e-6, c)  # larger particle: the centre starts later


def test_example_particle_outline_script_matches_shipped_png():
    from PIL import Image

    mask = load("make_example_particle").outline_mask()
    png = Path(__file__).resolve().parents[1] / "src/lithmap/data/example_particle.png"
    shipped = np.asarray(Image.open(png)) > 127
    assert np.array_equal(mask, shipped)
