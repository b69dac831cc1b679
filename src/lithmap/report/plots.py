"""Figures of a particle simulation: θ maps / profiles over time and centre-vs-surface traces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, **kwargs) -> Path:
    """Save ``fig`` to ``path`` through a temporary file beside it (a failed save leaves
    nothing), then close it."""
    import os

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        fig.savefig(tmp, **kwargs)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
        _mpl().close(fig)
    return path


def _pick_times(time: np.ndarray, n: int) -> np.ndarray:
    targets = np.linspace(time[0], time[-1], n)
    return np.unique(np.searchsorted(time, targets).clip(0, time.size - 1))


def plot_traces(ds: xr.Dataset, path: Path) -> Path:
    """θ at the centre, surface and mean over time, with the C-rate and voltage when present."""
    plt = _mpl()
    t = ds.time.values / 60.0
    rows = 1 + ("voltage" in ds)
    fig, axes = plt.subplots(rows, 1, figsize=(7, 3.2 * rows), sharex=True, squeeze=False)
    ax = axes[0, 0]
    for name, style, label in (
        ("theta_centre", "-", "centre"),
        ("theta_surface", "-", "surface"),
        ("theta_mean", "--", "mean"),
    ):
        ax.plot(t, ds[name].values, style, label=label)
    ax.set_ylabel("lithium fraction θ")
    ax.legend(loc="best")
    ax.set_title(ds.attrs.get("geometry", ""), fontsize=9)
    if "voltage" in ds:
        axv = axes[1, 0]
        axv.plot(t, ds.voltage.values, "k-")
        axv.set_ylabel("voltage (V vs Li/Li⁺)")
        axi = axv.twinx()
        axi.plot(t, ds.c_rate.values, color="tab:blue")
        axi.set_ylabel("C-rate (+ = charge)", color="tab:blue")
        cur = ds.c_rate.values
        span = max(float(np.nanmax(np.abs(cur))), 1e-12)
        axi.set_ylim(min(0.0, float(np.nanmin(cur))) - 0.1 * span, max(0.0, float(np.nanmax(cur))) + 0.1 * span)
    axes[-1, 0].set_xlabel("time (min)")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return path


def plot_fields(ds: xr.Dataset, path: Path, *, n: int = 6) -> Path:
    """Degree of delithiation 1 − θ: radial profiles (sphere) or maps (2D) at ``n`` times."""
    plt = _mpl()
    idx = _pick_times(ds.time.values, n)
    if "r" in ds.theta.dims:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        cmap = plt.get_cmap("viridis")
        for k, i in enumerate(idx):
            ax.plot(ds.r.values * 1e6, ds.theta.values[i], color=cmap(k / max(len(idx) - 1, 1)),
                    label=f"{ds.time.values[i] / 60:.1f} min")
        ax.set_xlabel("r (µm)")
        ax.set_ylabel("lithium fraction θ")
        ax.legend(fontsize=8)
    else:
        fig, axes = plt.subplots(1, len(idx), figsize=(2.4 * len(idx) + 1, 2.8), squeeze=False)
        x, y = ds.x.values * 1e6, ds.y.values * 1e6
        extent = (x[0], x[-1], y[-1], y[0])
        field = 1.0 - ds.theta.values
        vmax = np.nanmax(field) if np.isfinite(field).any() else 1.0
        for ax, i in zip(axes[0], idx):
            im = ax.imshow(field[i], extent=extent, vmin=0, vmax=vmax, cmap="viridis", interpolation="nearest")
            ax.set_title(f"{ds.time.values[i] / 60:.1f} min", fontsize=9)
            ax.set_xlabel("x (µm)")
        axes[0, 0].set_ylabel("y (µm)")
        fig.colorbar(im, ax=axes[0].tolist(), label="1 − θ (degree of delithiation)", shrink=0.85)
    save_figure(fig, path, dpi=120, bbox_inches="tight")
    return path


def plot_kymograph(ds: xr.Dataset, path: Path) -> Path:
    """θ along the radius (sphere) or along the horizontal line through the centre (2D) over time."""
    plt = _mpl()
    t = ds.time.values / 60.0
    fig, ax = plt.subplots(figsize=(6.5, 4))
    if "r" in ds.theta.dims:
        pos, data, label = ds.r.values * 1e6, ds.theta.values, "r (µm)"
    else:
        cy = float(np.atleast_1d(ds.attrs.get("centre_xy", [0, 0]))[1])
        row = int(np.argmin(np.abs(ds.y.values - cy)))
        pos, data, label = ds.x.values * 1e6, ds.theta.values[:, row, :], "x (µm) through the centre"
    mesh = ax.pcolormesh(pos, t, data, shading="nearest", cmap="viridis_r")
    ax.set_xlabel(label)
    ax.set_ylabel("time (min)")
    fig.colorbar(mesh, ax=ax, label="θ")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return path


def plot_simulation(ds, out_dir, *, prefix: str = "run") -> list[Path]:
    """Write the standard figures of a simulation as PNG files into ``out_dir``.

    Parameters
    ----------
    ds : xarray.Dataset, str or Path
        A result of :func:`lithmap.simulate`, or the NetCDF file ``lithmap simulate`` wrote.
    out_dir : str or Path
        Folder for the figures (created if needed).
    prefix : str
        File name prefix.

    Returns
    -------
    list of Path
        ``<prefix>_traces.png`` (θ centre/surface/mean, C-rate and voltage), ``<prefix>_theta.png``
        (profiles or maps of 1 − θ) and ``<prefix>_kymograph.png``.

    Examples
    --------
    >>> import tempfile, lithmap as lm
    >>> ds = lm.simulate("sphere:1um", "Charge at 1C for 2 minutes", diffusivity=1e-15, times=60.0)
    >>> [p.name for p in plot_simulation(ds, tempfile.mkdtemp(), prefix="demo")]
    ['demo_traces.png', 'demo_theta.png', 'demo_kymograph.png']
    """
    from ..errors import LithmapError

    source = "the dataset"
    if not isinstance(ds, xr.Dataset):
        from ..io.results import read_result

        source, ds = str(ds), read_result(ds)
    missing = [v for v in ("theta", "theta_centre", "theta_surface", "theta_mean") if v not in ds]
    if missing:
        raise LithmapError(f"result {source!r} lacks {missing}; is it a 'lithmap simulate' output?")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [
        plot_traces(ds, out / f"{prefix}_traces.png"),
        plot_fields(ds, out / f"{prefix}_theta.png"),
        plot_kymograph(ds, out / f"{prefix}_kymograph.png"),
    ]


def plot_gitt(ds: xr.Dataset, path) -> Path:
    """D(θ) (or D(soc)) on a log scale from a GITT analysis; flagged pulses hollow."""
    plt = _mpl()
    x = ds.theta.values if "theta" in ds else ds.soc.values
    fig, ax = plt.subplots(figsize=(6, 4))
    sound = np.array([not f for f in ds.flags.values])
    for name, style in (("diffusivity_m2_s", "o"), ("diffusivity_sqrt_m2_s", "s")):
        y = ds[name].values
        label = "radius form" if name == "diffusivity_m2_s" else "√t-slope form"
        line, = ax.semilogy(x[sound], y[sound], style, ms=4, label=label)
        ax.semilogy(x[~sound], y[~sound], style, ms=4, mfc="none", color=line.get_color(), label=f"{label}, flagged")
    ax.set_xlabel("lithium fraction θ" if "theta" in ds else "state of charge passed (fraction of titration)")
    ax.set_ylabel("D (m²/s)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return Path(path)


def plot_cycler(rec: xr.Dataset, path) -> Path:
    """Voltage, current and cumulative capacity of a cycler record against time."""
    plt = _mpl()
    t = rec.time.values / 3600.0
    fig, axes = plt.subplots(3, 1, figsize=(7, 6.5), sharex=True)
    axes[0].plot(t, rec.voltage.values, "k-", lw=0.8)
    axes[0].set_ylabel("voltage (V)")
    axes[1].plot(t, rec.current.values * 1e3, color="tab:blue", lw=0.8)
    axes[1].set_ylabel("current (mA, + = charge)")
    axes[2].plot(t, rec.capacity.values, color="tab:green", lw=0.8)
    axes[2].set_ylabel("∫I dt (mAh)")
    axes[2].set_xlabel("time (h)")
    axes[0].set_title(str(rec.attrs.get("source", "")).split("/")[-1], fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return Path(path)
