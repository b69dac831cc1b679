"""Per-pixel LCF: lithmap against Larch's own fit on the same spectra, in one run (not tests).

A 512×512 map of 100-energy spectra (the real Mn K-edge standards MnO / Mn2O3 / MnO2,
normalised as Larch's ``pre_edge`` does and interpolated onto 100 energies in 6535–6580 eV), each
pixel a random mixture on the simplex plus 1 % noise, is fitted with the three standards:

- lithmap's default for a map (issue 11): free non-negative amplitudes plus a linear background,
  fractions = amplitudes / their sum (``fit_lcf`` on the whole cube, best of 3 after a warm-up);
  also on the same map as raw optical density (thickness ×10, sloped background: the same
  fractions);
- lithmap's ``model="sum-to-one"`` (non-negative weights summing to one), the fit Larch does;
- one plain memory pass over the cube (``cube.sum()``), the issue's yardstick (≤ 20×);
- Larch: ``larch.math.lincombo_fit`` (lmfit, per spectrum, weights bounded to [0, 1] and
  ``sum_to_one=True``) on a random sample of pixels; its time per spectrum × the number of
  pixels is Larch's time per map (issue: lithmap ≥ 2000× faster). Its weights are compared
  with lithmap's sum-to-one weights on the sampled pixels where Larch's weights sum to one
  (issue: ≤ 1e-6), and the mean-valence error against the truth is recorded side by side for
  the three fits.

xraylarch is installed by the ``bench`` extra only. Run: .venv/bin/python benchmarks/bench_lcf.py
"""

import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np

from timing import best  # noqa: E402  (benchmarks/ is the script's folder)

ROOT = Path(__file__).resolve().parents[1]
STD = ROOT / "tests" / "data" / "xanes-standards"
N_LARCH = 300


def standards_matrix(n_energy=100):
    from lithmap import interpolate_standards, normalise, read_xdi

    energy = np.linspace(6535.0, 6580.0, n_energy)
    groups = []
    for name in ("MnO_rt_01", "Mn2O3_rt_01", "MnO2_rt_01"):
        d = read_xdi(STD / f"{name}.xdi")
        norm = normalise(d.mu.values, d.energy.values, e0="larch")
        groups.append((name, d.energy.values, np.asarray(norm)))
    import xarray as xr

    stds = [xr.DataArray(n, dims="energy", coords={"energy": e}, name=name) for name, e, n in groups]
    A = interpolate_standards(stds, energy)
    return energy, np.asarray(A.values, float)


