"""Xu, Merryweather et al., Joule 2022, Fig. 3F and figs. S8-S14: the particle centre lags the
start of charge, more so at higher rates and in larger particles, because D(θ) is ~100x lower
near full lithiation.

All runs (3 radii x 4 rates) are solved together in one batch with ``lithmap.sweep``; the
figure shows the degree of delithiation at the centre, 1 - θ_centre, against the mean.

Run:  python examples/centre_lag.py [out.png]
"""

import sys

import numpy as np

import lithmap as lm


def centre_lag(radius=(0.5e-6, 1e-6, 2e-6), rate=(1 / 30, 1 / 3, 1.0, 2.0), n_times=121):
    times = np.linspace(0.0, 0.5 * 3600 * 30, n_times)  # long enough for C/30 to move θ by 0.38
    return lm.sweep(
        "sphere", radius=radius, alpha=[2.7], rate=rate, protocol="Charge at {rate} until 4.3 V",
        material="nmc811", theta0=0.97, times=np.unique(np.concatenate([times, np.geomspace(1, 3600, 60)])),
    )


def main(out="centre_lag.png"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ds = centre_lag()
    fig, axes = plt.subplots(1, ds.radius.size, figsize=(4 * ds.radius.size, 3.6), sharey=True)
    for ax, R in zip(axes, ds.radius.values):
        for c in ds.rate.values:
            sel = ds.sel(radius=R, alpha=2.7, rate=c)
            ok = np.isfinite(sel.theta_mean.values)
            ax.plot(0.97 - sel.theta_mean.values[ok], 0.97 - sel.theta_centre.values[ok], label=f"{c:.3g}C")
        ax.plot([0, 0.4], [0, 0.4], "k:", lw=0.8, label="uniform")
        ax.set_title(f"R = {R * 1e6:g} µm")
        ax.set_xlabel("mean delithiation 0.97 − θ̄")
    axes[0].set_ylabel("centre delithiation 0.97 − θ_centre")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")
    # the lag in numbers: mean delithiation already reached when the centre has moved by 0.01
    for R in ds.radius.values:
        for c in ds.rate.values:
            sel = ds.sel(radius=R, alpha=2.7, rate=c)
            moved = np.flatnonzero(0.97 - sel.theta_centre.values > 0.01)
            lag = 0.97 - sel.theta_mean.values[moved[0]] if moved.size else np.nan
            print(f"R={R * 1e6:g} um  {c:.3g}C: centre starts moving after mean delithiation {lag:.3f}")
    return ds


if __name__ == "__main__":
    main(*sys.argv[1:])
