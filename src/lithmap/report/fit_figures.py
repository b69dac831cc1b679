"""Figures of a model-vs-movie fit (:func:`lithmap.fit_alpha`, :func:`lithmap.fit_diffusivity`,
``lithmap fit``): the panels of Xu, Merryweather et al. (Joule 2022), Fig. 3C–F, with the
measured maps beside the simulated ones.

:func:`plot_fit` writes, beside an output file ``<prefix>``:

- ``<prefix>_maps.png`` (Fig. 3C): θ maps at 4–5 times, rows movie / model / residual (model −
  movie), movie and model on one colour scale, axes in µm, the profile line dashed;
- ``<prefix>_kymograph.png`` (Fig. 3D, E): θ along the profile line against time, movie and model
  side by side on one scale, the particle centre dashed; a second row of total contrast
  I_t/I_0 − 1 when the fit carries ``contrast_measured`` and ``contrast_simulated``;
- ``<prefix>_traces.png`` (Fig. 3F): θ at the particle centre and the particle mean against time,
  movie as markers, model as lines; the equal-area ring means and the centre's total contrast
  when present;
- ``<prefix>_misfit.png``: the misfit against α (log axis) with the best α and its 95 % interval,
  and the fitted D(θ) with its 95 % band (log axis) when the fit has one.

Every optional variable is used when present and its panel left out when not (the misfit
figure is not written when the fit has neither a misfit curve nor a D(θ)).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from .plots import _mpl

#: Pixels around the centroid averaged as "the particle centre" (Fig. 3F's trace).
CENTRE_RADIUS_PX = 2.0
#: Figures written, in order: suffix → what it shows.
FIGURES = {
    "maps": "theta maps, movie / model / residual (cf. Fig. 3C)",
    "kymograph": "theta (and total contrast) along the profile line vs time (cf. Fig. 3D, E)",
    "traces": "centre, mean and ring theta vs time (cf. Fig. 3F)",
    "misfit": "misfit vs alpha with the 95 % interval; D(theta) with its band",
}
_CITE = "cf. Xu, Merryweather et al., Joule 2022, Fig. 3"


def plot_fit(fit, prefix, *, times=None, dpi: int = 100, overwrite: bool = False) -> list[Path]:
    """Write the model-vs-movie figures of a fit result as PNG files beside an output file.

    The panels of Xu, Merryweather et al. (Joule 2022), Fig. 3C–F, measured beside simulated:
    θ maps (movie / model / residual), kymographs along the profile line, the centre and mean
    traces, and the misfit against α (with D(θ) when fitted). See :mod:`lithmap.report.fit_figures`
    for what each file shows. Panels whose variables the fit lacks are left out.

    All files are written through temporary files and renamed only once every figure has been
    drawn: an error leaves none of them half-written.

    Parameters
    ----------
    fit : xarray.Dataset, str or Path
        A result of :func:`lithmap.fit_alpha` / :func:`lithmap.fit_diffusivity` or the file
        ``lithmap fit`` wrote: at least ``theta_simulated`` and ``theta_measured`` (time, y, x;
        NaN outside the particle; time in s, x and y in m).
    prefix : str or Path
        Output stem: ``"out/fit"`` writes ``out/fit_maps.png``, ``out/fit_kymograph.png``,
        ``out/fit_traces.png`` and ``out/fit_misfit.png``. A ``.nc`` or ``.zarr`` suffix is
        dropped (``"out/fit.nc"`` gives the same names). The folder is created if needed.
    times : sequence of float or str, optional
        Times of the maps (s, or quantities such as ``"4 min"``); each picks the nearest frame.
        Default: 5 frames evenly spread over the movie.
    dpi : int
        Resolution of the PNG files.
    overwrite : bool
        Replace figures that already exist (otherwise an error names them).

    Returns
    -------
    list of Path
        The figures written, in the order maps, kymograph, traces, misfit.

    Raises
    ------
    LithmapError
        ``fit`` is not a fit result, a time is outside the movie, or a figure exists and
        ``overwrite`` is False (one line).

    Examples
    --------
    A fit-like Dataset of a 1 µm disc (model and movie 0.01 apart):

    >>> import pathlib, tempfile, numpy as np, xarray as xr
    >>> t, y = np.array([0.0, 300.0, 600.0]), np.arange(-12, 13) * 50e-9
    >>> r = np.hypot(y[:, None], y[None, :]) / 0.5e-6
    >>> th = np.where(r <= 1, 0.97 - 0.2 * (t[:, None, None] / 600) * r**2, np.nan)
    >>> fit = xr.Dataset({"theta_simulated": (("time", "y", "x"), th), "theta_measured": (("time", "y", "x"),
    ...                   th - 0.01)}, coords={"time": t, "y": y, "x": y})
    >>> [p.name for p in plot_fit(fit, pathlib.Path(tempfile.mkdtemp()) / "fit")]
    ['fit_maps.png', 'fit_kymograph.png', 'fit_traces.png']
    """
    source = "the dataset"
    if not isinstance(fit, xr.Dataset):
        from ..io.results import read_result

        source, fit = repr(str(fit)), read_result(fit)
    _check_fit(fit, source)
    stem = Path(prefix)
    if stem.suffix.lower() in (".nc", ".zarr"):
        stem = stem.with_suffix("")
    if not stem.name:
        raise LithmapError(f"prefix={str(prefix)!r} is invalid; expected an output stem such as 'out/fit'")
    view = _View(fit)
    frames = _frames(view.time, times)
    plan = [("maps", lambda p: _plot_maps(view, frames, p, dpi)),
            ("kymograph", lambda p: _plot_kymographs(view, p, dpi)),
            ("traces", lambda p: _plot_traces(view, p, dpi))]
    if _has(fit, "misfit_curve", "alpha_grid") or _has(fit, "diffusivity", "theta"):
        plan.append(("misfit", lambda p: _plot_misfit(view, p, dpi)))
    paths = [stem.with_name(f"{stem.name}_{key}.png") for key, _ in plan]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more figure{'s' if len(existing) > 2 else ''})" if len(existing) > 1 else ""
        raise LithmapError(f"{existing[0]}{more} already exists; pass overwrite=True to replace")
    stem.parent.mkdir(parents=True, exist_ok=True)
    temps = [p.with_name(f".{p.stem}.tmp{p.suffix}") for p in paths]
    try:
        for (_, draw), tmp in zip(plan, temps):
            draw(tmp)
        for tmp, path in zip(temps, paths):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            if tmp.exists():
                tmp.unlink()
    return paths


# ---------------------------------------------------------------------------------------------
# the data behind every panel


def _has(ds: xr.Dataset, name: str, *dims: str) -> bool:
    """``name`` is in ``ds`` with exactly ``dims`` (in any order)."""
    return name in ds and set(ds[name].dims) == set(dims) and ds[name].size > 0


def _check_fit(ds: xr.Dataset, source: str) -> None:
    missing = [v for v in ("theta_simulated", "theta_measured") if v not in ds]
    if missing:
        raise LithmapError(f"{source} is not a fit result: it lacks {', '.join(missing)}; expected the output of "
                           "lithmap.fit_alpha or 'lithmap fit'")
    for v in ("theta_simulated", "theta_measured"):
        if set(ds[v].dims) != {"time", "y", "x"}:
            raise LithmapError(f"{v} of {source} has dims {ds[v].dims}; expected ('time', 'y', 'x')")
    if ds["theta_simulated"].shape != ds["theta_measured"].transpose(*ds["theta_simulated"].dims).shape:
        raise LithmapError(f"theta_simulated and theta_measured of {source} differ in shape")
    if ds.sizes["time"] < 1 or ds.sizes["y"] < 2 or ds.sizes["x"] < 2:
        raise LithmapError(f"the maps of {source} are empty ({dict(ds.sizes)})")


def _field(ds: xr.Dataset, name: str) -> np.ndarray | None:
    if not _has(ds, name, "time", "y", "x"):
        return None
    return np.asarray(ds[name].transpose("time", "y", "x").values, dtype=float)


class _View:
    """What the panels share: the maps as (time, y, x) arrays, the particle, its centre, the
    profile line and the labels."""

    def __init__(self, ds: xr.Dataset):
        self.ds = ds
        self.measured = _field(ds, "theta_measured")
        self.simulated = _field(ds, "theta_simulated")
        residual = _field(ds, "theta_residual")
        self.residual = residual if residual is not None else self.simulated - self.measured
        self.c_measured = _field(ds, "contrast_measured")
        self.c_simulated = _field(ds, "contrast_simulated")
        if self.c_measured is None or self.c_simulated is None:
            self.c_measured = self.c_simulated = None
        nt, ny, nx = self.measured.shape
        self.time = np.asarray(ds["time"].values, dtype=float) if "time" in ds.coords else np.arange(nt, dtype=float)
        self.time_unit = "min" if "time" in ds.coords else "frame"
        self.t_plot = self.time / 60.0 if "time" in ds.coords else self.time

        # pixel geometry: coordinates in m (µm on the axes), else pixel indices
        self.x_um, self.y_um, self.unit = self._axis("x", nx), self._axis("y", ny), "µm"
        if self.x_um is None or self.y_um is None:
            self.x_um, self.y_um, self.unit = np.arange(nx, dtype=float), np.arange(ny, dtype=float), "px"

        if _has(ds, "mask", "y", "x"):
            mask = np.asarray(ds["mask"].transpose("y", "x").values) > 0
        else:
            mask = np.zeros((ny, nx), bool)
        if not mask.any():
            mask = np.isfinite(self.measured).any(axis=0) | np.isfinite(self.simulated).any(axis=0)
        if not mask.any():
            raise LithmapError("the fit has no particle pixels: theta_measured and theta_simulated are NaN everywhere")
        self.mask = mask
        iy, ix = np.nonzero(mask)
        self.centroid = (float(iy.mean()), float(ix.mean()))
        d = np.hypot(iy - self.centroid[0], ix - self.centroid[1])
        near = d <= CENTRE_RADIUS_PX
        if not near.any():  # a particle with a hole at its centroid: its nearest pixels
            near = d <= np.sort(d)[min(4, d.size - 1)]
        self.centre = np.zeros_like(mask)
        self.centre[iy[near], ix[near]] = True
        pad = 3
        self.rows = slice(max(iy.min() - pad, 0), min(iy.max() + pad + 1, ny))
        self.cols = slice(max(ix.min() - pad, 0), min(ix.max() + pad + 1, nx))
        self.line, self.line_source = self._line()

        attrs = ds.attrs
        alpha = _scalar(ds, "alpha")
        low, high = _scalar(ds, "alpha_low"), _scalar(ds, "alpha_high")
        parts = [str(attrs[k]) for k in ("material", "protocol") if attrs.get(k)]
        if alpha is not None:
            parts.append(f"α = {alpha:.3g}" + (f" (95 %: {low:.3g}–{high:.3g})" if low is not None and high is not None
                                             else ""))
        if "diffusivity" in ds and "theta" in ds["diffusivity"].dims:
            parts.append("fitted D(θ)")
        self.subtitle = "; ".join(parts)
        self.synthetic = _is_synthetic(attrs)

    def _axis(self, name: str, n: int) -> np.ndarray | None:
        ds = self.ds
        if name not in ds.coords or ds[name].size != n or n < 2:
            return None
        units = str(ds[name].attrs.get("units", "m")).strip()
        if units not in ("m", "metre", "meter"):
            return None
        values = np.asarray(ds[name].values, dtype=float)
        return values * 1e6 if np.all(np.isfinite(values)) else None

    def _line(self):
        """The profile line: the fit's ``profile_line`` attr (y0, x0, y1, x1 in pixels), else the
        particle's major axis through its centroid."""
        from ..imaging.profiles import axis_line

        raw = self.ds.attrs.get("profile_line")
        if raw is not None:
            v = np.asarray(raw, dtype=float).ravel()
            if v.size == 4 and np.all(np.isfinite(v)) and np.hypot(v[2] - v[0], v[3] - v[1]) > 0:
                return ((v[0], v[1]), (v[2], v[3])), "the movie's profile line"
        try:
            return axis_line(self.mask, "major"), "the particle's major axis"
        except LithmapError:
            return None, ""

    def title(self, what: str) -> str:
        note = " — SYNTHETIC movie" if self.synthetic else ""
        return f"{what}{note}\n{self.subtitle}" if self.subtitle else f"{what}{note}"

    def to_axes(self, py: float, px: float) -> tuple[float, float]:
        """A pixel position (y, x) in axis units."""
        return float(np.interp(px, np.arange(self.x_um.size), self.x_um)), \
            float(np.interp(py, np.arange(self.y_um.size), self.y_um))

    def extent(self):
        x, y = self.x_um[self.cols], self.y_um[self.rows]
        dx = (x[1] - x[0]) if x.size > 1 else 1.0
        dy = (y[1] - y[0]) if y.size > 1 else 1.0
        return (x[0] - dx / 2, x[-1] + dx / 2, y[-1] + dy / 2, y[0] - dy / 2)

    def centre_mean(self, field: np.ndarray) -> np.ndarray:
        return _nanmean(field[:, self.centre])

    def particle_mean(self, field: np.ndarray) -> np.ndarray:
        return _nanmean(field[:, self.mask])


