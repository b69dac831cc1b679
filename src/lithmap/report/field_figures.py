"""Figures of the fits of a field of particles (:func:`lithmap.inverse.particles.fit_particles`):
α with its 95 % interval against particle size, and the field coloured by fitted α — the question
of Xu, Merryweather et al. (Joule 2022, fig. S7): which particles lag, and is it size or wiring?"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.images import pixel_size_of
from .maps import _scale_bar
from .plots import _mpl

#: Figures written, in order: suffix → what it shows.
FIELD_FIGURES = {
    "alpha_size": "alpha with its 95 % interval against the particle's equivalent radius",
    "alpha_map": "the field of view, each particle coloured by its fitted alpha",
}
_CITE = "cf. Xu, Merryweather et al., Joule 2022, fig. S7"


def plot_particle_fits(fits, prefix, *, dpi: int = 100, overwrite: bool = False) -> list[Path]:
    """Write the figures of a field's particle fits as PNG files beside an output file.

    ``PREFIX_alpha_size.png``: α of each fitted particle with its 95 % interval against its
    equivalent radius (µm), the field's median α, lagging particles (whole interval below the
    median) in red, Spearman's ρ of α with size in the title. ``PREFIX_alpha_map.png``: the
    reference frame in grey, each fitted particle coloured by α (log scale) and numbered by its
    label; particles not fitted are hatched. Both are drawn before either is renamed into place.

    Parameters
    ----------
    fits : xarray.Dataset, str or Path
        A :func:`lithmap.inverse.particles.fit_particles` result (or the file / store
        ``lithmap fit --particles`` wrote): ``alpha``, ``alpha_low``, ``alpha_high``,
        ``equivalent_radius``, ``status`` on dim ``particle``; ``labels`` on (y, x).
    prefix : str or Path
        Output stem: ``"out/fits"`` writes ``out/fits_alpha_size.png`` and
        ``out/fits_alpha_map.png`` (a ``.nc`` or ``.zarr`` suffix is dropped).
    dpi : int
        Resolution of the PNG files.
    overwrite : bool
        Replace figures that already exist (otherwise an error names them).

    Returns
    -------
    list of Path
        The figures written.

    Raises
    ------
    LithmapError
        ``fits`` is not a table of particle fits, or a figure exists and ``overwrite`` is False.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> lab = np.zeros((20, 30), int); lab[3:9, 3:9] = 1; lab[10:18, 15:25] = 2
    >>> fits = xr.Dataset({"alpha": ("particle", [1.0, 3.0]), "alpha_low": ("particle", [0.8, 2.5]),
    ...                    "alpha_high": ("particle", [1.3, 3.6]), "equivalent_radius": ("particle", [3e-7, 5e-7]),
    ...                    "status": ("particle", [1, 1]), "labels": (("y", "x"), lab)},
    ...                   coords={"particle": [1, 2], "x": ("x", np.arange(30) * 1e-7, {"units": "m"})})
    >>> [p.name for p in plot_particle_fits(fits, pathlib.Path(tempfile.mkdtemp()) / "fits")]
    ['fits_alpha_size.png', 'fits_alpha_map.png']
    """
    source = "the dataset"
    if not isinstance(fits, xr.Dataset):
        from ..io.results import read_result

        source, fits = repr(str(fits)), read_result(fits)
    need = ("alpha", "alpha_low", "alpha_high", "equivalent_radius", "status")
    missing = [v for v in need if v not in fits or fits[v].dims != ("particle",)] + (
        [] if "labels" in fits and fits["labels"].ndim == 2 else ["labels"])
    if missing:
        raise LithmapError(f"{source} is not a table of particle fits: it has no {missing[0]} "
                           "(write one with 'lithmap fit FIELD --particles')")
    stem = Path(prefix)
    if stem.suffix.lower() in (".nc", ".zarr"):
        stem = stem.with_suffix("")
    paths = [stem.with_name(f"{stem.name}_{key}.png") for key in FIELD_FIGURES]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise LithmapError(f"{existing[0]} already exists; pass overwrite=True to replace")
    stem.parent.mkdir(parents=True, exist_ok=True)
    temps = [p.with_name(f".{p.stem}.tmp{p.suffix}") for p in paths]
    try:
        _plot_size(fits, temps[0], dpi)
        _plot_map(fits, temps[1], dpi)
        for tmp, path in zip(temps, paths):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            if tmp.exists():
                tmp.unlink()
    return paths


def _fitted(fits):
    a = np.asarray(fits["alpha"].values, float)
    return (np.asarray(fits["status"].values) == 1) & np.isfinite(a) & (a > 0)


def _note(fits) -> str:
    return " — SYNTHETIC movie" if int(fits.attrs.get("synthetic", 0) or 0) else ""


def _plot_size(fits, path: Path, dpi: int) -> None:
    plt = _mpl()
    ok = _fitted(fits)
    r = np.asarray(fits["equivalent_radius"].values, float) * 1e6
    a, lo, hi = (np.asarray(fits[v].values, float) for v in ("alpha", "alpha_low", "alpha_high"))
    lag = np.asarray(fits["lagging"].values, bool) if "lagging" in fits else np.zeros(a.size, bool)
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    try:
        for sel, colour, name in ((ok & ~lag, "tab:blue", "fitted"), (ok & lag, "tab:red", "lagging")):
            if sel.any():
                ax.errorbar(r[sel], a[sel], yerr=[a[sel] - lo[sel], hi[sel] - a[sel]], fmt="o", color=colour,
                            capsize=3, label=f"{name} (95 % interval)")
        for k, x, y in zip(fits["particle"].values[ok], r[ok], a[ok]):
            ax.annotate(str(int(k)), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
        median = fits.attrs.get("alpha_median", float(np.median(a[ok])) if ok.any() else np.nan)
        if np.isfinite(median):
            ax.axhline(median, color="0.4", ls="--", lw=1, label=f"median alpha {median:.3g}")
        if ok.any():
            from matplotlib.ticker import LogFormatter

            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
            ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
        ax.set_xlabel("equivalent radius (µm)")
        ax.set_ylabel("alpha (scale on D)")
        rho, p = fits.attrs.get("spearman_rho_alpha_radius", np.nan), fits.attrs.get("spearman_p_alpha_radius", np.nan)
        corr = (f"Spearman rho {rho:.2f} (p {p:.2g})" if np.isfinite(rho) else "too few particles for a rank "
                "correlation")
        ax.set_title(f"alpha vs size, {int(ok.sum())} of {ok.size} particles fitted; {corr}{_note(fits)}\n({_CITE})",
                     fontsize=8)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=dpi, format="png")
    finally:
        plt.close(fig)


def _plot_map(fits, path: Path, dpi: int) -> None:
    plt = _mpl()
    from matplotlib.colors import LogNorm

    labels = np.asarray(fits["labels"].values)
    ok = _fitted(fits)
    ids = np.asarray(fits["particle"].values)
    a = np.asarray(fits["alpha"].values, float)
    value = np.full(labels.shape, np.nan)
    for k, alpha in zip(ids[ok], a[ok]):
        value[labels == k] = alpha
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    try:
        if "reference_intensity" in fits:
            ax.imshow(np.asarray(fits["reference_intensity"].values, float), cmap="gray", interpolation="nearest")
        if ok.any():
            lo, hi = float(np.min(a[ok])), float(np.max(a[ok]))
            if hi <= lo * 1.01:
                lo, hi = lo / 1.5, hi * 1.5
            im = ax.imshow(np.ma.masked_invalid(value), cmap="viridis", norm=LogNorm(lo, hi), interpolation="nearest")
            fig.colorbar(im, ax=ax, label="fitted alpha", shrink=0.8)
        failed = np.isin(labels, ids[~ok])
        if failed.any():
            ax.contourf(failed.astype(float), levels=[0.5, 1.5], colors="none", hatches=["////"])
            ax.contour(failed.astype(float), levels=[0.5], colors="tab:red", linewidths=0.8)
        for k in ids:
            iy, ix = np.nonzero(labels == k)
            if iy.size:
                ax.text(ix.mean(), iy.mean(), str(int(k)), ha="center", va="center", fontsize=7, color="w")
        _scale_bar(ax, labels.shape, pixel_size_of(fits["labels"]) or pixel_size_of(fits))
        ax.set_axis_off()
        ax.set_title(f"fitted alpha per particle (hatched: not fitted){_note(fits)}\n({_CITE})", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=dpi, format="png")
    finally:
        plt.close(fig)
