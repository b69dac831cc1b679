"""Make the PyBaMM peer numbers of tests/test_stress.py and benchmarks/bench_stress.py.

Run with PyBaMM 26.10 (never a lithmap dependency):  /tmp/bv/bin/python make_pybamm_stress.py

A single-particle model (SPM, Ai2020 parameters with the positive particle's D, Ω, E, ν and c_max
replaced by the constants below) with PyBaMM's "swelling only" particle mechanics, at constant
current: the positive particle sees a uniform constant surface flux, as a lithmap sphere does.
PyBaMM's "stress-induced diffusion" (on by default with mechanics) is switched off: lithmap's
coupling is one-way, and with it on PyBaMM's effective D here is 3x larger.
Written to pybamm_stress.json beside this script: the x-averaged positive particle concentration
c(r, t) on PyBaMM's cell centres, its surface concentration, and PyBaMM's surface tangential
(hoop) and radial stress variables, which use the surface formula ΩE(c̄ − c_surf)/(3(1 − ν))
(Ai et al., J. Electrochem. Soc. 2020).
"""

import json
import time
from pathlib import Path

import numpy as np
import pybamm

D = 1e-14  # m^2/s
OMEGA = 2e-6  # m^3/mol
E = 1e11  # Pa
NU = 0.3
C_MAX = 5e4  # mol/m^3
THETA0 = 0.9
CURRENT = 1.0  # A (charge: delithiates the positive particle)
T_END = 1800.0  # s
N_R = {"coarse": 20, "fine": 200}


def run(n_r, solver_tol=1e-8):
    # stress-induced diffusion off: lithmap's coupling is one-way (stress from theta, not back)
    model = pybamm.lithium_ion.SPM({"particle mechanics": "swelling only", "stress-induced diffusion": "false"})
    p = pybamm.ParameterValues("Ai2020")
    p.update({
        "Positive particle diffusivity [m2.s-1]": D,
        "Positive electrode partial molar volume [m3.mol-1]": OMEGA,
        "Positive electrode Young's modulus [Pa]": E,
        "Positive electrode Poisson's ratio": NU,
        "Maximum concentration in positive electrode [mol.m-3]": C_MAX,
        "Initial concentration in positive electrode [mol.m-3]": THETA0 * C_MAX,
        "Current function [A]": -CURRENT,
        "Initial concentration in negative electrode [mol.m-3]":
            0.02 * float(p["Maximum concentration in negative electrode [mol.m-3]"]),
        "Lower voltage cut-off [V]": 0.0,
        "Upper voltage cut-off [V]": 10.0,
    }, check_already_exists=False)
    var_pts = {"x_n": 5, "x_s": 5, "x_p": 5, "r_n": 20, "r_p": n_r}
    sim = pybamm.Simulation(model, parameter_values=p, var_pts=var_pts,
                            solver=pybamm.IDAKLUSolver(rtol=solver_tol, atol=solver_tol))
    t_eval = np.linspace(0, T_END, 7)
    t0 = time.perf_counter()
    sol = sim.solve(t_eval, t_interp=t_eval)
    wall = time.perf_counter() - t0
    assert abs(sol.t[-1] - T_END) < 1e-6, f"PyBaMM stopped at {sol.t[-1]} s: {sol.termination}"
    R = float(p["Positive particle radius [m]"])
    r = np.asarray(sol["r_p [m]"].entries)[:, 0, 0]
    c = sol["X-averaged positive particle concentration [mol.m-3]"].entries  # (r, t)
    out = {
        "n_r": n_r,
        "wall_s": wall,
        "radius": R,
        "time": sol.t.tolist(),
        "r_centres": [float(v) for v in r],
        "c": np.asarray(c).T.tolist(),
        "c_surf": sol["X-averaged positive particle surface concentration [mol.m-3]"].entries.tolist(),
        "c_rav": np.asarray(sol["R-averaged positive particle concentration [mol.m-3]"].entries)[0].tolist(),
        "stress_t_surf": sol["X-averaged positive particle surface tangential stress [Pa]"].entries.tolist(),
        "stress_r_surf": np.broadcast_to(
            sol["X-averaged positive particle surface radial stress [Pa]"].entries, sol.t.shape).tolist(),
    }
    return out


if __name__ == "__main__":
    runs = {name: run(n) for name, n in N_R.items()}
    # PyBaMM's time for the stressed SPM at several meshes (for benchmarks/bench_stress.py)
    timing = {}
    for n in (10, 20, 50, 100, 200):
        tries = [run(n) for _ in range(3)]
        timing[str(n)] = {"wall_s": min(t["wall_s"] for t in tries), "stress_t_surf": tries[0]["stress_t_surf"]}
    data = {
        "pybamm_version": pybamm.__version__,
        "constants": {"diffusivity": D, "partial_molar_volume": OMEGA, "youngs_modulus": E, "poisson_ratio": NU,
                      "c_max": C_MAX, "theta0": THETA0, "current_A": CURRENT},
        "runs": runs,
        "by_n_r": timing,  # wall_s: sim.solve (discretisation + solve), best of 3
    }
    Path(__file__).with_name("pybamm_stress.json").write_text(json.dumps(data, indent=1))
    print({k: (v["n_r"], round(v["wall_s"], 3), v["stress_t_surf"][-1]) for k, v in runs.items()},
          {n: round(v["wall_s"], 3) for n, v in timing.items()})
