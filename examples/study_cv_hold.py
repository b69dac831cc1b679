"""Xu, Merryweather et al., Joule 2022, Fig. 4 and Fig. 1E: at the end of a 1C constant-current (CC)
discharge to 3.0 V the particle has a lithium-rich shell around a lithium-poor core; a 2 h hold at
3.0 V recovers most of the missing capacity (1C cycle: coulombic efficiency 82.3 % → 94.3 %, ~24 mA h/g
extra; C/3 cycle, Fig. 1E: 84.0 % → 91.2 %, 16.4 mA h/g).

The cycle: from θ0 = 0.97, "Charge at 1C until 4.3 V then Discharge at 1C until 3.0 V then Hold at
3.0 V for 2 hours" (and the same at C/3). Capacities in θ of the particle mean: charge
Q_ch = θ0 − θ̄(end of charge), CC discharge Q_cc = θ̄(end of CC) − θ̄(end of charge), hold
Q_cv = θ̄(end of hold) − θ̄(end of CC). Coulombic efficiency without the hold Q_cc / Q_ch, with it
(Q_cc + Q_cv) / Q_ch; mA h/g = Δθ × 275 (the preset's theoretical capacity).

1. The shell: a 1 µm-radius sphere and a 1 µm-radius cylinder (in-plane diffusion, as in the
   paper's model) with the nmc811 preset (α = 2.7). Not the 2D example particle: under the uniform
   surface flux of a CC step one outline node fills (θ = 1) about 11 min into the 1C discharge
   (mean θ 0.67, 3.58 V), long before the outline-mean voltage reaches 3.0 V, and the run cannot go on.
2. A scan over α (D scale) and over a factor on the exchange current j0(θ) (one ``lithmap.sweep``
   batch over α per j0 factor and protocol), to see which values give the paper's 82 % / 94 %.

Run:  python examples/study_cv_hold.py [out_dir]     (default examples/figures)
"""

import sys
from pathlib import Path

import numpy as np
import xarray as xr

import lithmap as lm

PAPER = {"1C": (0.823, 0.943), "C/3": (0.840, 0.912)}
CHARGE = "Charge at {rate} until 4.3 V"
CC = CHARGE + " then Discharge at {rate} until 3.0 V"
CCCV = CC + " then Hold at 3.0 V for 2 hours"
LI_RICH = (0.95, 0.8)  #: the shell thickness is given where θ ≥ each of these levels


class ScaledExchangeCurrent:
    """A factor on a material's exchange current density j0(θ) (the preset's j0 with ``evaluate``)."""

    def __init__(self, base, factor):
        self.base, self.factor = base, float(factor)

    def evaluate(self, theta):
        j0, dj0 = self.base.evaluate(theta)
        return self.factor * j0, self.factor * dj0

    def __call__(self, theta):
        return self.evaluate(np.asarray(theta, dtype=float))[0]

    def __repr__(self):
        return f"{self.factor:g} x {self.base!r}"


def material(j0_factor=1.0):
    """The nmc811 preset with its j0(θ) multiplied by ``j0_factor``."""
    base = lm.nmc811()
    if j0_factor == 1.0:
        return base
    return base.replace(exchange_current=ScaledExchangeCurrent(base.exchange_current, j0_factor))


def step_capacities(ds, theta0=0.97):
    """(Q_ch, Q_cc, Q_cv) in θ from one simulated cycle (the last sample of each step)."""
    end = [float(ds.theta_mean.values[np.flatnonzero(ds.step.values == k)[-1]]) for k in range(3)]
    return theta0 - end[0], end[1] - end[0], end[2] - end[1]