def _nanmean(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis ignoring NaN; NaN (without a warning) where all are NaN."""
    ok = np.isfinite(values)
    n = ok.sum(axis=-1)
    total = np.where(ok, values, 0.0).sum(axis=-1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _scalar(ds: xr.Dataset, name: str) -> float | None:
    if name not in ds or ds[name].ndim != 0:
        return None
    v = float(ds[name].values)
    return v if np.isfinite(v) else None


def _is_synthetic(attrs) -> bool:
    """The movie says it is synthetic (attr ``synthetic``: lithmap.synthetic_movie and the shipped
    example movie carry it from their metadata through the contrast analysis)."""
    flag = attrs.get("synthetic")
    return flag is not None and str(flag).strip().lower() not in ("0", "false", "no", "")


def _frames(time: np.ndarray, times) -> np.ndarray:
    """Frame indices of the maps: the nearest frame to each requested time, else 5 spread evenly."""
    if times is None:
        targets = np.linspace(time.min(), time.max(), min(5, time.size))
        return np.unique([int(np.argmin(np.abs(time - t))) for t in targets])
    from ..io.units import parse_quantity

    requested = [parse_quantity(t, "s", name="times") for t in np.atleast_1d(np.asarray(times, dtype=object))]
    if not requested:
        raise LithmapError("times=[] is invalid; expected at least one time (s)")
    lo, hi = float(time.min()), float(time.max())
    step = float(np.median(np.diff(time))) if time.size > 1 else 0.0
    out = []
    for t in requested:
        if not lo - step <= t <= hi + step:
            raise LithmapError(f"times: {t:g} s is outside the movie ({lo:g} s to {hi:g} s)")
        out.append(int(np.argmin(np.abs(time - t))))
    return np.array(sorted(set(out)))


def _sample(frames: np.ndarray, pixels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """:func:`lithmap.imaging.profiles.sample_line`, ignoring NaN pixels (outside the particle):
    the bilinear weights of the finite pixels renormalised; NaN where they carry under half."""
    flat = frames.reshape(frames.shape[:-2] + (-1,))[..., pixels]
    ok = np.isfinite(flat)
    w = weights * ok
    total = w.sum(axis=-1)
    value = (np.where(ok, flat, 0.0) * w).sum(axis=-1)
    return np.where(total >= 0.5, value / np.maximum(total, 1e-300), np.nan)


def _limits(*fields: np.ndarray, centred: bool = False) -> tuple[float, float]:
    values = np.concatenate([np.ravel(f)[np.isfinite(np.ravel(f))] for f in fields])
    if not values.size:
        return (-1.0, 1.0) if centred else (0.0, 1.0)
    if centred:
        lim = float(np.percentile(np.abs(values), 99)) or 1e-3
        return -lim, lim
    lo, hi = (float(v) for v in np.percentile(values, [1, 99]))
    return (lo, hi) if hi > lo else (lo - 0.005, hi + 0.005)


# ---------------------------------------------------------------------------------------------
# the figures


def _suptitle(fig, text: str) -> None:
    """A figure title wrapped to the figure's width (about 13 characters an inch at 9 pt)."""
    import textwrap

    width = max(int(fig.get_figwidth() * 13), 40)
    fig.suptitle("\n".join(textwrap.fill(line, width) for line in text.splitlines()), fontsize=9)


def _save(fig, path: Path, dpi: int) -> None:
    plt = _mpl()
    try:
        fig.savefig(path, dpi=dpi, format="png")
    finally:
        plt.close(fig)


def _plot_maps(v: _View, frames: np.ndarray, path: Path, dpi: int) -> None:
    """Fig. 3C: rows movie, model, residual at the chosen frames; one scale for movie and model."""
    plt = _mpl()
    n = len(frames)
    fig, axes = plt.subplots(3, n, figsize=(2.3 * n + 1.6, 7.2), squeeze=False, sharex=True, sharey=True,
                             layout="constrained")
    extent = v.extent()
    lo, hi = _limits(v.measured[frames][:, v.mask], v.simulated[frames][:, v.mask])
    rlo, rhi = _limits(v.residual[frames][:, v.mask], centred=True)
    rows = [("movie θ", v.measured, dict(cmap="viridis_r", vmin=lo, vmax=hi)),
            ("model θ", v.simulated, dict(cmap="viridis_r", vmin=lo, vmax=hi)),
            ("model − movie", v.residual, dict(cmap="RdBu_r", vmin=rlo, vmax=rhi))]
    images = []
    for r, (label, field, style) in enumerate(rows):
        for c, i in enumerate(frames):
            ax = axes[r, c]
            im = ax.imshow(field[i][v.rows, v.cols], extent=extent, interpolation="nearest", **style)
            if r < 2 and v.line is not None:
                (y0, x0), (y1, x1) = v.line
                (ax0, ay0), (ax1, ay1) = v.to_axes(y0, x0), v.to_axes(y1, x1)
                ax.plot([ax0, ax1], [ay0, ay1], "w--", lw=0.9)
            if r == 0:
                ax.set_title(f"t = {v.t_plot[i]:.3g} {v.time_unit}", fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{label}\ny ({v.unit})")
            if r == 2:
                ax.set_xlabel(f"x ({v.unit})")
        images.append(im)
    fig.colorbar(images[0], ax=axes[:2].ravel().tolist(), label="lithium fraction θ (movie and model)", shrink=0.9)
    fig.colorbar(images[2], ax=axes[2].tolist(), label="θ residual, model − movie", shrink=0.9)
    line = f"; dashed: {v.line_source}" if v.line is not None else ""
    _suptitle(fig, v.title(f"θ maps: movie (top) vs model seen through the microscope (middle), residual (bottom)"
                         f"{line} ({_CITE}C)"))
    _save(fig, path, dpi)


def _plot_kymographs(v: _View, path: Path, dpi: int) -> None:
    """Fig. 3D, E: θ (and total contrast) along the profile line vs time, movie beside model."""
    from ..imaging.profiles import line_sampler

    plt = _mpl()
    rows = [("θ", v.measured, v.simulated, "viridis_r", False, "w")]
    if v.c_measured is not None:
        rows.append(("total contrast I_t/I_0 − 1", v.c_measured, v.c_simulated, "RdBu_r", True, "k"))
    fig, axes = plt.subplots(len(rows), 2, figsize=(9.5, 3.6 * len(rows) + 0.6), squeeze=False, sharey=True,
                             layout="constrained")
    if v.line is None:
        for ax in axes.ravel():
            ax.text(0.5, 0.5, "no profile line (the particle is too small for an axis)", ha="center",
                    transform=ax.transAxes, fontsize=8)
    else:
        start, end = v.line
        _, pixels, weights = line_sampler(v.mask.shape, start, end)
        ys = np.linspace(start[0], end[0], len(pixels))
        xs = np.linspace(start[1], end[1], len(pixels))
        pos = np.array([v.to_axes(py, px) for py, px in zip(ys, xs)])
        dist = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pos, axis=0).T))])
        centre = float(dist[np.argmin(np.hypot(ys - v.centroid[0], xs - v.centroid[1]))])
        for r, (label, measured, simulated, cmap, centred, ink) in enumerate(rows):
            km, ks = _sample(measured, pixels, weights), _sample(simulated, pixels, weights)
            lo, hi = _limits(km, ks, centred=centred)
            for c, (who, k) in enumerate((("movie", km), ("model", ks))):
                ax = axes[r, c]
                mesh = ax.pcolormesh(dist, v.t_plot, k, shading="nearest", cmap=cmap, vmin=lo, vmax=hi)
                ax.axvline(centre, color=ink, ls="--", lw=0.9)
                ax.set_title(f"{who}: {label}", fontsize=9)
                ax.set_xlabel(f"distance along the line ({v.unit})")
            axes[r, 0].set_ylabel(f"time ({v.time_unit})")
            fig.colorbar(mesh, ax=axes[r].tolist(), label=label, shrink=0.9)
    _suptitle(fig, v.title(f"kymographs along {v.line_source or 'the profile line'}: movie (left) vs model (right), "
                         f"one scale; dashed: the particle centre ({_CITE}D, E)"))
    _save(fig, path, dpi)


