"""Figures of particle stress, the panels of Liu, Zeng et al. (Nat. Nanotechnol. 2024) Fig. 5 d–g:
hoop stress along the radius at chosen depths of discharge, and the von Mises stress history at
probe points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from .maps import _plt
from .plots import save_figure

__all__ = ["plot_stress"]


def plot_stress(ds, out_dir, *, prefix: str = "stress", dod=None) -> list[Path]:
    """Write the stress figures of a :func:`lithmap.particle_stress` result as PNG files.

    Parameters
    ----------
    ds : xarray.Dataset, str or Path
        A stress result (from :func:`lithmap.particle_stress`, :func:`lithmap.simulate_stress`
        or the file ``lithmap stress`` wrote).
    out_dir : str or Path
        Folder for the figures (created if needed).
    prefix : str
        File name prefix.
    dod : list of float, optional
        DODs of the hoop-stress profiles when the result has no ``hoop_stress_at_dod``
        (default: five evenly spaced up to the run's last DOD).

    Returns
    -------
    list of Path
        ``<prefix>_hoop_vs_r.png`` (hoop stress against r at each DOD, MPa; with pores along the
        ray through the bridge point), ``<prefix>_von_mises.png`` (von Mises stress at the probe
        points against DOD, MPa) and, with pores, ``<prefix>_hoop_map.png`` (hoop stress and θ
        on the meridian section at the last DOD); for a 2D particle ``<prefix>_stress_map.png``
        (hoop and von Mises maps at the last time) and ``<prefix>_von_mises.png`` (its maximum and
        mean against DOD).

    Examples
    --------
    >>> import tempfile, lithmap as lm
    >>> st = lm.simulate_stress("sphere:8um:void=0.5um", "Charge at 10C for 72 seconds", material="lrtmo",
    ...                         theta0=0.99, times="12s", dod="0.1,0.2")
    >>> [p.name for p in plot_stress(st, tempfile.mkdtemp(), prefix="demo")]
    ['demo_hoop_vs_r.png', 'demo_von_mises.png']
    """
    from ..mechanics.driver import stress_at_dod

    if not isinstance(ds, xr.Dataset):
        from ..io.results import read_result

        ds = read_result(ds)
    if "hoop_stress" not in ds or not ({"r"} <= set(ds.dims) or {"y", "x"} <= set(ds.dims)):
        raise LithmapError("the result has no hoop_stress; give a lithmap stress result")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plt = _plt()
    if {"y", "x"} <= set(ds["hoop_stress"].dims):
        return _planar_figures(ds, out_dir, prefix, plt)
    if "hoop_stress_at_dod" in ds:
        prof = ds["hoop_stress_at_dod"]
    else:
        last = float(ds["depth_of_discharge"].max())
        targets = dod if dod is not None else np.linspace(0, last, 6)[1:]
        prof = stress_at_dod(ds, targets)
    space = "distance" if "distance" in prof.dims else "r"
    x_um = prof[space].values * 1e6
    fig, ax = plt.subplots(figsize=(5.5, 4))
    colours = plt.cm.viridis(np.linspace(0, 0.9, prof.sizes["dod"]))
    for k, c in zip(range(prof.sizes["dod"]), colours):
        ax.plot(x_um, prof.isel(dod=k).values / 1e6, color=c, label=f"{_dod_short(ds)} {float(prof.dod[k]):.2g}")
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set_xlabel("r (µm)" if space == "r" else f"distance from the centre (µm), along {ds.attrs['profile_line']}")
    ax.set_ylabel("hoop stress (MPa, tension +)")
    ax.set_title(_title(ds))
    ax.legend(fontsize=8)
    files = [save_figure(fig, out_dir / f"{prefix}_hoop_vs_r.png", dpi=120, bbox_inches="tight")]

    fig, ax = plt.subplots(figsize=(5.5, 4))
    x = ds["depth_of_discharge"].values
    if "probe_von_mises_stress" in ds:
        for p in ds["probe"].values:
            where = f"r = {float(ds.probe_r.sel(probe=p)) * 1e6:.3g} µm"
            if "probe_z" in ds.coords:
                where += f", z = {float(ds.probe_z.sel(probe=p)) * 1e6:.3g} µm"
            ax.plot(x, ds["probe_von_mises_stress"].sel(probe=p).values / 1e6, label=f"{p} ({where})")
    over = [d for d in ds["von_mises_stress"].dims if d != "time"]
    ax.plot(x, ds["von_mises_stress"].max(over).values / 1e6, "k--", lw=1, label="maximum over the particle")
    ax.set_xlabel(_dod_label(ds))
    ax.set_ylabel("von Mises stress (MPa)")
    ax.set_title(_title(ds))
    ax.legend(fontsize=8)
    files.append(save_figure(fig, out_dir / f"{prefix}_von_mises.png", dpi=120, bbox_inches="tight"))
    if "z" in ds["hoop_stress"].dims:
        files.append(_hoop_map(ds, prof, out_dir / f"{prefix}_hoop_map.png", plt))
    return files


def _planar_figures(ds, out_dir, prefix, plt):
    """A 2D particle: hoop and von Mises maps at the last time, and the von Mises history."""
    last = ds.isel(time=-1)
    extent = [float(ds.x[0]) * 1e6, float(ds.x[-1]) * 1e6, float(ds.y[0]) * 1e6, float(ds.y[-1]) * 1e6]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    hoop = last["hoop_stress"].transpose("y", "x").values / 1e6
    lim = np.nanmax(np.abs(hoop))
    im = axes[0].imshow(hoop, origin="lower", extent=extent, cmap="RdBu_r", vmin=-lim, vmax=lim)
    fig.colorbar(im, ax=axes[0], label="hoop stress (MPa, tension +)", shrink=0.8)
    im = axes[1].imshow(last["von_mises_stress"].transpose("y", "x").values / 1e6, origin="lower", extent=extent,
                        cmap="magma")
    fig.colorbar(im, ax=axes[1], label="von Mises stress (MPa)", shrink=0.8)
    for ax in axes:
        ax.set_xlabel("x (µm)")
    axes[0].set_ylabel("y (µm)")
    fig.suptitle(f"t = {float(last.time):.4g} s, DOD {float(last.depth_of_discharge):.3g} "
                 f"({ds.attrs.get('stress_method', '')})\n{_title(ds)}"[:200], fontsize=9)
    files = [save_figure(fig, out_dir / f"{prefix}_stress_map.png", dpi=120, bbox_inches="tight")]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    x = ds["depth_of_discharge"].values
    ax.plot(x, ds["von_mises_stress"].max(("y", "x")).values / 1e6, "k-", label="maximum over the particle")
    ax.plot(x, ds["von_mises_stress"].mean(("y", "x")).values / 1e6, "k--", label="mean over the particle")
    ax.set_xlabel(_dod_label(ds))
    ax.set_ylabel("von Mises stress (MPa)")
    ax.set_title(_title(ds))
    ax.legend(fontsize=8)
    files.append(save_figure(fig, out_dir / f"{prefix}_von_mises.png", dpi=120, bbox_inches="tight"))
    return files


def _hoop_map(ds, prof, path, plt):
    """The meridian section at the last profile DOD (as Liu, Zeng et al.'s Supplementary Fig. 27):
    hoop stress and θ, with the probe points."""
    t = float(prof["dod_time"][-1])
    near = ds.sel(time=t, method="nearest")
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 5.5), sharey=True)
    extent = [0, float(ds.r[-1]) * 1e6, float(ds.z[0]) * 1e6, float(ds.z[-1]) * 1e6]
    hoop = near["hoop_stress"].transpose("z", "r").values / 1e6
    lim = np.nanmax(np.abs(hoop))
    im = axes[0].imshow(hoop, origin="lower", extent=extent, cmap="RdBu_r", vmin=-lim, vmax=lim)
    fig.colorbar(im, ax=axes[0], label="hoop stress (MPa, tension +)", shrink=0.8)
    im = axes[1].imshow(near["theta"].transpose("z", "r").values, origin="lower", extent=extent, cmap="viridis")
    fig.colorbar(im, ax=axes[1], label="θ (lithium fraction)", shrink=0.8)
    for ax in axes:
        ax.set_xlabel("r (µm, from the axis)")
        if "probe_z" in ds.coords:
            ax.plot(ds.probe_r.values * 1e6, ds.probe_z.values * 1e6, "o", ms=7, mfc="none", mec="lime", mew=1.5)
            for name, pr, pz in zip(ds.probe.values, ds.probe_r.values, ds.probe_z.values):
                ax.annotate(str(name), (pr * 1e6, pz * 1e6), xytext=(6, 4), textcoords="offset points", fontsize=7,
                            color="lime")
    axes[0].set_ylabel("z (µm)")
    fig.suptitle(f"DOD {float(prof.dod[-1]):.2g} (t = {t:.3g} s)\n{_title(ds)}"[:200], fontsize=9)
    return save_figure(fig, path, dpi=120, bbox_inches="tight")


def _dod_short(ds) -> str:
    return "DOC" if str(ds["depth_of_discharge"].attrs.get("long_name", "")).startswith("depth of charge") else "DOD"


def _dod_label(ds) -> str:
    name = str(ds["depth_of_discharge"].attrs.get("long_name", "depth of discharge"))
    return name.split(":")[0] + " (charge passed / practical capacity)"


def _title(ds) -> str:
    geom = str(ds.attrs.get("geometry", ""))
    proto = str(ds.attrs.get("protocol", ""))
    return f"{geom}\n{proto}"[:160]
