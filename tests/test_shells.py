"""Equal-area / equal-volume shells (Liu, Zeng et al., Nat. Nanotechnol. 2024, Fig. 3b–e) against
analytic annulus averages."""

import numpy as np
import pytest
import xarray as xr

from lithmap.errors import LithmapError
from lithmap.imaging.regions import equal_area_rings
from lithmap.spectro.shells import shell_statistics


def _disc(R=60, half=70):
    y, x = np.mgrid[-half:half + 1, -half:half + 1]
    r = np.hypot(y, x)
    return r, r <= R


def _ball(R=20, half=22):
    z, y, x = np.mgrid[-half:half + 1, -half:half + 1, -half:half + 1]
    r = np.sqrt(x * x + y * y + z * z)
    return r, r <= R


def test_disc_shells_have_equal_areas_and_analytic_means_of_r_squared():
    r, m = _disc()
    ds = shell_statistics(r**2, m, 5)
    assert ds["size"].values.max() - ds["size"].values.min() <= 1  # equal areas within one pixel
    assert ds["count"].values.sum() == m.sum()
    assert ds["label"].values.tolist() == ["0-20%", "20-40%", "40-60%", "60-80%", "80-100%"]
    np.testing.assert_allclose(ds["fraction_outer"], [0, 0.2, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(ds["fraction_inner"], [0.2, 0.4, 0.6, 0.8, 1.0])
    # annulus k (from the surface inward) spans radii a..b with b = R sqrt(1 - k/5), a = R sqrt(1 - (k+1)/5);
    # the mean of r² over an annulus is (a² + b²)/2
    Re = np.sqrt(m.sum() / np.pi)  # radius of the disc of the same pixel area
    b = Re * np.sqrt(1 - np.arange(5) / 5)
    a = Re * np.sqrt(1 - np.arange(1, 6) / 5)
    np.testing.assert_allclose(ds["mean"].values, (a**2 + b**2) / 2, atol=1e-3 * Re**2)
    assert np.all(ds["std"].values > 0) and np.all(np.diff(ds["median"].values) < 0)


def test_sphere_shells_have_equal_volumes_and_analytic_means_of_r():
    r, m = _ball()
    shells = equal_area_rings(m, 5)
    counts = np.bincount(shells[m])
    assert counts.max() - counts.min() <= 1  # equal volumes within one voxel
    ds = shell_statistics(r, m, 5)
    assert ds.attrs["shells"].startswith("5 equal-volume")
    Re = (m.sum() * 3 / (4 * np.pi)) ** (1 / 3)
    b = Re * (1 - np.arange(5) / 5) ** (1 / 3)
    a = Re * (1 - np.arange(1, 6) / 5) ** (1 / 3)
    analytic = 0.75 * (b**4 - a**4) / (b**3 - a**3)  # volume mean of r over a spherical shell
    np.testing.assert_allclose(ds["mean"].values, analytic, atol=0.02)  # voxels (R = 20)


def test_leading_dims_are_kept_and_nan_is_ignored():
    r, m = _disc(R=20, half=24)
    stack = np.stack([r * k for k in (1.0, 2.0, 3.0)])  # (time, y, x)
    da = xr.DataArray(stack, dims=("time", "y", "x"), coords={"time": [0.0, 10.0, 20.0]}, attrs={"units": "V"})
    ds = shell_statistics(da, m, 4, stats=("mean", "min", "max", "count"))
    assert ds["mean"].dims == ("time", "shell") and ds["mean"].attrs["units"] == "V"
    np.testing.assert_allclose(ds["time"], [0.0, 10.0, 20.0])
    np.testing.assert_allclose(ds["mean"].values[2], 3 * ds["mean"].values[0])
    # plain arrays with two leading dims
    ds2 = shell_statistics(np.stack([stack, stack]), m, 4)
    assert ds2["mean"].dims == ("dim_0", "dim_1", "shell")
    # NaN pixels are left out of every statistic and of the count
    f = r.copy()
    f[m & (r > 19)] = np.nan
    ds3 = shell_statistics(f, m, 4)
    assert ds3["count"].values[0] < ds3["size"].values[0] and np.isfinite(ds3["mean"].values).all()


def test_mask_filling_the_array_still_has_a_surface():
    m = np.ones((10, 10, 10), bool)
    shells = equal_area_rings(m, 2)
    assert shells[0, 0, 0] == 0 and shells[5, 5, 5] == 1


@pytest.mark.parametrize("field, mask, kwargs, word", [
    (np.zeros((5, 5)), np.zeros((5, 5), bool), {}, "empty"),
    (np.zeros((4, 5)), np.ones((5, 5), bool), {}, "shape"),
    (np.zeros(5), np.ones(5, bool), {}, "expected"),
    (np.zeros((5, 5)), np.ones((5, 5), bool), {"stats": ("mean", "mode")}, "mode"),
    (np.zeros((5, 5)), np.ones((5, 5), bool), {"n": 0}, "n=0"),
])
def test_bad_input_names_the_value(field, mask, kwargs, word):
    with pytest.raises(LithmapError, match=word):
        shell_statistics(field, mask, **kwargs)


def test_reconstruction_without_mask_or_nan_gets_an_auto_mask_with_holes_filled():
    """A reconstruction: outside = 0 (no NaN), a central void. Before, the whole cube was the
    particle; now Otsu's mask, and the void's walls are not a surface."""
    z, y, x = np.mgrid[-15:16, -15:16, -15:16]
    r = np.sqrt(x * x + y * y + z * z)
    particle = (r <= 12) & (r > 4)
    rng = np.random.default_rng(0)
    vol = np.where(particle, 1.0 + 0.1 * r, 0.0) + rng.normal(0, 0.01, r.shape)
    ds = shell_statistics(vol, n=3)
    assert int(ds["size"].sum()) == int(particle.sum())  # was the whole cube, 31**3
    assert ds.attrs["mask_rule"].startswith("auto: value above its Otsu threshold")
    assert ds.attrs["holes_filled"] == 1 and ds.attrs["hole_pixels"] == int((r <= 4).sum())
    # equal-volume shells of the filled ball: the innermost shell holds the void's surroundings
    ball = r <= 12
    ref = shell_statistics(vol, ball, 3)
    inner = equal_area_rings(ball, 3) == 2
    assert int(ds["size"][2]) == int((inner & particle).sum())
    np.testing.assert_allclose(ds["mean"].values[:2], ref["mean"].values[:2], rtol=1e-12)
    kept = shell_statistics(vol, n=3, fill_holes=False)
    assert kept.attrs["holes_filled"] == 0 and not np.allclose(kept["mean"].values, ds["mean"].values)
    # the same with a mask given
    given = shell_statistics(vol, particle, 3)
    np.testing.assert_allclose(given["mean"].values, ds["mean"].values)