def _plot_traces(v: _View, path: Path, dpi: int) -> None:
    """Fig. 3F: θ at the centre and the particle mean vs time (model lines, movie markers);
    ring means and the centre's total contrast when present."""
    plt = _mpl()
    ds = v.ds
    rings = (_has(ds, "ring_theta_measured", "time", "ring_index")
             and _has(ds, "ring_theta_simulated", "time", "ring_index"))
    n = 1 + rings + (v.c_measured is not None)
    fig, axes = plt.subplots(n, 1, figsize=(7.0, 3.0 * n + 0.6), sharex=True, squeeze=False)
    axes = axes[:, 0]
    t = v.t_plot
    ax = axes[0]
    n_centre = int(v.centre.sum())
    for (name, fn), colour, marker in zip((("centre", v.centre_mean), ("particle mean", v.particle_mean)),
                                          ("tab:red", "tab:blue"), ("o", "s")):
        ax.plot(t, fn(v.simulated), "-", color=colour, label=f"{name}, model")
        ax.plot(t, fn(v.measured), marker, color=colour, mfc="none", ms=5, ls="none", label=f"{name}, movie")
    ax.set_ylabel("lithium fraction θ")
    ax.set_title(f"centre = {n_centre} pixels within {CENTRE_RADIUS_PX:g} px of the centroid", fontsize=8)
    ax.legend(fontsize=8, ncol=2)
    k = 1
    if rings:
        ax = axes[k]
        k += 1
        index = np.asarray(ds["ring_index"].values) if "ring_index" in ds.coords else np.arange(
            ds.sizes["ring_index"])
        rm = ds["ring_theta_measured"].transpose("time", "ring_index").values
        rs = ds["ring_theta_simulated"].transpose("time", "ring_index").values
        cmap = plt.get_cmap("viridis")
        for j, ring in enumerate(index):
            colour = cmap(j / max(len(index) - 1, 1))
            tag = f"ring {ring}" + (" (edge)" if j == 0 else " (core)" if j == len(index) - 1 else "")
            ax.plot(t, rs[:, j], "-", color=colour, label=tag)
            ax.plot(t, rm[:, j], "o", color=colour, mfc="none", ms=4, ls="none")
        ax.set_ylabel("ring mean θ")
        ax.set_title("equal-area rings from the edge (0) to the core", fontsize=8)
        ax.legend(fontsize=7, ncol=min(len(index), 5))
    if v.c_measured is not None:
        ax = axes[k]
        for (name, fn), colour, marker in zip((("centre", v.centre_mean), ("particle mean", v.particle_mean)),
                                              ("tab:red", "tab:blue"), ("o", "s")):
            ax.plot(t, fn(v.c_simulated), "-", color=colour, label=f"{name}, model")
            ax.plot(t, fn(v.c_measured), marker, color=colour, mfc="none", ms=5, ls="none", label=f"{name}, movie")
        ax.set_ylabel("total contrast I_t/I_0 − 1")
        ax.legend(fontsize=8, ncol=2)
    axes[-1].set_xlabel(f"time ({v.time_unit})")
    _suptitle(fig, v.title(f"model (lines) vs movie (markers): particle centre and mean ({_CITE}F)"))
    fig.tight_layout()
    _save(fig, path, dpi)


