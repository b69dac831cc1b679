"""Closed-form stress path (lithmap simulate + particle_stress) beside PyBaMM's surface-stress
variables on the same sphere, as a time ratio at equal accuracy, side by side in one run (not a test).

The problem is that of tests/data/pybamm_stress/make_pybamm_stress.py: a 3 µm sphere, D = 1e-14
m²/s, constant flux (PyBaMM SPM, Ai2020 with the positive particle's constants replaced, swelling
only, no stress-induced diffusion), 1800 s, Ω = 2e-6 m³/mol, E = 100 GPa, ν = 0.3, c_max = 5e4
mol/m³. The accuracy measured is the surface hoop stress over the 7 output times against a
reference (lithmap on 2001 uniform nodes, tol 1e-7), relative to its maximum.

PyBaMM runs live when it is importable (that script's ``run``, imported): ``sim.solve``
(discretisation + IDAKLU solve, best of 3 after a warm-up) and the whole call (model, parameters,
Simulation and solve), at n_r = 10…200. Without PyBaMM the numbers stored by that script are used,
with a printed warning, and the JSON says so. lithmap's times are best of 3 after a warm-up
(benchmarks/timing.py) of the whole ``simulate_stress`` call. The ratio uses PyBaMM's ``sim.solve``
time (the smaller of its two). lithmap also gives the stress everywhere inside (and for a central
void), which PyBaMM does not.

Run: /tmp/bv/bin/python benchmarks/bench_stress.py   (a Python with PyBaMM 26.10 and lithmap)
     .venv/bin/python benchmarks/bench_stress.py     (no PyBaMM: stored PyBaMM numbers, warned)
     → benchmarks/results/stress.json
"""

import importlib.util
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

import lithmap as lm  # noqa: E402
from timing import best  # noqa: E402  (benchmarks/ is the script's folder)

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "tests/data/pybamm_stress"
N_R = (10, 20, 50, 100, 200)


def pybamm_live():
    """PyBaMM's runs now, or None when PyBaMM cannot be imported."""
    try:
        import pybamm
    except ImportError:
        return None
    spec = importlib.util.spec_from_file_location("make_pybamm_stress", PEER / "make_pybamm_stress.py")
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    by_n = {}
    for n in N_R:
        peer.run(n)  # warm-up
        solve, total, first = [], [], None
        for _ in range(3):
            t0 = time.perf_counter()
            out = peer.run(n)
            total.append(time.perf_counter() - t0)
            solve.append(out["wall_s"])
            first = first or out
        by_n[str(n)] = {"wall_s": min(solve), "total_s": min(total), "stress_t_surf": first["stress_t_surf"]}
    constants = {"diffusivity": peer.D, "partial_molar_volume": peer.OMEGA, "youngs_modulus": peer.E,
                 "poisson_ratio": peer.NU, "c_max": peer.C_MAX, "theta0": peer.THETA0, "current_A": peer.CURRENT}
    return {"pybamm_version": pybamm.__version__, "constants": constants, "runs": {"fine": peer.run(200)},
            "by_n_r": by_n, "live": True}


