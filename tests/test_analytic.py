"""Constant-D particles against the analytic series (reference/analytic-benchmarks.md (a), (b))."""

import numpy as np
import pytest

import lithmap as lm
from analytic import disc_theta, sphere_theta

R = 1e-6
D = 1e-15  # tau = D t / R^2 = 1e-3 t
TIMES = np.array([0.0, 1.0, 5.0, 20.0, 60.0, 200.0, 600.0, 1200.0])


def test_sphere_constant_flux_matches_series():
    ds = lm.simulate(lm.Sphere(R), "Charge at 1C for 1200 s", diffusivity=D, theta0=0.9, times=TIMES)
    K = 1.0 * R / (3 * 3600) * R / D  # J/c_max = C R / (3*3600)
    x = ds.r.values / R
    worst = 0.0
    for i, t in enumerate(ds.time.values):
        if t == 0:
            continue
        exact = sphere_theta(x, D * t / R**2, 0.9, K)
        worst = max(worst, np.abs(ds.theta.values[i] - exact).max())
    assert worst <= 1e-3
    # the volume mean is exact: θ0 − 3Kτ
    np.testing.assert_allclose(ds.theta_mean.values, 0.9 - 3 * K * D * ds.time.values / R**2, atol=1e-12)
    # long time: mean − surface → K/5 (pins the flux convention)
    assert ds.theta_mean.values[-1] - ds.theta_surface.values[-1] == pytest.approx(K / 5, rel=2e-3)


@pytest.mark.parametrize("shape", [lm.Cylinder(R), lm.Disc(R, pixel_size=R / 16)], ids=["cylinder-1D", "disc-2D"])
def test_disc_constant_flux_matches_series(shape):
    ds = lm.simulate(shape, "Charge at 1C for 1200 s", diffusivity=D, theta0=0.9, times=TIMES)
    K = 1.0 * R / (2 * 3600) * R / D  # a cross-section is a cylinder: J/c_max = C R / (2*3600)
    for i, t in enumerate(ds.time.values):
        if t == 0:
            continue
        tau = D * t / R**2
        if "r" in ds.theta.dims:
            exact = disc_theta(ds.r.values / R, tau, 0.9, K)
            got = ds.theta.values[i]
        else:
            X, Y = np.meshgrid(ds.x.values, ds.y.values)
            inside = ds["mask"].values.astype(bool)
            rr = np.hypot(X, Y)[inside] / R
            exact = disc_theta(rr, tau, 0.9, K)
            got = ds.theta.values[i][inside]
        assert np.abs(got - exact).max() <= 1e-3, t
        assert ds.theta_centre.values[i] == pytest.approx(disc_theta([0.0], tau, 0.9, K)[0], abs=1e-3)
        assert ds.theta_surface.values[i] == pytest.approx(disc_theta([1.0], tau, 0.9, K)[0], abs=1e-3)
    # mean falls as 2Jt/(R c_max), not 3Jt/(R c_max)
    np.testing.assert_allclose(ds.theta_mean.values, 0.9 - 2 * K * D * ds.time.values / R**2, atol=1e-10)
    assert ds.theta_mean.values[-1] - ds.theta_surface.values[-1] == pytest.approx(K / 4, rel=3e-3)


def test_c_rate_uses_practical_capacity_of_material():
    """nmc811: 1C delivers 210 mAh/g of a 275 mAh/g theoretical capacity in one hour."""
    mat = lm.nmc811()
    ds = lm.simulate(lm.Sphere(R), "Charge at 1C for 30 minutes", material=mat, diffusivity=1e-14, theta0=0.97)
    frac = 210 * 3600 / mat.theoretical_capacity  # practical / theoretical, both C/kg
    assert ds.theta_mean.values[-1] == pytest.approx(0.97 - 0.5 * frac, abs=1e-12)
    assert "practical capacity 210" in ds.attrs["c_rate_convention"]
    bare = lm.simulate(lm.Sphere(R), "Charge at 1C for 30 minutes", diffusivity=1e-14, theta0=0.97)
    assert bare.theta_mean.values[-1] == pytest.approx(0.47, abs=1e-12)
    assert "by 1 in one hour" in bare.attrs["c_rate_convention"]
