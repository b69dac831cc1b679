"""Figures of tables of fits: the particles of one field (:func:`lithmap.inverse.particles.fit_particles`)
or several single-particle movies (:func:`lithmap.inverse.particles.fit_movies`): α with its 95 %
interval against particle size, the field coloured by fitted α, and α movie by movie — the question
of Xu, Merryweather et al. (Joule 2022, fig. S7): which particles lag, and is it size or wiring?"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.images import pixel_size_of
from . import style
from .maps import _scale_bar
from .plots import _mpl

#: Figures of a field's particle fits, in order: suffix → what it shows.
FIELD_FIGURES = {
    "alpha_size": "alpha with its 95 % interval against the particle's equivalent radius",
    "alpha_map": "the field of view, each particle coloured by its fitted alpha",
}
#: Figures of the fits of several movies, in order: suffix → what it shows.
MOVIE_FIGURES = {
    "alpha_movies": "alpha of each movie with its 95 % interval, sorted, lagging ones marked, the median line",
    "alpha_size": "alpha with its 95 % interval against the particle's equivalent radius",
}
#: The figures of a table of fits, by the table's dim.
TABLE_FIGURES = {"particle": FIELD_FIGURES, "movie": MOVIE_FIGURES}
_CITE = "cf. Xu, Merryweather et al., Joule 2022, fig. S7"
_ALPHA_LABEL = style.unit_label("alpha, scale on D(θ)", "1")
_FITTED, _LAGGING = style.LINE_COLOURS[0], style.LINE_COLOURS[1]
_MAKE = {"particle": "'lithmap fit FIELD --particles'", "movie": "'lithmap fit MOVIE1 MOVIE2 ...'"}


def table_dim(fits) -> str:
    """The dim of a table of fits: ``"movie"`` (several movies) or ``"particle"`` (one field)."""
    return "movie" if "movie" in fits.dims and "particle" not in fits.dims else "particle"


def figure_paths(prefix, dim: str = "particle") -> list[Path]:
    """The PNG files :func:`plot_particle_fits` writes for a table on ``dim`` beside ``prefix``
    (``"out/fits.nc"`` → ``out/fits_alpha_size.png``, ...)."""
    stem = Path(prefix)
    if stem.suffix.lower() in (".nc", ".zarr"):
        stem = stem.with_suffix("")
    return [stem.with_name(f"{stem.name}_{key}.png") for key in TABLE_FIGURES[dim]]


def plot_particle_fits(fits, prefix, *, dpi: int = 100, overwrite: bool = False) -> list[Path]:
    """Write the figures of a table of fits (a field's particles, or several movies) as PNG files
    beside an output file, in lithmap's figure style (:mod:`lithmap.report.style`).

    A field's particle fits (dim ``particle``, :data:`FIELD_FIGURES`): ``PREFIX_alpha_size.png``:
    α of each fitted particle with its 95 % interval against its equivalent radius (µm), the
    field's median α, lagging particles (whole interval below the median) in red, Spearman's ρ of
    α with size in the title. ``PREFIX_alpha_map.png``: the reference frame in grey, each fitted
    particle coloured by α (log scale) and numbered by its label; particles not fitted are hatched.

    The fits of several movies (dim ``movie``, :data:`MOVIE_FIGURES`): ``PREFIX_alpha_movies.png``:
    α of each movie with its 95 % interval, sorted by α, lagging movies in red, the median dashed,
    movies not fitted listed at the bottom; ``PREFIX_alpha_size.png``: as for a field, one point
    per movie. All figures are drawn before any is renamed into place.

    Parameters
    ----------
    fits : xarray.Dataset, str or Path
        A :func:`lithmap.inverse.particles.fit_particles` or
        :func:`lithmap.inverse.particles.fit_movies` result (or the file / store ``lithmap fit``
        wrote): ``alpha``, ``alpha_low``, ``alpha_high``, ``equivalent_radius``, ``status`` on
        dim ``particle`` (with ``labels`` on (y, x)) or ``movie``.
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
        ``fits`` is not a table of particle or movie fits, or a figure exists and ``overwrite``
        is False.

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
    >>> movies = fits.drop_vars(["labels", "x"]).rename(particle="movie").assign_coords(movie=["a.nc", "b.nc"])
    >>> [p.name for p in plot_particle_fits(movies, pathlib.Path(tempfile.mkdtemp()) / "fits.nc")]
    ['fits_alpha_movies.png', 'fits_alpha_size.png']
    """
    source = "the dataset"
    if not isinstance(fits, xr.Dataset):
        from ..io.results import read_result

        source, fits = repr(str(fits)), read_result(fits)
    dim = table_dim(fits)
    need = ("alpha", "alpha_low", "alpha_high", "equivalent_radius", "status")
    missing = [v for v in need if v not in fits or fits[v].dims != (dim,)] + (
        [] if dim == "movie" or ("labels" in fits and fits["labels"].ndim == 2) else ["labels"])
    if missing:
        raise LithmapError(f"{source} is not a table of {dim} fits: it has no {missing[0]} "
                           f"(write one with {_MAKE[dim]})")
    paths = figure_paths(prefix, dim)
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise LithmapError(f"{existing[0]} already exists; pass overwrite=True to replace")
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    temps = [p.with_name(f".{p.stem}.tmp{p.suffix}") for p in paths]
    draw = {"alpha_size": _plot_size, "alpha_map": _plot_map, "alpha_movies": _plot_ranked}
    try:
        with style.figure_style():
            for key, tmp in zip(TABLE_FIGURES[dim], temps):
                draw[key](fits, tmp, dpi, dim)
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


def _name(dim: str, k, width: int = 24, short: bool = False) -> str:
    """A row's name on a figure: a particle's label, a movie's file name without .nc (``short``: without its
    folder), shortened from the left to ``width`` characters."""
    if dim == "particle":
        return str(int(k))
    text = Path(str(k)).name if short else str(k)
    text = text[:-3] if text.lower().endswith(".nc") else text
    return text if len(text) <= width else "…" + text[-(width - 1):]


def _columns(fits):
    """alpha, its interval, whether fitted and whether lagging, as arrays."""
    a, lo, hi = (np.asarray(fits[v].values, float) for v in ("alpha", "alpha_low", "alpha_high"))
    lag = np.asarray(fits["lagging"].values, bool) if "lagging" in fits else np.zeros(a.size, bool)
    return a, lo, hi, _fitted(fits), lag


def _median(fits, a, ok) -> float:
    return float(fits.attrs.get("alpha_median", float(np.median(a[ok])) if ok.any() else np.nan))


def _log_alpha(axis) -> None:
    """Plain numbers (0.6, 2, 10) on a log alpha axis, the minor ticks labelled too when alpha spans
    little more than a decade."""
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):
        def __call__(self, x, pos=None):
            return f"{x:g}" if super().__call__(x, pos) else ""

    axis.set_major_formatter(Plain(labelOnlyBase=False))
    axis.set_minor_formatter(Plain(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def _plot_size(fits, path: Path, dpi: int, dim: str = "particle") -> None:
    """alpha with its 95 % interval against the equivalent radius, one point per row on ``dim``."""
    plt = _mpl()
    a, lo, hi, ok, lag = _columns(fits)
    r = np.asarray(fits["equivalent_radius"].values, float) * 1e6
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    try:
        for sel, colour, name in ((ok & ~lag, _FITTED, "fitted"), (ok & lag, _LAGGING, "lagging")):
            if sel.any():
                ax.errorbar(r[sel], a[sel], yerr=[a[sel] - lo[sel], hi[sel] - a[sel]], fmt="o", color=colour,
                            capsize=3, label=f"{name} (95 % interval)")
        for k, x, y in zip(fits[dim].values[ok], r[ok], a[ok]):
            ax.annotate(_name(dim, k, 14, short=True), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
        median = _median(fits, a, ok)
        if np.isfinite(median):
            ax.axhline(median, color="0.4", ls="--", lw=1, label=f"median alpha {median:.3g}")
        if ok.any():
            ax.set_yscale("log")
            _log_alpha(ax.yaxis)
        ax.set_xlabel(style.unit_label("equivalent radius", "um"))
        ax.set_ylabel(_ALPHA_LABEL)
        rho, p = fits.attrs.get("spearman_rho_alpha_radius", np.nan), fits.attrs.get("spearman_p_alpha_radius", np.nan)
        corr = (f"Spearman rho {rho:.2f} (p {p:.2g})" if np.isfinite(rho) else f"too few {dim}s for a rank "
                "correlation")
        ax.set_title(f"alpha vs size, {int(ok.sum())} of {ok.size} {dim}s fitted; {corr}{_note(fits)}\n({_CITE})",
                     fontsize=8)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=dpi, format="png")
    finally:
        plt.close(fig)


def _plot_ranked(fits, path: Path, dpi: int, dim: str = "movie") -> None:
    """alpha of each row on ``dim`` with its 95 % interval, sorted by alpha (lowest at the bottom),
    lagging rows in red, the median dashed; rows not fitted listed below them."""
    plt = _mpl()
    a, lo, hi, ok, lag = _columns(fits)
    names = np.asarray(fits[dim].values)
    order = np.concatenate([np.flatnonzero(~ok), np.flatnonzero(ok)[np.argsort(a[ok], kind="stable")]])
    n = order.size
    size = 8.0 if n <= 30 else 6.5 if n <= 80 else max(4.0, 6.5 * 80 / n)
    fig, ax = plt.subplots(figsize=(5.6, float(np.clip(1.8 + n * size * 1.7 / 72, 3.2, 30.0))), layout="constrained")
    try:
        y = np.empty(n, float)
        y[order] = np.arange(n)
        for sel, colour, name in ((ok & ~lag, _FITTED, f"fitted {dim} (95 % interval)"),
                                  (ok & lag, _LAGGING, "lagging: interval below the median")):
            if sel.any():
                ax.errorbar(a[sel], y[sel], xerr=[a[sel] - lo[sel], hi[sel] - a[sel]], fmt="o", color=colour,
                            capsize=3, label=name)
        median = _median(fits, a, ok)
        if np.isfinite(median):
            ax.axvline(median, color="0.4", ls="--", lw=1, label=f"median alpha {median:.3g}")
        if ok.any():
            ax.set_xscale("log")
            _log_alpha(ax.xaxis)
        ax.set_yticks(np.arange(n))
        ax.set_yticklabels([_name(dim, names[i]) + ("" if ok[i] else " (not fitted)") for i in order],
                           fontsize=size)
        for tick, i in zip(ax.get_yticklabels(), order):
            if not ok[i]:
                tick.set_color("0.5")
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_xlabel(_ALPHA_LABEL)
        ax.set_ylabel(f"{dim} (sorted by alpha)")
        p = fits.attrs.get("alpha_heterogeneity_p", np.nan)
        shared = f"p of one shared alpha {p:.2g}" if np.isfinite(p) else f"too few {dim}s to test one shared alpha"
        ax.set_title(f"alpha per {dim}, {int(ok.sum())} of {ok.size} fitted, {int((ok & lag).sum())} lagging; "
                     f"{shared}{_note(fits)}\n({_CITE})", fontsize=8)
        if ax.get_legend_handles_labels()[0]:  # below the axes: clear of the rows and the median
            fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize=7, frameon=False)
        fig.savefig(path, dpi=dpi, format="png")
    finally:
        plt.close(fig)


def _plot_map(fits, path: Path, dpi: int, dim: str = "particle") -> None:
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