def main():
    data = pybamm_live()
    if data is None:
        print("WARNING: PyBaMM is not importable here; using the PyBaMM timings STORED in "
              f"{PEER / 'pybamm_stress.json'} (another run, maybe another machine). Run with a Python that has "
              "PyBaMM (e.g. /tmp/bv/bin/python) for a side-by-side comparison.", file=sys.stderr)
        data = json.loads((PEER / "pybamm_stress.json").read_text())
        data["live"] = False
    k, run = data["constants"], data["runs"]["fine"]
    t = np.array(run["time"])
    c_rav = np.array(run["c_rav"])
    rate = -(c_rav[-1] - c_rav[0]) / k["c_max"] / (t[-1] - t[0]) * 3600
    mech = dict(youngs_modulus=k["youngs_modulus"], poisson_ratio=k["poisson_ratio"],
                partial_molar_volume=k["partial_molar_volume"], c_max=k["c_max"])
    protocol = f"Charge at {rate}C for {t[-1]} seconds"

    def path(n=None, tol=1e-3):
        return lm.simulate_stress(f"sphere:{run['radius']}", protocol, diffusivity=k["diffusivity"],
                                  theta0=k["theta0"], times=list(t), options=lm.SolverOptions(tol=tol),
                                  mesh_options=None if n is None else {"n": n}, **mech)

    ref = path(2001, 1e-7).hoop_stress.isel(r=-1).values
    scale = np.abs(ref).max()

    def err(values):
        return float(np.abs(np.asarray(values) - ref).max() / scale)

    pybamm = [{"n_r": int(n), "wall_s": v["wall_s"], "total_s": v.get("total_s"), "error": err(v["stress_t_surf"])}
              for n, v in sorted(data["by_n_r"].items(), key=lambda kv: int(kv[0]))]
    ours = []
    for n, tol in ((11, 1e-3), (21, 1e-3), (41, 1e-3), (81, 1e-4), (None, 1e-3), (None, 1e-4), (None, 1e-5),
                   (None, 1e-6), (201, 1e-6)):
        ours.append({"mesh": "graded default" if n is None else f"{n} uniform nodes", "tol": tol,
                     "wall_s": best(lambda n=n, tol=tol: path(n, tol)),
                     "error": err(path(n, tol).hoop_stress.isel(r=-1).values)})
    # equal accuracy: the cheapest lithmap setting at least as accurate as each PyBaMM mesh
    ratios = []
    for p in pybamm:
        ok = [o for o in ours if o["error"] <= p["error"]]
        if ok:
            o = min(ok, key=lambda o: o["wall_s"])
            ratios.append({"pybamm_n_r": p["n_r"], "pybamm_error": p["error"], "pybamm_s": p["wall_s"],
                           "lithmap": f"{o['mesh']}, tol {o['tol']:g}", "lithmap_error": o["error"],
                           "lithmap_s": o["wall_s"], "time_ratio_pybamm_over_lithmap": p["wall_s"] / o["wall_s"],
                           "time_ratio_pybamm_total_over_lithmap": (p["total_s"] / o["wall_s"]
                                                                    if p["total_s"] is not None else None)})
    out = {"problem": "3 um sphere, D 1e-14 m^2/s, constant flux, 1800 s; surface hoop stress at 7 times",
           "reference": "lithmap 2001 uniform nodes, tol 1e-7", "pybamm_version": data["pybamm_version"],
           "pybamm_live": data["live"],
           "pybamm_timing": ("live, this run: wall_s = sim.solve (discretisation + IDAKLU), total_s = model + "
                             "parameters + Simulation + solve; best of 3 after a warm-up" if data["live"] else
                             "STORED (PyBaMM not importable): sim.solve best of 3, when the data were made"),
           "lithmap_timing": "simulate_stress (simulate + closed-form stress), best of 3 after a warm-up",
           "machine": platform.processor() or platform.machine(), "python": platform.python_version(),
           "pybamm": pybamm, "lithmap": ours, "equal_accuracy": ratios}
    dest = ROOT / "benchmarks/results/stress.json"
    dest.write_text(json.dumps(out, indent=1))
    for r in ratios:
        print(f"PyBaMM n_r={r['pybamm_n_r']:>3} err {r['pybamm_error']:.1e} {r['pybamm_s'] * 1e3:6.1f} ms | lithmap "
              f"{r['lithmap']:<28} err {r['lithmap_error']:.1e} {r['lithmap_s'] * 1e3:6.1f} ms | ratio "
              f"{r['time_ratio_pybamm_over_lithmap']:.2f}"
              + (f" (whole PyBaMM call: {r['time_ratio_pybamm_total_over_lithmap']:.2f})"
                 if r["time_ratio_pybamm_total_over_lithmap"] is not None else ""))
    print("PyBaMM live, this run" if data["live"] else "PyBaMM STORED numbers (not live)")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
