"""Mesh convergence: the surface-refined default is converged where a uniform mesh of similar
size is silently wrong (8 µm, C/3, steep D: the depleted shell is ~100 nm thick)."""

import numpy as np
import pytest

import lithmap as lm

STEEP = lm.TabulatedDiffusivity([0.8, 1.0], [1e-16, 1e-18])
LIMITS = (0.005, 1.0)


def stop_time(shape, mesh_options=None):
    ds = lm.simulate(shape, "Charge at C/3 for 2 hours", diffusivity=STEEP, theta0=0.97,
                     mesh_options=mesh_options, surface_limits=LIMITS, stop_at_limit=True)
    return float(ds.time[-1]), ds.attrs["mesh_nodes"]


def test_default_sphere_mesh_is_converged():
    t_default, n_default = stop_time(lm.Sphere(8e-6))
    t_fine, _ = stop_time(lm.Sphere(8e-6), {"surface_spacing": 1e-9, "growth": 1.03})
    t_finer, _ = stop_time(lm.Sphere(8e-6), {"surface_spacing": 0.5e-9, "growth": 1.02})
    assert abs(t_fine - t_finer) / t_finer < 3e-4  # the reference itself has converged
    assert abs(t_default - t_finer) / t_finer < 2e-3
    # a uniform mesh with as many nodes is several times further off
    t_uniform, _ = stop_time(lm.Sphere(8e-6), {"n": n_default})
    assert abs(t_uniform - t_finer) > 3 * abs(t_default - t_finer)


def test_sphere_error_falls_with_refinement():
    """Refining surface spacing, growth and core spacing together shrinks the stop-time error
    at least linearly (the scheme is second order on smooth meshes)."""
    ref, _ = stop_time(lm.Sphere(8e-6), {"surface_spacing": 0.5e-9, "growth": 1.02, "max_spacing": 8e-6 / 400})
    levels = [(20e-9, 1.12, 30), (10e-9, 1.06, 60), (5e-9, 1.03, 120)]
    errors = [abs(stop_time(lm.Sphere(8e-6), {"surface_spacing": h, "growth": g, "max_spacing": 8e-6 / k})[0] - ref)
              for h, g, k in levels]
    assert errors[0] > 1.8 * errors[1] > 1.8**2 * errors[2]


@pytest.mark.slow
def test_default_disc_mesh_is_converged():
    times = [0, 600, 1200, 2400]
    kw = dict(diffusivity=STEEP, theta0=0.97, times=times)
    coarse = lm.simulate(lm.Disc(1e-6), "Charge at C/3 for 40 minutes", **kw)
    fine = lm.simulate(lm.Disc(1e-6), "Charge at C/3 for 40 minutes",
                       mesh_options={"surface_spacing": 5e-9, "max_spacing": 25e-9}, **kw)
    np.testing.assert_allclose(coarse.theta_surface.values, fine.theta_surface.values, atol=2e-3)
    assert coarse.attrs["mesh_nodes"] < fine.attrs["mesh_nodes"]