def shell(radius=1e-6, alpha=2.7, rate="1C", theta0=0.97, shape="sphere"):
    """The lithium-rich shell at the end of the CC discharge, and the cycle's coulombic efficiencies.

    Returns
    -------
    xarray.Dataset
        ``theta_cc`` (r) and ``theta_cv`` (r): the sphere's profile at the end of CC and of the
        hold; ``theta_surface_cc``, ``theta_centre_cc``, ``shell_thickness`` (m, the outer layer
        at θ ≥ each ``level``: 0.95 and 0.8), ``ce_cc``, ``ce_cv``, ``extra_mah_g``, ``q_ch`` (θ),
        ``q_ch_mah_g``, ``theta_end_cv``.
    """
    mat = lm.nmc811()
    text = CCCV.replace("{rate}", rate)
    ds = lm.simulate(f"{shape}:{radius!r}m", text, material=mat, alpha=alpha, theta0=theta0, times=60.0,
                     mesh_options={"surface_spacing": "1nm", "max_spacing": "20nm"})  # resolves the shell
    q_ch, q_cc, q_cv = step_capacities(ds, theta0)
    i_cc = np.flatnonzero(ds.step.values == 1)[-1]
    prof = ds.theta.isel(time=i_cc)
    r = ds.r.values
    thickness = []
    for level in LI_RICH:
        inner = np.flatnonzero(prof.values < level)
        thickness.append(radius - r[inner[-1]] if inner.size else radius)
    mah = mat.theoretical_capacity / 3600.0
    out = xr.Dataset({
        "theta_cc": prof.drop_vars("time"), "theta_cv": ds.theta.isel(time=-1).drop_vars("time"),
        "theta_surface_cc": float(ds.theta_surface[i_cc]), "theta_centre_cc": float(ds.theta_centre[i_cc]),
        "shell_thickness": xr.DataArray(thickness, dims="level", coords={"level": list(LI_RICH)},
                                        attrs={"units": "m", "long_name": "outer layer at theta >= level"}),
        "ce_cc": q_cc / q_ch, "ce_cv": (q_cc + q_cv) / q_ch, "q_ch": q_ch, "q_ch_mah_g": q_ch * mah,
        "extra_mah_g": q_cv * mah, "theta_end_cv": float(ds.theta_mean[-1]),
    }, attrs={"radius": radius, "alpha": alpha, "rate": rate, "theta0": theta0, "protocol": text, "shape": shape})
    return out


def ce_scan(alpha=(1.0, 2.7, 5.0, 10.0, 20.0, 50.0, 100.0, 300.0), j0_factor=(1e-3, 1e-2, 0.1, 1.0, 10.0),
            radius=1e-6, rate=1.0, theta0=0.97):
    """Coulombic efficiency with and without the hold over α × j0 factor (sweeps over α).

    Returns
    -------
    xarray.Dataset
        ``ce_cc``, ``ce_cv``, ``q_ch`` (θ) and ``ce_cv_max`` (the efficiency if the hold filled the
        particle to θ = 1: (1 − θ̄_charged)/Q_ch) on (j0_factor, alpha); ``termination`` of the
        full cycle.
    """
    ce_cc, ce_cv, q_ch, ce_max, term = [], [], [], [], []
    for f in j0_factor:
        mat = material(f)
        runs = [lm.sweep("sphere", radius=[radius], alpha=list(alpha), rate=[rate], protocol=p, material=mat,
                         theta0=theta0).isel(radius=0, rate=0) for p in (CHARGE, CC, CCCV)]
        charged = runs[0].theta_mean_end.values
        q = theta0 - charged
        q_ch.append(q)
        ce_cc.append((runs[1].theta_mean_end.values - charged) / q)
        ce_cv.append((runs[2].theta_mean_end.values - charged) / q)
        ce_max.append((1.0 - charged) / q)
        term.append(runs[2].termination.values)
    dims = ("j0_factor", "alpha")
    return xr.Dataset(
        {"ce_cc": (dims, np.array(ce_cc)), "ce_cv": (dims, np.array(ce_cv)), "q_ch": (dims, np.array(q_ch)),
         "ce_cv_max": (dims, np.array(ce_max)), "termination": (dims, np.array(term))},
        coords={"j0_factor": ("j0_factor", np.asarray(j0_factor, float)), "alpha": ("alpha", np.asarray(alpha, float))},
        attrs={"radius": radius, "rate": rate, "theta0": theta0},
    )


def alpha_for(alpha, ce, target):
    """The α where an increasing ``ce`` curve reaches ``target`` (log-linear interpolation; NaN outside)."""
    if not (ce.min() <= target <= ce.max()):
        return np.nan
    return float(np.exp(np.interp(target, ce, np.log(alpha))))


