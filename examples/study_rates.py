"""Xu, Merryweather et al., Joule 2022, Fig. 3F and figs. S8-S11: at every rate from C/30 to 2C the
particle centre lags the start of charge (the delithiation front takes time to reach it).

One ``lithmap.sweep`` batch: a 1 µm-radius sphere, α = 2.7, charged from θ = 0.97 to 4.3 V at C/30,
C/10, C/3, 1C and 2C. The lag is the charge passed (particle-mean delithiation θ0 − θ̄, also in
mA h/g of the practical-capacity convention, 210 mA h/g ≙ 100 % SoC) before the centre has moved by
0.01; a particle that delithiated uniformly would have passed exactly 0.01.

Run:  python examples/study_rates.py [out_dir]     (default examples/figures)
"""

import sys
from pathlib import Path

import numpy as np
import xarray as xr

import lithmap as lm

RATES = (1 / 30, 1 / 10, 1 / 3, 1.0, 2.0)
MOVED = 0.01  #: the centre counts as moving once θ_centre has fallen by this much


def rate_times(rates, n=400):
    """Output times covering the slowest charge, dense at the start for the fastest."""
    t_end = 1.1 * 3600.0 / min(rates)
    return np.unique(np.concatenate([[0.0], np.geomspace(1.0, t_end, n), np.linspace(0.0, t_end, n)]))


def centre_lag(rates=RATES, radius=1e-6, alpha=2.7, theta0=0.97, times=None):
    """Centre traces and the centre lag at each rate (one batch).

    Returns
    -------
    xarray.Dataset
        ``theta_centre``, ``theta_mean`` (rate, time); on ``rate``: ``lag`` (mean delithiation
        when the centre has moved by 0.01), ``lag_mah_g`` (the same in mA h/g), ``lag_time`` (s)
        and ``lag_soc`` (fraction of the practical capacity); ``centre_moved`` (False: the centre
        never moved by 0.01 before 4.3 V, and the lag given is the whole charge, a lower bound).
    """
    mat = lm.nmc811()
    times = rate_times(rates) if times is None else times
    sw = lm.sweep("sphere", radius=[radius], alpha=[alpha], rate=list(rates), protocol="Charge at {rate} until 4.3 V",
                  material=mat, theta0=theta0, times=times).isel(radius=0, alpha=0)
    lag, lag_t, moved_any = [], [], []
    for c in sw.rate.values:
        s = sw.sel(rate=c)
        moved = np.flatnonzero(theta0 - s.theta_centre.values > MOVED)
        # a centre that never moves before 4.3 V: the lag is at least the whole charge (a lower bound)
        i = moved[0] if moved.size else int(np.flatnonzero(np.isfinite(s.theta_mean.values))[-1])
        lag.append(theta0 - float(s.theta_mean[i]))
        lag_t.append(float(s.time[i]))
        moved_any.append(bool(moved.size))
    lag = np.array(lag)
    theoretical_mah_g = mat.theoretical_capacity / 3600.0
    out = xr.Dataset({
        "theta_centre": sw.theta_centre, "theta_mean": sw.theta_mean, "theta_surface": sw.theta_surface,
        "lag": ("rate", lag, {"units": "1", "long_name": "mean delithiation when the centre has moved by 0.01"}),
        "lag_mah_g": ("rate", lag * theoretical_mah_g, {"units": "mA h/g"}),
        "lag_soc": ("rate", lag / mat.capacity_fraction, {"units": "1", "long_name": "lag as SoC (210 mA h/g = 1)"}),
        "lag_time": ("rate", np.array(lag_t), {"units": "s"}),
        "centre_moved": ("rate", np.array(moved_any), {"long_name": "the centre moved by 0.01 before 4.3 V "
                                                                      "(else lag is a lower bound: the whole charge)"}),
        "stop_time": sw.stop_time,
    })
    out.attrs.update(radius=radius, alpha=alpha, theta0=theta0, moved=MOVED)
    return out


def summary(ds):
    lines = [f"sphere R = {ds.radius * 1e6:g} um, alpha {ds.alpha:g}, charge from {ds.theta0} to 4.3 V; "
             f"lag = charge passed before the centre moves by {MOVED} (uniform: {MOVED})"]
    for c in ds.rate.values:
        s = ds.sel(rate=c)
        at_least = "" if bool(s.centre_moved) else ">= (centre never moved before 4.3 V) "
        lines.append(f"  {c:6.3g}C: lag {at_least}{float(s.lag):.3f} in theta = {float(s.lag_mah_g):5.1f} mA h/g "
                     f"= {100 * float(s.lag_soc):4.1f} % SoC, after {float(s.lag_time) / 60:7.1f} min")
    return "\n".join(lines)


def main(out_dir="examples/figures"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ds = centre_lag()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
    for c in ds.rate.values:
        s = ds.sel(rate=c)
        ok = np.isfinite(s.theta_mean.values)
        label = f"C/{1 / c:.0f}" if c < 1 else f"{c:g}C"
        a1.plot(s.time[ok] * c / 3600.0, ds.theta0 - s.theta_centre[ok], label=label)
        a2.plot(ds.theta0 - s.theta_mean[ok], ds.theta0 - s.theta_centre[ok], label=label)
    a1.set_xlabel("time × C-rate (h·C)")
    a1.set_ylabel("centre delithiation θ0 − θ_centre")
    a1.set_xlim(0, 0.8)
    a2.plot([0, 0.6], [0, 0.6], "k:", lw=0.8, label="uniform")
    a2.set_xlabel("mean delithiation θ0 − θ̄")
    a2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "study_rates.png", dpi=100)
    text = summary(ds)
    (out / "study_rates.txt").write_text(text + "\n")
    print(text)
    print(f"wrote {out / 'study_rates.png'}")
    return ds


if __name__ == "__main__":
    main(*sys.argv[1:])
