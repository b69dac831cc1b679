"""Axisymmetric finite-element stress in an 8 µm sphere with a 0.5 µm central void and two
0.2 µm pores (Liu, Zeng et al., Nat. Nanotechnol. 2024, Fig. 5 d–g geometry) over a 10C
discharge to 20 % DOD (not a test).

The lithium field is the engine's hollow-sphere run (``lm.simulate("sphere:8um:void=0.5um", ...,
material="lrtmo")``, zero flux at the void): it has no pores, so the zero-flux condition at the
pore surfaces is not in θ (the coupled 2D transport of issue 12 would add it). The discharge
(lithiation) starts from θ0 = 1 − f (f = the preset's practical share, 0.662: the state a full
practical charge leaves from pristine θ = 1), as in examples/study_stress.py. 20 % DOD is
lithmap.mechanics.driver.depth_of_discharge = 0.2: the charge passed as a share of the practical
capacity (Δθ̄ = 0.2·f), checked on the run. The strain is
lithmap.mechanics.strain.chemical_strain (the lrtmo lattice-table route), E and ν from the lrtmo
preset. The pores sit on the axis at ±1.1 µm (the distance is not given in the paper; assumed).

Timed: mesh + assembly + factorisation + every time step + grid and probe read-out (what a user
waits for), limited to 2 threads. Accuracy: the same run on a mesh with half the element sizes;
the relative difference at the bridge point and of the peak hoop stress is reported.

Run: .venv/bin/python benchmarks/bench_stress_fem.py
"""

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "2")

import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "stress_fem.json"


def lithium_field(rate: float, dod: float = 0.2, n: int = 11):
    import lithmap as lm
    from lithmap.mechanics.driver import depth_of_discharge
    from lithmap.physics.materials import lrtmo

    theta0 = 1.0 - lrtmo().capacity_fraction
    t_end = dod * 3600.0 / rate  # DOD = charge / practical capacity; 1C passes the practical capacity in 1 h
    ds = lm.simulate("sphere:8um:void=0.5um", f"Discharge at {rate:g}C for {t_end:.10g} s", material="lrtmo",
                     theta0=theta0, times=list(np.linspace(0, t_end, n)))
    reached = float(depth_of_discharge(ds)[-1])
    if abs(reached - dod) > 1e-6:
        raise RuntimeError(f"the run ends at DOD {reached:.6g}, not {dod:g}")
    ds.attrs["dod_reached"] = reached
    return ds


def stress(theta, mesh_size, min_size, surface_size, grid_spacing=8e-6 / 80):
    from lithmap.mechanics.fem import axisymmetric_stress
    from lithmap.physics.fem_mesh import porous_sphere
    from lithmap.mechanics.strain import chemical_strain, mechanical_properties

    props = mechanical_properties("lrtmo")
    strain = chemical_strain(theta, "lrtmo")
    return axisymmetric_stress(strain, porous_sphere(), youngs_modulus=props.youngs_modulus,
                               poisson_ratio=props.poisson_ratio, mesh_size=mesh_size, min_size=min_size,
                               surface_size=surface_size, grid_spacing=grid_spacing)


def main():
    try:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(2)
    except ImportError:
        limiter = None
    res = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                       "cpus_used": 2}}
    t0 = time.perf_counter()
    sim10 = lithium_field(10)
    t_sim = time.perf_counter() - t0
    mesh = dict(mesh_size=6e-7, min_size=2e-8, surface_size=2e-7)
    t0 = time.perf_counter()
    ds = stress(sim10["theta"], **mesh)
    t_fem = time.perf_counter() - t0
    fine = stress(sim10["theta"], **{k: v / 2 for k, v in mesh.items()})
    last = dict(time=-1)
    b, bf = ds.sel(probe="bridge").isel(**last), fine.sel(probe="bridge").isel(**last)
    peak, peak_f = float(ds["hoop_stress"].isel(**last).max()), float(fine["hoop_stress"].isel(**last).max())
    sim01 = lithium_field(0.1)
    slow = stress(sim01["theta"], **mesh)
    b01 = slow.sel(probe="bridge").isel(**last)
    res.update({
        "geometry": ds.attrs["geometry"],
        "protocol": (f"10C discharge (lithiation) of lrtmo from theta0 = 1 - f = {float(sim10.theta_mean[0]):.4f} to "
                     "20 % DOD (depth_of_discharge: charge / practical capacity), 11 time points"),
        "dod_reached": sim10.attrs["dod_reached"],
        "theta_mean_end": float(sim10.theta_mean[-1]),
        "lithium_field": "engine hollow-sphere run (zero flux at the void; the pores are not in the transport)",
        "simulate_s": round(t_sim, 3),
        "fem_s": round(t_fem, 3),
        "n_elements": ds.attrs["n_elements"],
        "n_nodes_p2": ds.attrs["n_nodes"],
        "mesh_min_size_m": ds.attrs["mesh_min_size"],
        "mesh_max_size_m": ds.attrs["mesh_max_size"],
        "mesh_options_m": mesh,
        "bridge_point_m": [float(ds.probe_r.sel(probe="bridge")), float(ds.probe_z.sel(probe="bridge"))],
        "bridge_hoop_stress_Pa_10C_20DOD": float(b["probe_hoop_stress"]),
        "bridge_von_mises_stress_Pa_10C_20DOD": float(b["probe_von_mises_stress"]),
        "bridge_hoop_stress_Pa_01C_20DOD": float(b01["probe_hoop_stress"]),
        "ratio_10C_over_01C_bridge_hoop": float(b["probe_hoop_stress"] / b01["probe_hoop_stress"]),
        "peak_hoop_stress_Pa_10C_20DOD": peak,
        "accuracy_rel_bridge_von_mises_vs_half_size_mesh": float(
            abs(b["probe_von_mises_stress"] - bf["probe_von_mises_stress"]) / abs(bf["probe_von_mises_stress"])),
        "accuracy_rel_bridge_hoop_vs_half_size_mesh": float(
            abs(b["probe_hoop_stress"] - bf["probe_hoop_stress"]) / abs(bf["probe_hoop_stress"])),
        "accuracy_rel_peak_hoop_vs_half_size_mesh": abs(peak - peak_f) / abs(peak_f),
        "fine_mesh_n_elements": fine.attrs["n_elements"],
        "paper_hoop_stress_Pa_10C_20DOD": 3.17e8,
    })
    if limiter is not None:
        limiter.unregister() if hasattr(limiter, "unregister") else None
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