def summary(shells, scan):
    lines = []
    for s in shells:
        paper = PAPER[s.rate]
        lines.append(f"{s.shape} R = {s.radius * 1e6:g} um, alpha {s.alpha:g}, {s.rate} cycle from {s.theta0}: "
                     f"charge {float(s.q_ch_mah_g):.0f} mA h/g; end of CC: surface theta "
                     f"{float(s.theta_surface_cc):.3f}, centre {float(s.theta_centre_cc):.3f}, shell at theta >= 0.95: "
                     f"{float(s.shell_thickness[0]) * 1e9:.0f} nm, >= 0.8: {float(s.shell_thickness[1]) * 1e9:.0f} nm")
        lines.append(f"  CE without hold {100 * float(s.ce_cc):.1f} %, with 2 h hold {100 * float(s.ce_cv):.1f} % "
                     f"(+{float(s.extra_mah_g):.1f} mA h/g); paper {100 * paper[0]:.1f} % -> {100 * paper[1]:.1f} %")
    lines.append(f"scan, sphere R = {scan.radius * 1e6:g} um, 1C cycle: CE without / with hold (%)")
    for f in scan.j0_factor.values:
        row = scan.sel(j0_factor=f)
        cells = "  ".join(f"a={a:g}: {100 * c:.1f}/{100 * v:.1f}" for a, c, v in
                          zip(scan.alpha.values, row.ce_cc.values, row.ce_cv.values))
        a82 = alpha_for(scan.alpha.values, row.ce_cc.values, PAPER["1C"][0])
        v82 = np.interp(np.log(a82), np.log(scan.alpha.values), row.ce_cv.values) if np.isfinite(a82) else np.nan
        lines.append(f"  j0 x {f:g}: {cells}")
        lines.append(f"    CE without hold = 82.3 % at alpha {a82:.1f}, where CE with hold = {100 * v82:.1f} % "
                     f"(paper 94.3 %)")
    return "\n".join(lines)


def main(out_dir="examples/figures"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    one_c = shell(rate="1C")
    cyl = shell(rate="1C", shape="cylinder")
    third = shell(rate="C/3")
    scan = ce_scan()
    fig = plt.figure(figsize=(11, 6.4))
    grid = fig.add_gridspec(2, 3)
    for k, s in enumerate((one_c, cyl)):
        ax = fig.add_subplot(grid[0, k])
        ax.plot(s.r * 1e6, s.theta_cc, label="end of 1C CC discharge (3.0 V)")
        ax.plot(s.r * 1e6, s.theta_cv, label="after the 2 h hold at 3.0 V")
        ax.axhline(s.theta0, color="k", lw=0.8, ls=":", label="θ0 before the charge")
        ax.set_title(f"{s.shape}, R = 1 µm, α = 2.7: CE {100 * float(s.ce_cc):.0f} % → {100 * float(s.ce_cv):.0f} %",
                     fontsize=8)
        ax.set_xlabel("r (µm)")
        ax.set_ylabel("θ")
        ax.legend(fontsize=7)
    for k, (var, title) in enumerate((("ce_cc", "CE without hold"), ("ce_cv", "CE with 2 h hold"))):
        axs = fig.add_subplot(grid[1, k])
        for f in scan.j0_factor.values:
            axs.semilogx(scan.alpha, 100 * scan[var].sel(j0_factor=f), "o-", ms=3, label=f"j0 × {f:g}")
        axs.axhline(100 * PAPER["1C"][k], color="k", ls="--", lw=0.8, label="paper 1C")
        axs.set_xlabel("α")
        axs.set_ylabel(f"{title} (%)")
        axs.legend(fontsize=6)
    axc = fig.add_subplot(grid[0, 2])
    for f in scan.j0_factor.values:
        row = scan.sel(j0_factor=f)
        axc.plot(100 * row.ce_cc, 100 * row.ce_cv, "o-", ms=3, label=f"j0 × {f:g}")
    axc.plot(100 * PAPER["1C"][0], 100 * PAPER["1C"][1], "k*", ms=10, label="paper 1C")
    axc.set_xlabel("CE without hold (%)")
    axc.set_ylabel("CE with hold (%)")
    axc.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "study_cv_hold.png", dpi=100)
    text = summary([one_c, cyl, third], scan)
    (out / "study_cv_hold.txt").write_text(text + "\n")
    print(text)
    print(f"wrote {out / 'study_cv_hold.png'}")
    return one_c, cyl, third, scan


if __name__ == "__main__":
    main(*sys.argv[1:])