def main():
    from lithmap import fit_lcf

    energy, A = standards_matrix()
    rng = np.random.default_rng(0)
    ny = nx = 512
    w_true = rng.dirichlet(np.ones(3), size=(ny, nx))
    cube = (w_true @ A.T) + 0.01 * rng.standard_normal((ny, nx, energy.size))
    res = {"machine": {"platform": platform.platform(), "python": platform.python_version(), "numpy": np.__version__},
           "shape": [ny, nx, energy.size], "standards": 3}
    v = np.array([2.0, 3.0, 4.0])
    truth = w_true.reshape(-1, 3) @ v
    res["plain_pass_s"] = best(lambda: cube.sum())
    res["lithmap_s"] = best(lambda: fit_lcf(cube, A, v))  # the default for a map: amplitudes
    res["lithmap_sum_to_one_s"] = best(lambda: fit_lcf(cube, A, v, model="sum-to-one"))
    amp = fit_lcf(cube, A, v)
    thick = 0.3 * 10 ** rng.uniform(0, 1, (ny, nx, 1))
    raw = thick * (cube + 0.5 - 2e-3 * (energy - 6546.0)) + 0.02
    amp_raw = fit_lcf(raw, A, v)
    ds = fit_lcf(cube, A, v, model="sum-to-one")
    w_lm = ds.weights.values
    res["model_default"] = amp.attrs["model"]
    res["mean_valence_error_lithmap_default"] = float(np.abs(amp.mean_valence.values.ravel() - truth).mean())
    res["mean_valence_error_lithmap_default_raw_od"] = float(np.abs(amp_raw.mean_valence.values.ravel()
                                                                    - truth).mean())
    res["mean_valence_error_lithmap_sum_to_one"] = float(np.abs(ds.mean_valence.values.ravel() - truth).mean())

    import larch
    from larch import Group
    from larch.math import lincombo_fit

    comps = [Group(energy=energy, norm=A[:, k].copy(), filename=f"std{k}") for k in range(3)]
    pix = rng.choice(ny * nx, N_LARCH, replace=False)
    w_larch, sums = np.empty((N_LARCH, 3)), np.empty(N_LARCH)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, p in enumerate(pix):
            g = Group(energy=energy, norm=cube.reshape(-1, energy.size)[p].copy(), filename=f"pixel{p}")
            out = lincombo_fit(g, comps, minvals=[0, 0, 0], maxvals=[1, 1, 1], sum_to_one=True)
            w = np.array([out.weights[c.filename] for c in comps])
            w_larch[i], sums[i] = w, w.sum()
    per_spectrum = (time.perf_counter() - t0) / N_LARCH
    res["larch_version"] = larch.__version__
    res["mean_valence_error_larch_sampled_pixels"] = float(np.abs(w_larch @ v / sums - truth[pix]).mean())
    res["mean_valence_error_lithmap_default_sampled_pixels"] = float(
        np.abs(amp.mean_valence.values.ravel()[pix] - truth[pix]).mean())
    res["mean_valence_error_lithmap_sum_to_one_sampled_pixels"] = float(
        np.abs(ds.mean_valence.values.ravel()[pix] - truth[pix]).mean())
    res["larch_per_spectrum_s"] = per_spectrum
    res["larch_per_map_s"] = per_spectrum * ny * nx
    res["speedup_vs_larch"] = res["larch_per_map_s"] / res["lithmap_s"]
    res["ratio_vs_plain_pass"] = res["lithmap_s"] / res["plain_pass_s"]
    ok = np.abs(sums - 1) <= 1e-9
    diff = np.abs(w_larch - w_lm.reshape(-1, 3)[pix])
    res["larch_pixels"] = N_LARCH
    res["larch_pixels_sum_to_one"] = int(ok.sum())
    res["max_weight_difference"] = float(diff[ok].max()) if ok.any() else float("nan")
    res["median_weight_difference"] = float(np.median(diff[ok])) if ok.any() else float("nan")
    # where they differ, which solution has the lower sum of squares (the constrained optimum)?
    b = cube.reshape(-1, energy.size)[pix]
    rss_larch = ((b - w_larch @ A.T) ** 2).sum(axis=1)
    rss_lm = ((b - w_lm.reshape(-1, 3)[pix] @ A.T) ** 2).sum(axis=1)
    far = ok & (diff.max(axis=1) > 1e-6)
    res["pixels_differing_above_1e-6"] = int(far.sum())
    res["of_those_lithmap_rss_lower"] = int((rss_lm[far] < rss_larch[far]).sum())
    res["of_those_larch_rss_excess_max"] = float((rss_larch[far] / rss_lm[far] - 1).max()) if far.any() else 0.0
    interior = ok & (w_larch.min(axis=1) > 1e-3)
    res["max_weight_difference_interior"] = float(diff[interior].max()) if interior.any() else float("nan")
    out = ROOT / "benchmarks" / "results" / "lcf.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"512x512x100, 3 standards: lithmap {res['lithmap_s']:.3f} s (default, amplitudes + background), "
          f"{res['lithmap_sum_to_one_s']:.3f} s (sum-to-one); one plain pass {res['plain_pass_s']:.3f} s "
          f"(ratio {res['ratio_vs_plain_pass']:.1f}); Larch {1e3 * per_spectrum:.2f} ms/spectrum -> "
          f"{res['larch_per_map_s']:.0f} s/map (lithmap {res['speedup_vs_larch']:.0f}x faster)")
    print(f"weights vs Larch on {ok.sum()}/{N_LARCH} pixels where Larch's sum is 1: max |dw| "
          f"{res['max_weight_difference']:.2e} (median {res['median_weight_difference']:.2e}; interior pixels "
          f"{res['max_weight_difference_interior']:.2e}); {res['pixels_differing_above_1e-6']} pixels differ by more "
          f"than 1e-6, and on {res['of_those_lithmap_rss_lower']} of them lithmap's sum of squares is the lower "
          f"(Larch's up to {100 * res['of_those_larch_rss_excess_max']:.3g} % higher)")
    print(f"mean-valence error on {N_LARCH} sampled pixels: lithmap default "
          f"{res['mean_valence_error_lithmap_default_sampled_pixels']:.4f}, lithmap sum-to-one "
          f"{res['mean_valence_error_lithmap_sum_to_one_sampled_pixels']:.4f}, Larch sum-to-one "
          f"{res['mean_valence_error_larch_sampled_pixels']:.4f}; whole map: default "
          f"{res['mean_valence_error_lithmap_default']:.4f} (as raw OD: "
          f"{res['mean_valence_error_lithmap_default_raw_od']:.4f}), sum-to-one "
          f"{res['mean_valence_error_lithmap_sum_to_one']:.4f}")


if __name__ == "__main__":
    main()