def _plot_misfit(v: _View, path: Path, dpi: int) -> None:
    """Misfit vs α (log axis) with the best α and its 95 % interval; D(θ) with its band."""
    plt = _mpl()
    ds = v.ds
    panels = [p for p in ("misfit", "diffusivity") if
              _has(ds, *(("misfit_curve", "alpha_grid") if p == "misfit" else ("diffusivity", "theta")))]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.0), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "misfit":
            a = np.asarray(ds["alpha_grid"].values, dtype=float)
            m = np.asarray(ds["misfit_curve"].transpose("alpha_grid").values, dtype=float)
            order = np.argsort(a)
            ax.semilogx(a[order], m[order], "o-", ms=4, color="k", label="misfit at each α evaluated")
            alpha, low, high = _scalar(ds, "alpha"), _scalar(ds, "alpha_low"), _scalar(ds, "alpha_high")
            if low is not None and high is not None:
                ax.axvspan(low, high, color="tab:blue", alpha=0.2, label=f"95 % interval {low:.3g}–{high:.3g}")
            if alpha is not None:
                ax.axvline(alpha, color="tab:blue", lw=1.5, label=f"best α = {alpha:.3g}")
            ax.set_xlabel("α (scale factor on D(θ))")
            ax.set_ylabel("misfit (mean squared difference, 1)")
            ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0), useOffset=True)
            from matplotlib.ticker import LogFormatter

            ax.xaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
            ax.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 1)))
            ax.set_title("misfit vs α", fontsize=9)
            ax.legend(fontsize=7, loc="upper center")
        else:
            th = np.asarray(ds["theta"].values, dtype=float) if "theta" in ds.coords else np.arange(
                ds.sizes["theta"], dtype=float)
            order = np.argsort(th)
            d = np.asarray(ds["diffusivity"].values, dtype=float)[order]
            ax.semilogy(th[order], d, "o-", color="tab:red", label="fitted D(θ)")
            if _has(ds, "diffusivity_low", "theta") and _has(ds, "diffusivity_high", "theta"):
                ax.fill_between(th[order], ds["diffusivity_low"].values[order], ds["diffusivity_high"].values[order],
                                color="tab:red", alpha=0.2, label="95 % band (whole curve)")
            if _has(ds, "diffusivity_pointwise_low", "theta") and _has(ds, "diffusivity_pointwise_high", "theta"):
                ax.fill_between(th[order], ds["diffusivity_pointwise_low"].values[order],
                                ds["diffusivity_pointwise_high"].values[order], color="tab:red", alpha=0.25,
                                label="95 % at each knot")
            if _has(ds, "diffusivity_prior", "theta"):
                ax.semilogy(th[order], ds["diffusivity_prior"].values[order], "k--", lw=1,
                            label="prior (material D(θ) × α)")
            ax.set_xlabel("lithium fraction θ")
            ax.set_ylabel("D (m²/s)")
            ax.set_title("fitted D(θ) (knots, log-linear between)", fontsize=9)
            ax.legend(fontsize=8)
    what = "fit quality: misfit vs α" if "misfit" in panels else "fit quality"
    if "diffusivity" in panels:
        what += f"; fitted D(θ) (the paper's α D(θ): {_CITE}B)"
    _suptitle(fig, v.title(what))
    fig.tight_layout()
    _save(fig, path, dpi)
