"""The studies of examples/study_*.py (Xu, Merryweather et al., Joule 2022) show what the paper
claims, or what the preset gives instead; margins come from the physics, not from the numbers."""

import numpy as np

from test_examples import load  # examples/<name>.py loaded as a module


def coarse_times(hours=4.0, step=60.0):
    return np.unique(np.concatenate([np.geomspace(1.0, 600.0, 20), np.arange(0.0, hours * 3600 + step, step)]))


def test_alpha_scan_heterogeneous_for_small_alpha_uniform_for_large():
    mod = load("study_alpha")
    scan = mod.alpha_scan(alpha=[1.0, 2.7, 5.0, 1000.0], times=coarse_times())
    g = scan.gap_max.values
    assert np.all(np.diff(g) < 0)  # faster diffusion, smaller gap
    assert np.all(g[scan.alpha.values <= 5] > 2 * mod.THRESHOLD)  # 1 <= alpha <= 5: clearly heterogeneous
    assert g[-1] < mod.THRESHOLD  # large alpha: near-uniform
    # the smallest D of the charge, held constant, bounds the gap from above (quasi-steady parabola)
    assert np.all(g <= 1.02 * scan.bound.values)
    assert 5 < float(scan.alpha_uniform) < 1000


def test_alpha_scan_example_particle_rings():
    maps = load("study_alpha").example_maps(alpha=(2.7, 300.0), minutes=(25,))
    ring = maps.gap_ring.sel(time=25 * 60.0)
    assert float(ring.sel(alpha=2.7)) > 0.1  # lithium-poor periphery, lithium-rich core at 25 min of C/3
    assert float(ring.sel(alpha=300.0)) < 0.05
    assert float(maps.alpha_uniform_ring) > 2.7


def test_centre_lags_at_every_rate_and_more_at_higher_rate():
    mod = load("study_rates")
    ds = mod.centre_lag(rates=(1 / 30, 1 / 3, 1.0), times=mod.rate_times((1 / 30,), n=150))
    assert bool(ds.centre_moved.all())
    lag = ds.lag.values
    assert np.all(lag > 5 * mod.MOVED)  # uniform delithiation would pass exactly 0.01
    assert np.all(np.diff(lag) > 0)


def test_constant_d_centre_is_linear_variable_d_is_not():
    ds = load("study_constant_d").constant_vs_variable(n_times=300)
    const = ds.sel(case=[c for c in ds.case.values if c.startswith("constant")])
    var = ds.sel(case="nmc811 D(theta), alpha 2.7")
    # constant D: the centre approaches the mean rate from below and its trace becomes a line
    assert np.all(const.peak_rate.values <= 1.02)
    assert float(const.r2.max()) > 0.999
    # D(theta) rising ~100x on delithiation: a front sweeps through the centre, far faster than the mean
    assert float(var.peak_rate) > 2.0
    assert np.all(const.diffusivity.values < 1e-17)  # all below 1e-13 cm^2/s


def test_smaller_particles_are_less_heterogeneous():
    mod = load("study_size")
    ds = mod.size_scan(radius=(0.1e-6, 0.25e-6, 0.5e-6, 1e-6), times=coarse_times())
    g = ds.gap_max.values
    assert np.all(np.diff(g) > 0)
    assert np.all(np.diff(ds.lag.values) > 0)
    import lithmap as lm

    mat = lm.nmc811()
    bound = (1 / 3) * mat.capacity_fraction / 3600 * ds.radius.values**2 / (6 * 2.7 * float(mat.diffusivity(0.97)))
    assert np.all(g <= 1.02 * bound)  # the quasi-steady gap of the smallest D bounds it


def test_soc_gap_at_1c_and_2c_sphere():
    ds = load("study_soc_gap").soc_gap(example=False)
    k = float(ds.soc_per_theta)
    fast = ds.sel(rate_sphere=[1.0, 2.0])
    assert np.all(k * fast.sphere_gap.values >= 0.20)  # at least the paper's 20 %
    assert np.all(np.diff(ds.sphere_gap.values) > 0)
    # the gap cannot exceed theta0 minus the emptiest surface (the surface at 4.3 V)
    assert np.all(ds.sphere_gap.values <= ds.theta0 - ds.sphere_theta_surface_end.values + 1e-6)
    assert np.all(ds.sphere_gap_rising_d.values <= ds.sphere_gap.values + 1e-9)  # faster D, smaller gap


def test_soc_gap_example_particle_1c():
    ds = load("study_soc_gap").soc_gap(sphere_rates=(1.0,), example_rates=(1.0,))
    assert float(ds.soc_per_theta * ds.ring_gap.sel(rate_example=1.0)) >= 0.20
    assert float(ds.ring_gap.sel(rate_example=1.0)) <= float(ds.point_gap.sel(rate_example=1.0)) + 1e-9


def test_charge_rest_relaxes_to_uniform():
    mod = load("study_charge_rest")
    ds = mod.charge_rest(rest_hours=8.0, n_rest=80, example=False)
    rest = ds.time.values >= mod.CHARGE_S
    assert float(ds.gap_end_charge) > 0.05  # heterogeneous when the current stops
    g = ds.gap.values[rest]
    assert np.all(np.diff(g) <= 1e-6)  # relaxes monotonically
    assert float(ds.time_uniform) < 8 * 3600
    tm = ds.theta_mean.values[rest]
    assert np.ptp(tm) < 1e-6  # no current, no lithium lost or gained
    # late in the rest the gap decays at the rate of the slowest diffusion mode about the mean
    assert 0.8 < float(ds.decay_rate / ds.mode_rate) < 1.25


def test_cv_hold_shell_and_recovered_capacity():
    mod = load("study_cv_hold")
    s = mod.shell(rate="1C")
    assert float(s.theta_surface_cc) > 0.99  # lithium-rich surface at the 3.0 V cut-off
    assert float(s.theta_centre_cc) < s.theta0 - 0.1  # lithium-poor core
    assert float(s.ce_cc) < float(s.ce_cv)  # the hold recovers capacity
    charged = s.theta0 - float(s.q_ch)
    assert float(s.ce_cv) <= (1 - charged) / float(s.q_ch) + 1e-9  # cannot lithiate past theta = 1
    scan = mod.ce_scan(alpha=(2.7, 30.0), j0_factor=(1.0,))
    assert np.all(np.diff(scan.ce_cc.values, axis=1) > 0)  # faster diffusion, smaller CC loss
    assert np.all(scan.ce_cv.values <= scan.ce_cv_max.values + 1e-9)
    assert np.all(scan.termination.values == "protocol complete")
