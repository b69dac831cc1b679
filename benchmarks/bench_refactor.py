"""Issue 9 ("One house") changed no numbers; this checks it changed no speed either: the same
lithmap work timed under the code before the refactor and after it, in alternating child
processes of one run (best of each process's repeats, then the best over rounds).

    python benchmarks/bench_refactor.py OLD_SRC [ROUNDS]

OLD_SRC is the ``src`` folder of a checkout of the earlier code (e.g. ``git worktree add
/tmp/old 73e8088``). Each case is written twice, in the old API and the new, doing the same work.
Not a test: nothing is asserted; the ratios go to benchmarks/README.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

STEEP = ("import lithmap as lm\n"
         "D = lm.FunctionDiffusivity(lambda th: 1e-18 * 10 ** (2 * ((1 - th) / 0.2).clip(0, 1)))")
SPHERE = "lm.simulate(lm.Sphere(8e-6), 'Charge at C/3 for 2 hours', diffusivity=D, theta0=0.97, times=[0.0], "
CCCV = "lm.simulate(lm.Sphere(8e-6), 'Charge at C/3 until 4.2 V then Hold at 4.2 V until C/50', material='nmc811')"
SWEEP = ("lm.sweep('sphere', radius=np.linspace(1e-6, 8e-6, 5), alpha=np.linspace(1, 5, 5), "
         "rate=np.linspace(0.2, 2, 8), protocol='Charge at {rate} for 30 minutes', diffusivity=1e-15, theta0=0.97)")

TABLE = "import lithmap as lm\nD = lm.TabulatedDiffusivity([0.8, 1.0], [1e-16, 1e-18])"
CYLINDER = ("lm.simulate(lm.Cylinder(1e-6), 'Charge at C/3 for 1 hour', diffusivity=D, theta0=0.97, "
            "times=[0, 600, 1200, 2400, 3600])")
BATCH = ("import lithmap as lm, numpy as np\nfrom lithmap.physics.engine import run_batch\n"
         "from lithmap.physics.simulate import resolve_material\n"
         "mat = resolve_material(None, lm.TabulatedDiffusivity([0.8, 1.0], [1e-16, 1e-18]))\n"
         "rng = np.random.default_rng(3)\nR = rng.choice([1e-6, 2e-6, 4e-6, 8e-6], 200)\nc = rng.uniform(0.2, 3, 200)\n"
         "meshes = [lm.Sphere(r).mesh(surface_spacing=r / 60, max_spacing=r / 10, growth=1.25) for r in R]\n"
         "protocols = [lm.parse_protocol(f'Charge at {float(x)!r}C for {1800 / float(x)!r} s') for x in c]\n"
         "alpha = rng.uniform(1, 5, 200)")

CASES = {
    "sphere 8 µm, C/3 to θs = 0.005 (default mesh)": dict(
        setup=STEEP,
        old=SPHERE + "options=lm.SolverOptions(surface_limits=(0.005, 1.0)), stop_at_limit=True)",
        new=SPHERE + "surface_limits=(0.005, 1.0), stop_at_limit=True)",
        repeats=15),
    "CC-CV: C/3 to 4.2 V then hold to C/50, 8 µm sphere": dict(
        setup="import lithmap as lm", old=CCCV, new=CCCV,
        repeats=7),
    "disc 1 µm (2D), C/3 for 1 h, default mesh": dict(
        setup=STEEP,
        old="lm.simulate(lm.Disc(1e-6), 'Charge at C/3 for 1 hour', diffusivity=D, theta0=0.97)",
        new="lm.simulate(lm.Disc(1e-6), 'Charge at C/3 for 1 hour', diffusivity=D, theta0=0.97)",
        repeats=3),
    "cylinder 1 µm (1D), C/3 for 1 h": dict(setup=TABLE, old=CYLINDER, new=CYLINDER, repeats=10),
    "run_batch of 200 spheres, 16-node meshes, to θs = 0.005": dict(
        setup=BATCH,
        old="run_batch(meshes, mat, protocols, alpha=alpha, theta0=0.97, record_fields=True, "
            "options=lm.SolverOptions(surface_limits=(0.005, 1.0), on_limit='stop'))",
        new="run_batch(meshes, mat, protocols, alpha=alpha, theta0=0.97, record_fields=True, "
            "surface_limits=lm.SurfaceLimits(0.005, 1.0, on_limit='stop'))",
        repeats=5),
    "sweep of 200 spheres (α × C-rate × R)": dict(
        setup="import lithmap as lm, numpy as np", old=SWEEP, new=SWEEP,
        repeats=3),
    "contrast 300×512×512 uint16, one thread, given mask": dict(
        setup="import lithmap as lm, numpy as np, xarray as xr\nrng = np.random.default_rng(0)\n"
              "y, x = np.mgrid[:512, :512]\nr = np.hypot(y - 246, x - 266)\nmask = r < 128\n"
              "noise = rng.integers(0, 60, (8, 512, 512), dtype=np.uint16)\n"
              "stack = np.stack([np.where(mask, 3000 + 1500 * (r > 128 * (1 - 0.8 * k / 300)), 400).astype(np.uint16)"
              " + noise[k % 8] for k in range(300)])\nt = np.arange(300) * 10.0\n"
              "movie = xr.DataArray(stack, dims=('time', 'y', 'x'), coords={'time': ('time', t, {'units': 's'})})",
        old="lm.contrast_movie(stack, t, register=False, mask=mask, workers=1)",
        new="lm.contrast_movie(movie, register=False, mask=mask, workers=1)",
        repeats=3),
    "LCF 256×256×100, 3 standards": dict(
        setup="import lithmap as lm, numpy as np\nrng = np.random.default_rng(1)\nE = np.linspace(6535, 6580, 100)\n"
              "S = np.stack([1 / (1 + np.exp(-(E - e0) / 2)) for e0 in (6545, 6550, 6556)])\n"
              "w = rng.dirichlet([1, 1, 1], (256, 256))\ncube = (w @ S + rng.normal(0, 0.01, (256, 256, 100)))\n"
              "import xarray as xr\nsample = xr.DataArray(cube, dims=('y', 'x', 'energy'), coords={'energy': E})\n"
              "stds = xr.DataArray(S, dims=('standard', 'energy'), coords={'energy': E, 'standard': ['a', 'b', 'c']})",
        old="lm.fit_lcf(sample, stds, [2, 3, 4])",
        new="lm.fit_lcf(sample, stds, [2, 3, 4])",
        repeats=10),
    "Neware .ndax, 1 464 records (real file)": dict(
        setup="import lithmap as lm\np = 'tests/data/cycler/test.ndax'",
        old="lm.read_cycler(p)", new="lm.read_cycler(p)", repeats=20),
    "GITT, 40 real pulses, parse + analysis": dict(
        setup="import lithmap as lm, glob\nfiles = sorted(glob.glob('tests/data/gitt-halfcell/pulse_*.csv'))\n"
              "V = 'Positive electrode potential [V]'",
        old="t, e, i = lm.read_gitt_csv(files, voltage_column=V); lm.analyse_gitt(t, e, i, radius=5.22e-6)",
        new="lm.analyse_gitt(lm.read_cycler(files, columns={'voltage': V}), radius=5.22e-6)",
        repeats=10),
}

CHILD = r'''
import json, sys, time
case = json.loads(sys.argv[1]); which = sys.argv[2]
exec(case["setup"])
code = compile(case[which], "case", "exec")
exec(code)  # warm-up: numba compilation / caches
best = float("inf")
for _ in range(case["repeats"]):
    t0 = time.perf_counter(); exec(code); best = min(best, time.perf_counter() - t0)
print(json.dumps(best))
'''


def run(case: dict, which: str, src: str | None, cwd: Path) -> float:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(case), which], env=env, cwd=cwd,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    old_src = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    only = sys.argv[3] if len(sys.argv) > 3 else ""  # run only the cases whose name contains this
    root = Path(__file__).resolve().parents[1]
    old_root = Path(old_src).resolve().parent
    rows = []
    for name, case in CASES.items():
        if only not in name:
            continue
        t_old, t_new = [], []
        for _ in range(rounds):  # alternate, so drifts of the shared machine hit both alike
            t_old.append(run(case, "old", old_src, old_root))
            t_new.append(run(case, "new", None, root))
        rows.append({"case": name, "old_s": min(t_old), "new_s": min(t_new), "new_over_old": min(t_new) / min(t_old),
                     "old_all_s": t_old, "new_all_s": t_new})
        print(f"{name}: old {min(t_old) * 1e3:.1f} ms, new {min(t_new) * 1e3:.1f} ms, "
              f"new/old {rows[-1]['new_over_old']:.3f}", flush=True)
    out = root / "benchmarks" / "results" / ("refactor.json" if not only else "refactor_subset.json")
    out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
