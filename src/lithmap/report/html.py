"""The HTML report (``lithmap report``, :func:`lithmap.build_report`): lithmap result files in, one
self-contained folder out that a researcher can send a colleague.

``build_report(results, out)`` recognises each file's KIND from its variables and attrs
(:func:`report_kind`), draws its figures in the one report style (:mod:`lithmap.report.style`;
lithmap's own plot functions where they draw what is wanted), writes a caption with the numbers
behind each figure, and lays the page out as MultiQC does::

    out/index.html            title, what this is, contents, one section per kind
    out/figures/NAME.png      every figure (the page shows these), NAME.svg beside each for print
    out/figures/NAME.gif      contrast movies (NAME.mp4 too where ffmpeg is installed)
    out/data/summary.csv      every number a caption quotes: file, kind, quantity, value, units
    out/data/NAME.csv         the tables behind the figures (traces, D(theta), shells, ...)
    out/data/inputs/          copies of the result files (up to 200 MB each), so that
                              ``lithmap report out/data/inputs --out again`` rebuilds the page

The page needs no JavaScript and no network: every path is relative. It is built in a temporary
folder beside ``out`` and renamed into place at the end, so a failure leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import html
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from . import style

#: Kinds of result, in the order of the page: kind → (section title, what lithmap writes it).
KINDS = {
    "simulation": ("Particle simulations", "lithmap simulate"),
    "sweep": ("Parameter sweeps", "lithmap sweep"),
    "contrast": ("Operando movies: total contrast", "lithmap contrast"),
    "fit": ("Model against movie: fitted physics", "lithmap fit"),
    "particle_fits": ("Fits of many particles", "lithmap fit --particles / several movies"),
    "particles": ("Particles of a field", "lithmap particles"),
    "gitt": ("GITT / PITT: D(θ)", "lithmap gitt / lithmap pitt"),
    "diffusivity": ("D(θ) tables", "a CSV with columns theta, diffusivity_m2_s"),
    "cycles": ("Cycling: capacity and coulombic efficiency", "lithmap cycles"),
    "lcf": ("Oxidation state: linear-combination fits", "lithmap lcf"),
    "shells": ("Shell profiles", "lithmap shells"),
    "clusters": ("Spectral clusters", "lithmap clusters"),
    "reconstruction": ("Reconstructed volumes", "lithmap reconstruct"),
    "composition": ("Composition: the TM/O ratio", "lithmap composition"),
    "pores": ("Pores and cracks", "lithmap pores"),
    "stress": ("Chemo-mechanics: stress", "lithmap stress"),
    "figure": ("Figures and studies", "images shown as they are (the studies of examples/ with their text)"),
}
#: File suffixes read as result datasets, tables and images.
DATASET_SUFFIXES = (".nc", ".zarr")
TABLE_SUFFIXES = (".csv",)
IMAGE_SUFFIXES = (".png", ".gif", ".jpg", ".jpeg", ".svg")
#: Resolution of the movies (GIF, MP4).
MOVIE_DPI = 90
#: Inputs larger than this are listed in data/inputs.csv rather than copied (bytes).
COPY_LIMIT = 200 * 2**20
_EXPECTED = ("NetCDF/Zarr from simulate, sweep, contrast, fit, lcf, clusters, reconstruct, composition, pores or "
             "stress; "
             "a CSV from gitt, pitt, cycles, shells or particles; or a PNG/GIF/JPEG/SVG figure")
_CITE_OPTICAL = "Xu, Merryweather et al., Joule 2022"
_CITE_XRAY = "Liu, Zeng et al., Nat. Nanotechnol. 2024"


# ---------------------------------------------------------------------------------------------
# recognising results


def _dataset_kind(ds: xr.Dataset) -> str | None:
    """The kind of a result dataset from its variables (most specific first), or None."""
    v = set(ds.variables)
    if {"alpha", "alpha_low", "alpha_high"} <= v and ("particle" in ds.dims or "movie" in ds.dims):
        return "particle_fits"
    if {"alpha", "alpha_low", "alpha_high", "theta_simulated", "theta_measured"} <= v:
        return "fit"
    if {"hoop_stress", "von_mises_stress", "radial_stress"} <= v:
        return "stress"
    if {"theta", "theta_mean", "c_rate"} <= v and "time" in ds.dims:
        return "simulation"
    if {"stop_time", "theta_mean_end"} <= v:
        return "sweep"
    if {"total_contrast", "mask"} <= v and ({"intensity", "drift"} & v):
        return "contrast"
    if {"cluster", "cluster_spectrum"} <= v:
        return "clusters"
    if {"weights", "mean_valence"} <= v:
        return "lcf"
    if {"tm_o_ratio", "phase", "volume_fraction"} <= v:
        return "composition"
    if {"porosity", "local_thickness", "n_pores"} <= v:
        return "pores"
    if ("volume" in v and set(ds["volume"].dims) == {"z", "y", "x"}) or (
            "absorbance" in v and set(ds["absorbance"].dims) == {"energy", "z", "y", "x"}):
        return "reconstruction"
    return None


def _table_kind(fields) -> str | None:
    """The kind of a CSV table lithmap writes from its column names, or None."""
    f = set(fields)
    if {"diffusivity_m2_s", "flags"} <= f and f & {"theta", "soc"}:
        return "gitt"
    if {"cycle", "charge_capacity_mAh", "discharge_capacity_mAh", "coulombic_efficiency"} <= f:
        return "cycles"
    if {"shell", "label", "mean"} <= f:
        return "shells"
    if {"particle", "pixel_count", "equivalent_diameter"} <= f:
        return "particles"
    if {"theta", "diffusivity_m2_s"} <= f:
        return "diffusivity"
    return None


def report_kind(path) -> str:
    """What kind of lithmap result a file is, as :func:`build_report` files it.

    Parameters
    ----------
    path : str or Path
        A NetCDF file or Zarr store (its variables decide), a CSV table (its columns decide) or
        an image (``figure``).

    Returns
    -------
    str
        One of the keys of :data:`KINDS`: ``simulation``, ``sweep``, ``contrast``, ``fit``,
        ``particle_fits``, ``particles``, ``gitt``, ``diffusivity``, ``cycles``, ``lcf``,
        ``shells``, ``clusters``, ``reconstruction``, ``stress`` or ``figure``.

    Raises
    ------
    LithmapError
        The file does not exist or is not a lithmap result (one line naming it and what was
        expected).

    Examples
    --------
    >>> import lithmap
    >>> report_kind(lithmap.example_file("example_particle.png"))
    'figure'
    """
    return _recognise(Path(path))[0]


def _recognise(p: Path):
    """(kind, data) of one file: data is the Dataset, the (fields, rows) table or None (images)."""
    from ..io.results import read_result
    from ..io.tables import read_columns

    if not p.exists():
        raise LithmapError(f"result {str(p)!r} does not exist")
    suffix = p.suffix.lower()
    if suffix in DATASET_SUFFIXES:
        ds = read_result(p)
        kind = _dataset_kind(ds)
        if kind is None:
            names = ", ".join(sorted(map(str, ds.data_vars))[:8]) or "none"
            raise LithmapError(f"{str(p)!r} is not a lithmap result: its variables ({names}) match no kind; expected "
                               "e.g. theta+theta_mean+c_rate (simulate), total_contrast+mask (contrast), alpha (fit), "
                               "weights+mean_valence (lcf), cluster (clusters), volume (reconstruct), hoop_stress "
                               "(stress)")
        return kind, ds
    if suffix in TABLE_SUFFIXES:
        fields, rows = read_columns(p, what="result table")
        kind = _table_kind(fields)
        if kind is None:
            raise LithmapError(f"{str(p)!r} is not a lithmap result table: its columns ({', '.join(fields[:8])}) match "
                               "none of gitt (theta/soc, diffusivity_m2_s, flags), cycles (cycle, "
                               "charge_capacity_mAh, ...), shells (shell, label, mean), particles")
        if not rows:
            raise LithmapError(f"result table {str(p)!r} has no rows")
        return kind, (fields, rows)
    if suffix in IMAGE_SUFFIXES:
        if p.is_dir():
            raise LithmapError(f"{str(p)!r} is a folder, not an image")
        return "figure", None
    raise LithmapError(f"{str(p)!r} is not a lithmap result; expected {_EXPECTED}")


@dataclass
class _Item:
    kind: str
    path: Path
    data: object
    name: str = ""
    caption_text: str | None = None  # a study's text (the .txt beside its image)

    @property
    def file(self) -> str:
        """The name of its copy in data/inputs/ (unique in the report; the original's when it can be)."""
        return f"{self.name}{self.path.suffix}"


def _walk(folder: Path, skip: Path | None = None):
    """Files and Zarr stores under ``folder`` (sorted; hidden entries skipped; a ``.zarr`` folder is
    one result). A report folder (index.html beside data/) stands for the inputs it copied."""
    if (folder / "index.html").is_file() and (folder / "data").is_dir():
        inputs = folder / "data" / "inputs"
        if inputs.is_dir():
            yield from _walk(inputs, skip)
        return
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or (skip is not None and entry.resolve() == skip):
            continue
        if entry.is_dir():
            if entry.suffix.lower() == ".zarr":
                yield entry
            else:
                yield from _walk(entry, skip)
        else:
            yield entry


def _collect(results, skip: Path | None = None) -> tuple[list[_Item], list[tuple[Path, str]]]:
    """The items to report and the files in folders left out (with why); folders are searched
    without entering ``skip`` (the report being built)."""
    if isinstance(results, (str, os.PathLike)):
        results = [results]
    results = [Path(r) for r in (results or [])]
    if not results:
        raise LithmapError("no results given; expected lithmap result files or folders of them")
    items: list[_Item] = []
    skipped: list[tuple[Path, str]] = []
    for r in results:
        if not r.exists():
            raise LithmapError(f"result {str(r)!r} does not exist")
        if r.is_dir() and r.suffix.lower() != ".zarr":
            found = list(_walk(r, skip))
            if not found:
                raise LithmapError(f"folder {str(r)!r} is empty; expected lithmap result files in it")
            items_here = []
            for f in found:
                if f.suffix.lower() == ".txt":
                    continue  # a study's text: read with its image below
                if f.suffix.lower() == ".svg" and any(f.with_suffix(x).is_file() for x in (".png", ".gif")):
                    continue  # the print copy of a figure: linked beside it
                try:
                    kind, data = _recognise(f)
                except LithmapError as exc:
                    skipped.append((f, str(exc)))
                    continue
                items_here.append(_Item(kind, f, data))
            items_here = _drop_own_figures(items_here, skipped)
            if not items_here:
                raise LithmapError(f"folder {str(r)!r} holds no lithmap results ({len(found)} files, none recognised; "
                                   f"expected {_EXPECTED})")
            items.extend(items_here)
        else:
            kind, data = _recognise(r)
            items.append(_Item(kind, r, data))
    for it in items:
        if it.kind == "figure":
            txt = it.path.with_suffix(".txt")
            if txt.is_file():
                it.caption_text = txt.read_text(encoding="utf-8", errors="replace").strip()
    seen = set()
    unique = []
    for it in items:
        key = it.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(it)
    return unique, skipped


def _drop_own_figures(items: list[_Item], skipped) -> list[_Item]:
    """In a folder, the PNGs lithmap wrote beside a result (``fit.nc`` → ``fit_maps.png``,
    ``gitt.csv`` → ``gitt.png``) are redrawn by the report, not shown twice."""
    stems = {(it.path.parent, it.path.stem) for it in items if it.kind != "figure"}
    keep = []
    for it in items:
        if it.kind == "figure" and it.caption_text is None and not it.path.with_suffix(".txt").exists():
            own = [s for parent, s in stems if parent == it.path.parent and
                   (it.path.stem == s or it.path.stem.startswith(s + "_"))]
            if own:
                skipped.append((it.path, f"a figure of {own[0]} (the report draws its own)"))
                continue
        keep.append(it)
    return keep


# ---------------------------------------------------------------------------------------------
# the build context: figures, tables and the numbers quoted


@dataclass
class _Figure:
    files: list  # relative paths: PNG (shown) then SVG (or the image itself, or GIF then MP4)
    caption: str  # HTML
    data: list = field(default_factory=list)  # relative paths of the CSVs behind it
    alt: str = ""


@dataclass
class _Block:
    item: _Item
    figures: list = field(default_factory=list)
    table_html: str = ""
    note: str = ""


class _Context:
    """Where a build writes: figures/, data/, and the summary of every number quoted."""

    def __init__(self, root: Path):
        self.root = root
        self.figures = root / "figures"
        self.data = root / "data"
        self.figures.mkdir()
        self.data.mkdir()
        self.summary: list[tuple] = []
        self._names: set[str] = {"summary", "inputs", "index"}  # the report's own files

    def name(self, path: Path) -> str:
        """A unique file-name stem for a result (its own stem, made safe; _2, _3 when repeated)."""
        base = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.stem) or "result"
        name, k = base, 2
        while name in self._names:
            name, k = f"{base}_{k}", k + 1
        self._names.add(name)
        return name

    def number(self, item: _Item, quantity: str, value, units: str = "1", fmt: str = ".4g") -> str:
        """Record a number a caption quotes (data/summary.csv) and return it as the caption prints it."""
        try:
            value = float(np.asarray(value, float).ravel()[0])
        except (TypeError, ValueError, IndexError):
            value = float("nan")
        shown = "NaN" if not math.isfinite(value) else format(value, fmt)
        self.summary.append((item.file, item.kind, quantity, repr(value), shown, units))
        return shown

    def table(self, name: str, header, rows) -> str:
        """Write data/NAME.csv; return its path relative to the page."""
        path = self.data / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(list(header))
            for row in rows:
                w.writerow([_cell(v) for v in row])
        return f"data/{name}.csv"

    def stem(self, name: str) -> Path:
        return self.figures / name

    @staticmethod
    def rel(paths) -> list[str]:
        return [f"figures/{Path(p).name}" for p in paths]


def _cell(v) -> str:
    if isinstance(v, (float, np.floating)):
        return repr(float(v)) if math.isfinite(v) else "nan"
    if isinstance(v, (np.integer,)):
        return str(int(v))
    return str(v)


@contextlib.contextmanager
def _drawing():
    """The report style, with every PNG an existing plot function saves also saved as SVG."""
    with style.figure_style(), style.svg_beside() as svgs:
        yield svgs


def _pairs(pngs) -> list[list[str]]:
    """[PNG, SVG] relative paths of PNGs drawn under :func:`_drawing`."""
    return [[f"figures/{Path(p).name}", f"figures/{Path(p).with_suffix('.svg').name}"] for p in pngs]


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _attr(ds: xr.Dataset, name: str, default=None):
    v = ds.attrs.get(name, default)
    if isinstance(v, np.ndarray) and v.size == 1:
        v = v.item()
    return v


def _geometry(ds: xr.Dataset) -> str:
    """The geometry attr with its lengths in µm (``disc radius 1e-06 m`` → ``disc radius 1 µm``)."""
    import re

    text = str(_attr(ds, "geometry", "particle"))
    return re.sub(r"(\d[\d.]*(?:e[-+]?\d+)?) m\b", lambda m: f"{float(m.group(1)) * 1e6:.4g} µm", text)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _synthetic_note(ds: xr.Dataset) -> str:
    try:
        synthetic = int(np.asarray(_attr(ds, "synthetic", 0)).ravel()[0]) == 1
    except (TypeError, ValueError):
        synthetic = False
    return (" <strong>SYNTHETIC movie</strong> (made by lithmap from a simulation of the particle; no public "
            "operando optical movie of a layered oxide exists)." if synthetic else "")


# ---------------------------------------------------------------------------------------------
# one function per kind: figures, captions, data


def _simulation(it: _Item, ctx: _Context) -> _Block:
    from .plots import plot_simulation

    ds: xr.Dataset = it.data
    with _drawing():
        pngs = plot_simulation(ds, ctx.figures, prefix=it.name)
    t = ds.time.values
    cols = [("time_s", t)] + [(n, ds[n].values) for n in ("theta_mean", "theta_surface", "theta_centre")]
    cols.append(("c_rate_C", ds.c_rate.values))
    if "voltage" in ds:
        cols.append(("voltage_V", ds.voltage.values))
    traces = ctx.table(f"{it.name}_traces", [c for c, _ in cols], zip(*[v for _, v in cols]))
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    gap = ds.theta_centre.values - ds.theta_surface.values
    k = int(np.nanargmax(np.abs(gap))) if np.isfinite(gap).any() else 0
    setup = (f"{_esc(_geometry(ds))}, material {_esc(_attr(ds, 'material', '?'))}, "
             f"α = {n('alpha', _attr(ds, 'alpha', np.nan))}, θ0 = {n('theta0', _attr(ds, 'theta0', np.nan))}, "
             f"protocol “{_esc(_attr(ds, 'protocol', ''))}”")
    end = (f"After {n('duration', t[-1] / 60, 'min', '.1f')} min the mean θ is "
           f"{n('theta_mean_end', ds.theta_mean.values[-1], fmt='.4f')}, the surface "
           f"{n('theta_surface_end', ds.theta_surface.values[-1], fmt='.4f')} and the centre "
           f"{n('theta_centre_end', ds.theta_centre.values[-1], fmt='.4f')}; the centre–surface gap is largest, "
           f"{n('max_centre_surface_gap', gap[k], fmt='.3f')}, at {n('time_of_max_gap', t[k] / 60, 'min', '.1f')} min")
    if "voltage" in ds and np.isfinite(ds.voltage.values).any():
        end += (f"; the voltage runs from {n('voltage_start', ds.voltage.values[0], 'V', '.3f')} to "
                f"{n('voltage_end', ds.voltage.values[-1], 'V', '.3f')} V vs Li/Li⁺")
    end += f". Run ended: {_esc(_attr(ds, 'termination', 'protocol complete'))}."
    caps = [f"θ at the particle centre, at its surface and the particle mean against time"
            f"{', with the voltage and C-rate (+ = charge)' if 'voltage' in ds else ''}. {setup}. {end}",
            ("θ against r" if "r" in ds.theta.dims else "Degree of delithiation 1 − θ: maps") +
            f" at six times through the run ({setup}).",
            "θ " + ("along the radius" if "r" in ds.theta.dims else "along the line through the centre") +
            " against time (a kymograph): the depleted shell growing in from the surface."]
    figs = [_Figure(f, c, [traces]) for f, c in zip(_pairs(pngs), caps)]
    return _Block(it, figs)


def _contrast(it: _Item, ctx: _Context) -> _Block:
    from ..io.images import pixel_size_of

    ds: xr.Dataset = it.data
    plt = style._plt()
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    t = ds.time.values
    mask = ds["mask"].values.astype(bool)
    if "intensity_normalised" not in ds:  # whole-particle I/I_ref from the maps
        inside_mean = np.nanmean(np.where(mask, ds.total_contrast.values, np.nan).reshape(t.size, -1), axis=1)
        ds = ds.assign(intensity_normalised=("time", 1 + inside_mean, {"units": "1"}))
    tc = ds.total_contrast.values
    px = pixel_size_of(ds)
    x = ds.x.values if "x" in ds.coords else np.arange(tc.shape[2]) * (px or 1.0)
    y = ds.y.values if "y" in ds.coords else np.arange(tc.shape[1]) * (px or 1.0)
    if px is None:
        x, y = np.arange(tc.shape[2]) * 1e-6, np.arange(tc.shape[1]) * 1e-6  # pixels drawn as "µm" units
    idx = np.unique(np.linspace(0, t.size - 1, min(6, t.size)).round().astype(int))
    inside = tc[:, mask]
    cy, cx = _crop(mask)
    xc, yc = x[cx], y[cy]
    norm = style.centred_norm(inside[idx])
    with _drawing():
        fig, axes = plt.subplots(1, idx.size, figsize=(1.9 * idx.size + 0.9, 2.5), squeeze=False)
        for ax, i in zip(axes[0], idx):
            im = ax.imshow(np.where(mask, tc[i], np.nan)[cy, cx], cmap=style.DIVERGING, norm=norm,
                           extent=style.map_extent(xc, yc))
            ax.set_title(_minutes(t[i] - t[0]))
            ax.set_axis_off()
        if px is not None:
            style.scale_bar(axes[0, 0], xc, yc)
        style.colorbar(list(axes[0]), im, "total contrast I/I_ref − 1", "1")
        maps = style.save_figure(fig, ctx.stem(f"{it.name}_contrast_maps"))
        has_v = "voltage" in ds and np.isfinite(ds.voltage.values).any()
        fig, axs = plt.subplots(2 if has_v else 1, 1, figsize=(6.4, 4.6 if has_v else 2.8), sharex=True,
                                squeeze=False)
        tm = (t - t[0]) / 60
        if has_v:
            axs[0, 0].plot(tm, ds.voltage.values, color="k")
            axs[0, 0].set_ylabel(style.unit_label("cell voltage", "V"))
            if "current" in ds:
                axc = axs[0, 0].twinx()
                axc.plot(tm, ds.current.values * 1e3, color=style.LINE_COLOURS[0], lw=1)
                axc.spines["right"].set_visible(True)
                axc.set_ylabel(style.unit_label("current", "mA"), color=style.LINE_COLOURS[0])
        ax = axs[-1, 0]
        ax.plot(tm, ds.intensity_normalised.values, color="k", label="whole particle I/I_ref")
        if "centre_contrast" in ds:
            ax.plot(tm, 1 + ds.centre_contrast.values, label="centre (innermost ring)")
        if "ring_contrast" in ds:
            ax.plot(tm, 1 + ds.ring_contrast.values[:, 0], label="edge (outermost ring)")
        ax.set_ylabel(style.unit_label("intensity / reference", "1"))
        ax.set_xlabel(style.unit_label("time", "min"))
        ax.legend()
        traces_fig = style.save_figure(fig, ctx.stem(f"{it.name}_traces"))
    cols = [("time_s", t), ("intensity_normalised", ds.intensity_normalised.values)]
    for name in ("mean_contrast", "centre_contrast", "heterogeneity", "voltage", "current", "charge_passed"):
        if name in ds and ds[name].dims == ("time",):
            cols.append((name, ds[name].values))
    if "ring_contrast" in ds:
        for r in range(ds.ring_contrast.shape[1]):
            cols.append((f"ring_contrast_{r}", ds.ring_contrast.values[:, r]))
    if "drift" in ds:
        cols += [("drift_y_px", ds.drift.values[:, 0]), ("drift_x_px", ds.drift.values[:, 1])]
    traces = ctx.table(f"{it.name}_traces", [c for c, _ in cols], zip(*[v for _, v in cols]))
    pixels = int(mask.sum())
    size = (f", {n('particle_area', pixels * px * px * 1e12, 'um^2', '.3g')} µm², pixel size "
            f"{n('pixel_size', px * 1e9, 'nm', '.3g')} nm" if px else "")
    drift = float(np.nanmax(np.hypot(*ds.drift.values.T))) if "drift" in ds else float("nan")
    lim = n("contrast_limit", norm.vmax, fmt=".3g")
    synthetic = _synthetic_note(ds)
    ref = int(_attr(ds, "reference_frame", 0) or 0)
    cap_maps = (f"Total contrast I_t/I_ref − 1 inside the particle at {idx.size} times (min after the first frame) "
                f"on a zero-centred diverging scale, ±{lim} (the 99th percentile of |contrast|): red brighter, blue "
                f"darker than reference frame {ref} (cf. {_CITE_OPTICAL}, Fig. 2B). "
                f"{n('frames', t.size, fmt='.0f')} frames over "
                f"{n('duration', (t[-1] - t[0]) / 60, 'min', '.1f')} min; particle "
                f"{n('particle_pixels', pixels, fmt='.0f')} pixels{size}; largest drift corrected "
                f"{n('max_drift', drift, 'pixel', '.2f')} pixels.{synthetic}")
    het = ds["heterogeneity"].values if "heterogeneity" in ds else None
    cap_tr = (f"Whole-particle intensity over the reference against time"
              f"{' under the cell voltage and current (cf. ' + _CITE_OPTICAL + ', Fig. 1E)' if has_v else ''}; "
              f"the final I/I_ref is ×{n('final_intensity_normalised', ds.intensity_normalised.values[-1], fmt='.4g')}")
    if has_v:
        v = ds.voltage.values
        cap_tr += (f"; the cell voltage runs from {n('voltage_start', v[np.isfinite(v)][0], 'V', '.3f')} to "
                   f"{n('voltage_end', v[np.isfinite(v)][-1], 'V', '.3f')} V")
    if het is not None and np.isfinite(het).any():
        k = int(np.nanargmax(np.abs(het)))
        cap_tr += (f"; the core–periphery index (outermost minus innermost ring contrast) is largest, "
                   f"{n('max_heterogeneity', het[k], fmt='.3g')}, at "
                   f"{n('time_of_max_heterogeneity', (t[k] - t[0]) / 60, 'min', '.1f')} min")
    cap_tr += "."
    figs = [_Figure(ctx.rel(maps), cap_maps, [traces]), _Figure(ctx.rel(traces_fig), cap_tr, [traces])]
    if "theta" in ds and ds["theta"].dims == ("time", "y", "x"):
        figs.append(_theta_maps(it, ctx, ds, idx, (cy, cx), x, y, px, traces))
    figs.append(_movie_figure(it, ctx, ds))
    return _Block(it, figs)


def _theta_maps(it: _Item, ctx: _Context, ds: xr.Dataset, idx, crop, x, y, px, traces) -> _Figure:
    """The calibrated θ maps of a contrast result at the times of its contrast maps."""
    from matplotlib.colors import Normalize

    plt = style._plt()
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    cy, cx = crop
    mask = ds["mask"].values.astype(bool)
    th = np.where(mask, ds["theta"].values, np.nan)
    t = ds.time.values
    finite = th[idx][np.isfinite(th[idx])]
    norm = Normalize(float(np.percentile(finite, 1)), float(np.percentile(finite, 99))) if finite.size else None
    with style.figure_style():
        fig, axes = plt.subplots(1, len(idx), figsize=(1.9 * len(idx) + 0.9, 2.5), squeeze=False)
        for ax, i in zip(axes[0], idx):
            im = ax.imshow(th[i][cy, cx], cmap=style.SEQUENTIAL, norm=norm, extent=style.map_extent(x[cx], y[cy]))
            ax.set_title(_minutes(t[i] - t[0]))
            ax.set_axis_off()
        if px is not None:
            style.scale_bar(axes[0, 0], x[cx], y[cy])
        style.colorbar(list(axes[0]), im, "lithium fraction θ", "1")
        files = ctx.rel(style.save_figure(fig, ctx.stem(f"{it.name}_theta_maps")))
    mean_end = float(np.nanmean(th[-1]))
    how = _esc(str(_attr(ds, "calibration", "a calibration")).split(",")[0])
    cap = (f"Lithium fraction θ inside the particle at the same times, from the intensity by {how}; the particle "
           f"mean falls from {n('theta_mean_start', float(np.nanmean(th[0])), fmt='.3f')} to "
           f"{n('theta_mean_end', mean_end, fmt='.3f')} (the PSF mixes the dark matrix into the edge pixels).")
    return _Figure(files, cap, [traces])


def _movie_dpi():
    """Movies at :data:`MOVIE_DPI`: smaller files, quicker to write, still sharp on screen."""
    import matplotlib

    return matplotlib.rc_context({"figure.dpi": MOVIE_DPI, "savefig.dpi": MOVIE_DPI})


def _movie_figure(it: _Item, ctx: _Context, ds: xr.Dataset) -> _Figure:
    """The contrast movie as GIF (and MP4 where ffmpeg is installed), by :func:`lithmap.write_movie`."""
    from .movie import write_movie

    with style.figure_style(), _movie_dpi():
        gif = write_movie(ds, ctx.figures / f"{it.name}_movie.gif", max_frames=60)
        files = [f"figures/{gif.name}"]
        if shutil.which("ffmpeg"):
            mp4 = write_movie(ds, ctx.figures / f"{it.name}_movie.mp4", max_frames=300)
            files.append(f"figures/{mp4.name}")
    return _Figure(files, "The movie: total contrast frame by frame (zero-centred diverging scale) above the "
                          "whole-particle trace (and the cell voltage when a log was synchronised), a cursor at the "
                          "frame's time.")


def _fit(it: _Item, ctx: _Context) -> _Block:
    from .fit_figures import plot_fit

    ds: xr.Dataset = it.data
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    with _drawing():
        pngs = plot_fit(ds, ctx.figures / it.name, overwrite=True)
    a, lo, hi = (float(ds[v]) for v in ("alpha", "alpha_low", "alpha_high"))
    alpha_txt = (f"α = {n('alpha', a)} (95 % interval {n('alpha_low', lo)}–{n('alpha_high', hi)})")
    rows = [("alpha", a), ("alpha_low", lo), ("alpha_high", hi)]
    for v in ("misfit",):
        if v in ds and ds[v].ndim == 0:
            rows.append((v, float(ds[v])))
    for k in ("psf_fwhm", "n_data", "n_effective", "theta0"):
        if k in ds.attrs:
            with contextlib.suppress(TypeError, ValueError):
                rows.append((k, float(np.asarray(ds.attrs[k]).ravel()[0])))
    alpha_csv = ctx.table(f"{it.name}_alpha", ["quantity", "value"], rows)
    data = [alpha_csv]
    if "misfit_curve" in ds and "alpha_grid" in ds.coords:
        data.append(ctx.table(f"{it.name}_misfit_curve", ["alpha", "misfit"],
                              zip(ds.alpha_grid.values, ds.misfit_curve.values)))
    d_txt = ""
    if "diffusivity" in ds and "theta" in ds["diffusivity"].dims:
        names = [v for v in ("diffusivity", "diffusivity_low", "diffusivity_high", "diffusivity_pointwise_low",
                             "diffusivity_pointwise_high", "diffusivity_prior") if v in ds]
        th = ds["theta"].values
        data.append(ctx.table(f"{it.name}_diffusivity", ["theta"] + [f"{v}_m2_s" for v in names],
                              zip(th, *[ds[v].values for v in names])))
        parts = []
        for j, tj in enumerate(th):
            band = (f" ({n(f'diffusivity_low@theta={tj:.3f}', ds.diffusivity_low.values[j], 'm^2/s', '.2e')}–"
                    f"{n(f'diffusivity_high@theta={tj:.3f}', ds.diffusivity_high.values[j], 'm^2/s', '.2e')})"
                    if "diffusivity_low" in ds else "")
            parts.append(f"θ {tj:.3f}: {n(f'diffusivity@theta={tj:.3f}', ds.diffusivity.values[j], 'm^2/s', '.2e')}"
                         f"{band}")
        d_txt = (" Fitted D(θ) with its 95 % simultaneous band, m²/s: " + "; ".join(parts) + ".")
    mean_cols = []
    for v in ("theta_measured", "theta_simulated"):
        mean_cols.append((f"{v}_mean", np.nanmean(ds[v].values.reshape(ds.sizes["time"], -1), axis=1)))
    data.append(ctx.table(f"{it.name}_traces", ["time_s"] + [c for c, _ in mean_cols],
                          zip(ds.time.values, *[v for _, v in mean_cols])))
    psf = _attr(ds, "psf_fwhm")
    extra = ""
    if "misfit" in ds and ds["misfit"].ndim == 0:
        extra += f"; misfit {n('misfit', float(ds['misfit']), fmt='.3g')}"
    if psf is not None:
        with contextlib.suppress(TypeError, ValueError):
            extra += f"; PSF FWHM {n('psf_fwhm', float(psf) * 1e9, 'nm', '.4g')} nm"
    head = (f"The particle simulated on the movie's own outline (material {_esc(_attr(ds, 'material', '?'))}, "
            f"protocol “{_esc(_attr(ds, 'protocol', ''))}”) fitted to its total contrast: {alpha_txt}{extra}.")
    synthetic = _synthetic_note(ds)
    what = {"maps": f"θ maps at five times: movie (top), model (middle) and model − movie (cf. {_CITE_OPTICAL}, "
                    "Fig. 3C).",
            "kymograph": "θ (and total contrast) along the profile line against time, movie beside model (cf. "
                         f"{_CITE_OPTICAL}, Fig. 3D, E).",
            "traces": f"θ at the particle centre and the particle mean against time, movie as markers, model as "
                      f"lines (cf. {_CITE_OPTICAL}, Fig. 3F).",
            "misfit": "The misfit against α (log axis) with the best α and its 95 % interval"
                      + (", and the fitted D(θ) with its band." if d_txt else ".")}
    figs = []
    for pair in _pairs(pngs):
        key = Path(pair[0]).stem[len(it.name) + 1:]
        figs.append(_Figure(pair, f"{what.get(key, '')} Fitted {alpha_txt}.{d_txt if key == 'misfit' else ''}", data))
    movie = _side_by_side_movie(it, ctx, ds)
    if movie is not None:
        figs.append(_Figure(movie, f"Movie against model, frame by frame: measured (left) and simulated (right) "
                                   f"{'total contrast' if 'contrast_measured' in ds else 'θ'} on one scale; "
                                   f"{alpha_txt}."))
    return _Block(it, figs, note=head + synthetic)


def _side_by_side_movie(it: _Item, ctx: _Context, ds: xr.Dataset):
    """A GIF (and MP4 with ffmpeg) of the measured beside the simulated contrast (or θ) of a fit."""
    from matplotlib import animation

    pair = ("contrast_measured", "contrast_simulated") if "contrast_measured" in ds else (
        "theta_measured", "theta_simulated")
    if not all(v in ds and ds[v].dims == ("time", "y", "x") for v in pair):
        return None
    plt = style._plt()
    meas, sim = ds[pair[0]].values, ds[pair[1]].values
    t = ds.time.values
    pick = np.unique(np.linspace(0, t.size - 1, min(60, t.size)).round().astype(int))
    inside = ds["mask"].values.astype(bool) if "mask" in ds and ds["mask"].dims == ("y", "x") else \
        np.isfinite(meas).any(axis=0)
    cy, cx = _crop(inside)
    meas, sim = meas[:, cy, cx], sim[:, cy, cx]
    x, y = ds.x.values[cx], ds.y.values[cy]
    contrast = pair[0].startswith("contrast")
    if contrast:
        norm = style.centred_norm(np.concatenate([meas[pick].ravel(), sim[pick].ravel()]))
        cmap, label = style.DIVERGING, "total contrast I/I_0 − 1"
    else:
        from matplotlib.colors import Normalize

        both = np.concatenate([meas[pick].ravel(), sim[pick].ravel()])
        norm, cmap, label = Normalize(np.nanmin(both), np.nanmax(both)), style.SEQUENTIAL, "lithium fraction θ"
    files = []
    with style.figure_style(), _movie_dpi():
        fig, axes = plt.subplots(1, 2, figsize=(6.2, 3.0))
        ims = []
        for ax, a, title in zip(axes, (meas, sim), ("movie", "model")):
            ims.append(ax.imshow(a[pick[0]], cmap=cmap, norm=norm, extent=style.map_extent(x, y)))
            ax.set_title(title)
            ax.set_axis_off()
        style.scale_bar(axes[0], x, y, colour="black")
        style.colorbar(list(axes), ims[0], label, "1")
        stamp = fig.suptitle(_minutes(t[pick[0]] - t[0]))

        def frame(k):
            for im, a in zip(ims, (meas, sim)):
                im.set_data(a[pick[k]])
            stamp.set_text(_minutes(t[pick[k]] - t[0]))
            return (*ims, stamp)

        anim = animation.FuncAnimation(fig, frame, frames=pick.size, blit=False)
        try:
            gif = ctx.figures / f"{it.name}_movie_vs_model.gif"
            anim.save(gif, writer=animation.PillowWriter(fps=5))
            files.append(f"figures/{gif.name}")
            if shutil.which("ffmpeg"):
                mp4 = gif.with_suffix(".mp4")
                anim.save(mp4, writer=animation.FFMpegWriter(fps=5))
                files.append(f"figures/{mp4.name}")
        finally:
            plt.close(fig)
    return files


def _particle_fits(it: _Item, ctx: _Context) -> _Block:
    ds: xr.Dataset = it.data
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    dim = "particle" if "particle" in ds.dims else "movie"
    cols = [v for v in ("alpha", "alpha_low", "alpha_high", "misfit", "equivalent_radius", "pixel_count", "status")
            if v in ds and ds[v].dims == (dim,)]
    data = [ctx.table(f"{it.name}_fits", [dim] + cols, zip(ds[dim].values, *[ds[v].values for v in cols]))]
    figs = []
    if "equivalent_radius" in ds and "status" in ds and ("labels" in ds or dim == "movie"):
        from .field_figures import plot_particle_fits

        with _drawing():
            pngs = plot_particle_fits(ds, ctx.figures / it.name, overwrite=True)
    else:
        pngs = []
    a = ds.alpha.values.astype(float)
    ok = np.isfinite(a)
    stats = []
    for key, label, fmt in (("alpha_median", "median α", ".4g"), ("alpha_spread", "spread of ln α", ".3g"),
                            ("alpha_heterogeneity_p", "p of one shared α (χ² test)", ".2g"),
                            ("spearman_rho_alpha_radius", "Spearman ρ of α with size", ".2f"),
                            ("spearman_p_alpha_radius", "its p", ".2g")):
        v = _attr(ds, key)
        with contextlib.suppress(TypeError, ValueError):
            if v is not None and math.isfinite(float(v)):
                stats.append(f"{label} {n(key, float(v), fmt=fmt)}")
    each = "; ".join(f"{_esc(p)}: {n(f'alpha[{p}]', a[j])} ({n(f'alpha_low[{p}]', ds.alpha_low.values[j])}–"
                     f"{n(f'alpha_high[{p}]', ds.alpha_high.values[j])})"
                     for j, p in enumerate(ds[dim].values[:12]) if ok[j])
    cap = (f"α fitted {dim} by {dim} ({int(ok.sum())} of {a.size} fitted), each with its 95 % interval: {each}"
           f"{' …' if a.size > 12 else ''}. " + ("; ".join(stats) + ". " if stats else "") +
           _esc(_attr(ds, "interpretation", "")) + f" (the size-or-wiring question of {_CITE_OPTICAL}, Fig. S7).")
    says = {"alpha_size": f"α of each {dim} against its equivalent radius, the median dashed. ",
            "alpha_movies": "α of each movie with its 95 % interval, sorted, lagging ones in red, the median dashed. ",
            "alpha_map": "The field coloured by each particle's α (log scale), numbered by label. "}
    for pair in _pairs(pngs):
        what = next((text for key, text in says.items() if pair[0].endswith(f"_{key}.png")), "")
        figs.append(_Figure(pair, what + cap, data))
    block = _Block(it, figs)
    if not figs:
        block.note = cap
        block.table_html = _html_table([dim] + cols, zip(ds[dim].values, *[ds[v].values for v in cols]))
    return block


def _particles(it: _Item, ctx: _Context) -> _Block:
    fields, rows = it.data
    data = ctx.table(it.name, fields, ([r.get(f, "") for f in fields] for r in rows))
    d = np.array([_float(r.get("equivalent_diameter")) for r in rows])
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    note = (f"{n('particles', len(rows), fmt='.0f')} particle{'s' if len(rows) != 1 else ''}; equivalent diameter "
            f"{n('diameter_min', np.nanmin(d) * 1e6, 'um', '.3g')}–{n('diameter_max', np.nanmax(d) * 1e6, 'um', '.3g')}"
            f" µm (table: <a href=\"{data}\">{data}</a>).")
    return _Block(it, [], _html_table(fields, ([r.get(f, "") for f in fields] for r in rows[:50])), note)


def _float(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def _gitt(it: _Item, ctx: _Context) -> _Block:
    fields, rows = it.data
    plt = style._plt()
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    xname = "theta" if "theta" in fields else "soc"
    x = np.array([_float(r.get(xname)) for r in rows])
    d = np.array([_float(r.get("diffusivity_m2_s")) for r in rows])
    ds2 = np.array([_float(r.get("diffusivity_sqrt_m2_s")) for r in rows]) if "diffusivity_sqrt_m2_s" in fields \
        else None
    flags = [str(r.get("flags") or "").strip() for r in rows]
    sound = np.array([not f for f in flags])
    data = ctx.table(it.name, fields, ([r.get(f, "") for f in fields] for r in rows))
    with style.figure_style():
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
        for values, label, marker in ((d, "radius form (Weppner–Huggins)", "o"), (ds2, "√t-slope form", "s")):
            if values is None or not np.isfinite(values).any():
                continue
            line, = ax.semilogy(x[sound], values[sound], marker, label=label)
            if (~sound).any():
                ax.semilogy(x[~sound], values[~sound], marker, mfc="none", color=line.get_color(),
                            label=f"{label}, flagged")
        ax.set_xlabel("lithium fraction θ" if xname == "theta" else "state of charge passed (fraction of titration)")
        ax.set_ylabel(style.unit_label("diffusivity D", "m^2/s"))
        ax.legend()
        pair = ctx.rel(style.save_figure(fig, ctx.stem(f"{it.name}_diffusivity")))
    good = d[sound & np.isfinite(d)]
    reasons: dict[str, int] = {}
    for f in flags:
        for reason in filter(None, (s.strip() for s in f.replace(";", ",").replace("|", ",").split(","))):
            reasons[reason] = reasons.get(reason, 0) + 1
    what = "pulses" if "pulse" in fields else "steps"
    cap = (f"D against {'θ' if xname == 'theta' else 'the state of charge passed'} from "
           f"{n(what, len(rows), fmt='.0f')} {what} ({'GITT' if what == 'pulses' else 'PITT'}); flagged {what} "
           f"hollow: {n('flagged', int((~sound).sum()), fmt='.0f')}"
           + (f" ({', '.join(f'{_esc(k)} ×{v}' for k, v in sorted(reasons.items()))})" if reasons else "") + ". ")
    if good.size:
        cap += (f"The sound {what} give D from {n('diffusivity_min', good.min(), 'm^2/s', '.3g')} to "
                f"{n('diffusivity_max', good.max(), 'm^2/s', '.3g')} m²/s (median "
                f"{n('diffusivity_median', np.median(good), 'm^2/s', '.3g')} m²/s) over {xname} "
                f"{n(f'{xname}_min', np.nanmin(x[sound]), fmt='.3f')}–"
                f"{n(f'{xname}_max', np.nanmax(x[sound]), fmt='.3f')}.")
    else:
        cap += "No pulse is sound (see the flags in the table)."
    cap += (" The table feeds <code>lithmap simulate --diffusivity</code> (columns theta, diffusivity_m2_s); "
            f"{_CITE_OPTICAL} scaled such a GITT D(θ) by α to match the movie.")
    return _Block(it, [_Figure(pair, cap, [data])])


def _diffusivity(it: _Item, ctx: _Context) -> _Block:
    fields, rows = it.data
    plt = style._plt()
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    th = np.array([_float(r.get("theta")) for r in rows])
    d = np.array([_float(r.get("diffusivity_m2_s")) for r in rows])
    data = ctx.table(it.name, fields, ([r.get(f, "") for f in fields] for r in rows))
    with style.figure_style():
        fig, ax = plt.subplots(figsize=(5.5, 3.5))
        order = np.argsort(th)
        ax.semilogy(th[order], d[order], "o-")
        for lo, hi in (("diffusivity_low_m2_s", "diffusivity_high_m2_s"),):
            if lo in fields and hi in fields:
                ax.fill_between(th[order], np.array([_float(rows[i][lo]) for i in order]),
                                np.array([_float(rows[i][hi]) for i in order]), alpha=0.3, label="95 % band")
        ax.set_xlabel("lithium fraction θ")
        ax.set_ylabel(style.unit_label("diffusivity D", "m^2/s"))
        pair = ctx.rel(style.save_figure(fig, ctx.stem(f"{it.name}_diffusivity")))
    cap = (f"The D(θ) table: {n('rows', len(rows), fmt='.0f')} rows, D from "
           f"{n('diffusivity_min', np.nanmin(d), 'm^2/s', '.3g')} to "
           f"{n('diffusivity_max', np.nanmax(d), 'm^2/s', '.3g')}"
           f" m²/s over θ {n('theta_min', np.nanmin(th), fmt='.3f')}–{n('theta_max', np.nanmax(th), fmt='.3f')} "
           "(log-linear between rows in lithmap's engine, flat outside).")
    return _Block(it, [_Figure(pair, cap, [data])])


def _cycles(it: _Item, ctx: _Context) -> _Block:
    fields, rows = it.data
    plt = style._plt()
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    col = lambda name: np.array([_float(r.get(name)) for r in rows])  # noqa: E731
    cyc = col("cycle")
    chg, dis = col("charge_capacity_mAh"), col("discharge_capacity_mAh")
    ce = col("coulombic_efficiency")
    ce_cc = col("coulombic_efficiency_cc") if "coulombic_efficiency_cc" in fields else None
    data = ctx.table(it.name, fields, ([r.get(f, "") for f in fields] for r in rows))
    with style.figure_style():
        fig, (ax, axe) = plt.subplots(2, 1, figsize=(6.0, 4.6), sharex=True)
        width = 0.38
        for k, (name, cv, label) in enumerate((("charge", "charge_cv_mAh", "charge"),
                                               ("discharge", "discharge_cv_mAh", "discharge"))):
            total = chg if name == "charge" else dis
            part = col(cv) if cv in fields else np.zeros_like(total)
            pos = cyc + (k - 0.5) * width
            colour = style.LINE_COLOURS[k]
            ax.bar(pos, total - part, width, color=colour, label=f"{label}, CC")
            if cv in fields:
                ax.bar(pos, part, width, bottom=total - part, color=colour, alpha=0.45, hatch="//",
                       label=f"{label}, CV hold")
        ax.set_ylabel(style.unit_label("capacity", "mA h"))
        ax.legend(ncol=2)
        axe.plot(cyc, 100 * ce, "o-", color="k", label="with the CV hold")
        if ce_cc is not None:
            axe.plot(cyc, 100 * ce_cc, "s--", label="without (CC parts only)")
        axe.set_ylabel(style.unit_label("coulombic efficiency", "%"))
        axe.set_xlabel("cycle")
        axe.set_xticks(cyc[np.isfinite(cyc)][:: max(1, len(rows) // 12)])
        axe.legend()
        pair = ctx.rel(style.save_figure(fig, ctx.stem(f"{it.name}_cycles")))
    parts = []
    for j in range(min(len(rows), 6)):
        c = int(cyc[j]) if math.isfinite(cyc[j]) else j + 1
        s = (f"cycle {c}: charge {n(f'charge_capacity[{c}]', chg[j], 'mA h', '.4g')} mAh, discharge "
             f"{n(f'discharge_capacity[{c}]', dis[j], 'mA h', '.4g')} mAh, CE "
             f"{n(f'coulombic_efficiency[{c}]', 100 * ce[j], '%', '.1f')} % with the CV hold")
        if ce_cc is not None:
            s += f", {n(f'coulombic_efficiency_cc[{c}]', 100 * ce_cc[j], '%', '.1f')} % without it (CC parts only)"
        parts.append(s)
    cap = ("Capacity per cycle (the CV-hold parts hatched) and the coulombic efficiency with and without the CV hold. "
           + "; ".join(parts) + ("; …" if len(rows) > 6 else "") + ".")
    return _Block(it, [_Figure(pair, cap, [data])])


def _crop(mask: np.ndarray, margin: float = 0.2) -> tuple[slice, slice]:
    """Rows and columns of the particle's bounding box grown by ``margin`` of its size (the whole
    frame when the mask is empty)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return slice(None), slice(None)
    out = []
    for idx, size in ((rows, mask.shape[0]), (cols, mask.shape[1])):
        pad = max(2, int(round(margin * (idx[-1] - idx[0] + 1))))
        out.append(slice(max(0, idx[0] - pad), min(size, idx[-1] + 1 + pad)))
    return out[0], out[1]


def _spatial(da: xr.DataArray) -> list[str]:
    return [d for d in ("z", "y", "x") if d in da.dims]


def _map_panels(ctx: _Context, name: str, panels, x, y, *, mask=None, ncols: int = 4):
    """A row (or rows) of maps: panels = [(title, 2D array, label, units, cmap, norm or None)]."""
    plt = style._plt()
    k = len(panels)
    cols = min(k, ncols)
    rows = int(math.ceil(k / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.7 * rows), squeeze=False)
    for ax in axes.ravel()[k:]:
        ax.set_axis_off()
    cy, cx = _crop(mask) if mask is not None else (slice(None), slice(None))
    for ax, (title, a, label, units, cmap, norm) in zip(axes.ravel(), panels):
        a = np.where(mask, a, np.nan) if mask is not None else a
        im = ax.imshow(a[cy, cx], cmap=cmap, norm=norm, extent=style.map_extent(x[cx], y[cy]))
        ax.set_title(title)
        ax.set_axis_off()
        style.colorbar(ax, im, label, units, shrink=0.8)
        style.scale_bar(ax, x[cx], y[cy])
    return style.save_figure(fig, ctx.stem(name))


def _coords_m(ds, da):
    """x, y coordinates in m of a map (pixel indices × the pixel size, else µm-free indices)."""
    from ..io.images import pixel_size_of

    px = pixel_size_of(da) or pixel_size_of(ds)
    ny, nx = da.sizes["y"], da.sizes["x"]
    if "x" in da.coords and px:
        return da.x.values.astype(float), da.y.values.astype(float), px
    return np.arange(nx) * (px or 1e-6), np.arange(ny) * (px or 1e-6), px


def _lcf(it: _Item, ctx: _Context) -> _Block:
    from ..spectro.shells import shell_statistics, shell_table

    ds: xr.Dataset = it.data
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    plt = style._plt()
    std = [str(s) for s in ds["standard"].values] if "standard" in ds.coords else [
        f"standard {k}" for k in range(ds.sizes["standard"])]
    val = ds["valence"].values if "valence" in ds.coords else None
    window = (f"window {float(_attr(ds, 'window_lo')):.6g}–{float(_attr(ds, 'window_hi')):.6g} eV"
              if _attr(ds, "window_lo") is not None else "")
    space = _spatial(ds["mean_valence"])
    if not space:  # one spectrum (or a list of them)
        w = ds["weights"].transpose(..., "standard").values.reshape(-1, len(std))
        mv = np.atleast_1d(ds["mean_valence"].values).ravel()
        rf = np.atleast_1d(ds["r_factor"].values).ravel() if "r_factor" in ds else np.full(mv.size, np.nan)
        data = ctx.table(f"{it.name}_weights", ["sample"] + [f"weight_{s}" for s in std] +
                         ["mean_valence", "r_factor"], [[j, *w[j], mv[j], rf[j]] for j in range(mv.size)])
        with style.figure_style():
            fig, ax = plt.subplots(figsize=(5.0, 3.0))
            labels = [f"{s}\n(valence {v:g})" if val is not None else s for s, v in
                      zip(std, val if val is not None else [0] * len(std))]
            ax.bar(labels, w[0], color=style.LINE_COLOURS[: len(std)])
            ax.set_ylabel(style.unit_label("weight of the standard", "1"))
            ax.set_title(f"mean valence {mv[0]:.3f}")
            pair = ctx.rel(style.save_figure(fig, ctx.stem(f"{it.name}_weights")))
        ws = ", ".join(f"{_esc(s)} {n(f'weight[{s}]', w[0][k], fmt='.3f')}" for k, s in enumerate(std))
        sample = Path(str(_attr(ds, "samples", it.path.name)).split(":")[0]).name
        cap = (f"Linear-combination fit of the spectrum {_esc(sample)} with the standards "
               f"(weights {ws}): mean oxidation state {n('mean_valence', mv[0], fmt='.3f')}, R-factor "
               f"{n('r_factor', rf[0], fmt='.2g')}{', ' + window if window else ''} (normalised as Athena/Larch's "
               "pre_edge; weights sum to one).")
        return _Block(it, [_Figure(pair, cap, [data])])
    mv = ds["mean_valence"]
    if "z" in space:  # a volume: the middle slice
        mid = mv.sizes["z"] // 2
        mv2 = mv.isel(z=mid)
        w2 = ds["weights"].isel(z=mid)
        mask2 = ds["mask"].isel(z=mid).values.astype(bool) if "mask" in ds else np.isfinite(mv2.values)
        where = f" (middle slice z = {mid})"
    else:
        mv2, w2 = mv, ds["weights"]
        mask2 = ds["mask"].values.astype(bool) if "mask" in ds else np.isfinite(mv2.values)
        where = ""
    x, y, px = _coords_m(ds, mv2)
    from matplotlib.colors import Normalize

    finite = mv.values[np.isfinite(mv.values)]
    panels = [("mean oxidation state", mv2.transpose("y", "x").values, "mean valence", "1", style.SEQUENTIAL_ALT,
               None)]
    for k, s in enumerate(std):
        panels.append((f"weight of {s}", w2.isel(standard=k).transpose("y", "x").values, "weight", "1",
                       style.SEQUENTIAL, Normalize(0, 1)))
    with style.figure_style():
        pngs = _map_panels(ctx, f"{it.name}_valence_maps", panels, x, y, mask=mask2)
    mean_w = [float(np.nanmean(ds["weights"].isel(standard=k).values)) for k in range(len(std))]
    rows = [("mean_valence_mean", float(np.nanmean(finite)) if finite.size else np.nan),
            ("mean_valence_median", float(np.nanmedian(finite)) if finite.size else np.nan),
            ("mean_valence_min", float(finite.min()) if finite.size else np.nan),
            ("mean_valence_max", float(finite.max()) if finite.size else np.nan),
            ("pixels_fitted", float(finite.size))] + [(f"mean_weight_{s}", v) for s, v in zip(std, mean_w)]
    data = [ctx.table(f"{it.name}_summary", ["quantity", "value"], rows)]
    cap = (f"Mean oxidation state and the weight of each standard per {'voxel' if 'z' in space else 'pixel'}"
           f"{where} (cf. {_CITE_XRAY}, Fig. 3): mean valence {n('mean_valence_mean', rows[0][1], fmt='.3f')} "
           f"(median {n('mean_valence_median', rows[1][1], fmt='.3f')}, range "
           f"{n('mean_valence_min', rows[2][1], fmt='.3f')}–{n('mean_valence_max', rows[3][1], fmt='.3f')}) over "
           f"{n('pixels_fitted', finite.size, fmt='.0f')} {'voxels' if 'z' in space else 'pixels'}; median R-factor "
           f"{n('r_factor_median', float(np.nanmedian(ds['r_factor'].values)), fmt='.2g')}"
           f"{'; ' + window if window else ''}.")
    figs = [_Figure(ctx.rel(pngs), cap, list(data))]
    # mean valence per shell, surface → centre (Liu, Zeng et al.'s shells)
    mask = ds["mask"].values.astype(bool) if "mask" in ds else np.isfinite(mv.values)
    if mask.sum() >= 25:
        try:
            sh = shell_statistics(mv.transpose(*space), mask, 5)
        except LithmapError:
            sh = None
        if sh is not None:
            table = shell_table(sh)
            sdata = ctx.table(f"{it.name}_shells", list(table.columns), table.itertuples(index=False))
            pair = _shell_figure(ctx, f"{it.name}_shells", [str(v) for v in sh["label"].values], sh["mean"].values,
                                 sh["std"].values if "std" in sh else None, "mean valence", "1")
            means = "; ".join(f"{_esc(lab)} {n(f'mean_valence[{lab}]', m, fmt='.3f')}"
                              for lab, m in zip(sh["label"].values, sh["mean"].values))
            figs.append(_Figure(pair, f"Mean valence in five equal-{'volume' if 'z' in space else 'area'} shells from "
                                      f"the surface (0–20 %) to the centre (80–100 %), ± one standard deviation: "
                                      f"{means} (as {_CITE_XRAY} report per shell).", [sdata]))
    return _Block(it, figs)


def _shell_figure(ctx: _Context, name: str, labels, mean, std, label: str, units) -> list[str]:
    plt = style._plt()
    with style.figure_style():
        fig, ax = plt.subplots(figsize=(5.0, 3.0))
        xs = np.arange(len(labels))
        ax.errorbar(xs, mean, yerr=std, marker="o", capsize=3)
        ax.set_xticks(xs, labels)
        ax.set_xlabel("shell (share of the area/volume from the surface inward)")
        ax.set_ylabel(style.unit_label(label, units))
        return ctx.rel(style.save_figure(fig, ctx.stem(name)))


def _shells(it: _Item, ctx: _Context) -> _Block:
    fields, rows = it.data
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    data = ctx.table(it.name, fields, ([r.get(f, "") for f in fields] for r in rows))
    lead = [f for f in fields if f not in ("shell", "label", "fraction_outer", "fraction_inner", "size", "mean", "std",
                                           "median", "count", "min", "max", "sum")]
    first = [r for r in rows if all(r.get(c) == rows[0].get(c) for c in lead)]
    labels = [r["label"] for r in first]
    mean = np.array([_float(r["mean"]) for r in first])
    std = np.array([_float(r.get("std")) for r in first]) if "std" in fields else None
    pair = _shell_figure(ctx, f"{it.name}_profile", labels, mean, std, "mean of the field", "1")
    means = "; ".join(f"{_esc(lab)} {n(f'mean[{lab}]', m, fmt='.4g')}" for lab, m in zip(labels, mean))
    cap = (f"Mean (± standard deviation) of the field in {len(labels)} shells from the surface inward "
           f"(equal area in 2D, equal volume in 3D; cf. {_CITE_XRAY}): {means}"
           + (f" (the first of {len(rows) // max(len(labels), 1)} profiles; all in the table)" if lead else "") + ".")
    return _Block(it, [_Figure(pair, cap, [data])])


def _clusters(it: _Item, ctx: _Context) -> _Block:
    from .cluster_figures import plot_clusters

    ds: xr.Dataset = it.data
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    with _drawing():
        png = plot_clusters(ds, ctx.figures / f"{it.name}_clusters.png")
    k = ds.sizes["cluster"]
    cols = [v for v in ("cluster_fraction", "cluster_size", "cluster_edge_energy", "cluster_mean_valence",
                        "cluster_r_factor") if v in ds and ds[v].dims == ("cluster",)]
    data = [ctx.table(f"{it.name}_clusters", ["cluster"] + cols, zip(range(k), *[ds[v].values for v in cols]))]
    if "cluster_spectrum" in ds:
        e = ds["energy"].values
        data.append(ctx.table(f"{it.name}_spectra", ["energy_eV"] + [f"cluster_{j}" for j in range(k)],
                              zip(e, *ds["cluster_spectrum"].transpose("cluster", "energy").values)))
    parts = []
    for j in range(k):
        s = f"cluster {j}"
        if "cluster_fraction" in ds:
            s += f": {n(f'fraction[{j}]', 100 * float(ds.cluster_fraction[j]), '%', '.1f')} % of the pixels"
        if "cluster_edge_energy" in ds:
            s += f", edge at {n(f'edge_energy[{j}]', float(ds.cluster_edge_energy[j]), 'eV', '.1f')} eV"
        if "cluster_mean_valence" in ds:
            s += f", mean valence {n(f'mean_valence[{j}]', float(ds.cluster_mean_valence[j]), fmt='.2f')}"
        parts.append(s)
    ev = ""
    if "explained_variance" in ds:
        ev = (f"; {ds.sizes.get('component', 0)} principal components explain "
              f"{n('explained_variance', 100 * float(ds.explained_variance.sum()), '%', '.1f')} % of the variance")
    cap = (f"Spectral clusters (principal components and k-means on each spectrum's shape, as in MANTiS; the "
           f"elemental associations of {_CITE_XRAY}): the map beside each cluster's mean normalised spectrum. "
           + "; ".join(parts) + ev + ".")
    return _Block(it, [_Figure(_pairs([png])[0], cap, data)])


def _reconstruction(it: _Item, ctx: _Context) -> _Block:
    from ..io.images import pixel_size_of
    from .volume_figures import plot_volume

    ds: xr.Dataset = it.data
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    name = "volume" if "volume" in ds else "absorbance"
    v = ds[name].mean("energy") if name == "absorbance" else ds[name]
    px = pixel_size_of(ds[name]) or pixel_size_of(ds)
    if px is None and _attr(ds, "pixel_size") is not None:
        px = float(_attr(ds, "pixel_size"))
    with _drawing():
        png = plot_volume(v, ctx.figures / f"{it.name}_slices.png", title=f"{str(_attr(ds, 'method', '')).upper()} "
                          "reconstruction" + (" (mean over energies)" if name == "absorbance" else ""),
                          label="linear attenuation coefficient", pixel_size=px, per_voxel=True)
    shape = v.transpose("z", "y", "x").shape
    voxels = int(ds["mask"].values.astype(bool).sum()) if "mask" in ds else None
    rows = [("nz", shape[0]), ("ny", shape[1]), ("nx", shape[2]), ("voxel_size_m", px or np.nan)]
    if voxels is not None:
        rows += [("particle_voxels", voxels), ("particle_volume_um3", voxels * (px or np.nan) ** 3 * 1e18)]
    data = ctx.table(f"{it.name}_summary", ["quantity", "value"], rows)
    cap = (f"Orthogonal slices through the middle of the reconstructed volume ({shape[0]} × {shape[1]} × {shape[2]} "
           f"voxels" + (f" of {n('voxel_size', px * 1e9, 'nm', '.3g')} nm" if px else "") + f"; "
           f"{_esc(_attr(ds, 'method', '?'))}, {_esc(_attr(ds, 'iterations', '?'))} iterations, "
           f"{_esc(_attr(ds, 'n_angles', '?'))} projections from {_esc(_attr(ds, 'angle_min', '?'))}° to "
           f"{_esc(_attr(ds, 'angle_max', '?'))}°)")
    if voxels is not None:
        cap += f"; the particle holds {n('particle_voxels', voxels, fmt='.0f')} voxels"
        if px:
            cap += f" ({n('particle_volume', voxels * px ** 3 * 1e18, 'um^3', '.3g')} µm³)"
    cap += f" (cf. {_CITE_XRAY}, Fig. 2, 5a–c)."
    return _Block(it, [_Figure(_pairs([png])[0], cap, [data])])


def _composition(it: _Item, ctx: _Context) -> _Block:
    from ..io.images import pixel_size_of
    from .maps import plot_map

    ds: xr.Dataset = it.data
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    px = pixel_size_of(ds["tm_o_ratio"])
    thr = float(_attr(ds, "threshold", 0.05))
    with _drawing():
        phase = plot_map(ds["phase"], ctx.figures / f"{it.name}_phases.png", title=f"TM/O phases (±{100 * thr:g} %)",
                         label="", pixel_size=px, categories={0: "target", 1: "oxygen-poor", 2: "oxygen-rich"})
        ratio = plot_map(ds["tm_o_ratio"], ctx.figures / f"{it.name}_tm_o.png", title="TM/O atomic ratio",
                         label=style.unit_label("TM/O", "1"), pixel_size=px, cmap=style.SEQUENTIAL_ALT)
    names = [str(p) for p in ds["phase_name"].values]
    data = [ctx.table(f"{it.name}_fractions", ["phase", "fraction"], zip(names, ds["volume_fraction"].values))]
    fr = ", ".join(f"{_esc(nm.replace('_', '-'))} {n(f'fraction[{nm}]', 100 * float(v), '%', '.1f')} %"
                   for nm, v in zip(names, ds["volume_fraction"].values))
    cap = (f"Target / oxygen-poor / oxygen-rich segmentation of the TM/O ratio (target "
           f"{n('target_tm_o_ratio', float(_attr(ds, 'target_tm_o_ratio', np.nan)), fmt='.4g')} for "
           f"{_esc(_attr(ds, 'target', ''))}, ±{100 * thr:g} %), after {_CITE_XRAY}: {fr}.")
    figs = [_Figure(_pairs([phase])[0], cap, data)]
    if "shell_tm_o_ratio" in ds and "label" in ds.coords:
        labels = [str(v) for v in ds["label"].values]
        data.append(ctx.table(f"{it.name}_shells", ["shell", "median_tm_o_ratio"],
                              zip(labels, ds["shell_tm_o_ratio"].values)))
        per = "; ".join(f"{_esc(lab)} {n(f'median_tm_o[{lab}]', v, fmt='.3f')}"
                        for lab, v in zip(labels, ds["shell_tm_o_ratio"].values))
        figs.append(_Figure(_pairs([ratio])[0], f"The TM/O ratio per voxel (middle slice of a volume); its median per "
                                                f"shell from the surface inward: {per}.", data))
    else:
        figs.append(_Figure(_pairs([ratio])[0], "The TM/O ratio per voxel (middle slice of a volume).", data))
    return _Block(it, figs)


def _pores(it: _Item, ctx: _Context) -> _Block:
    from .maps import plot_map

    ds: xr.Dataset = it.data
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    lt = ds["local_thickness"]
    metres = lt.attrs.get("units") == "m"
    with _drawing():
        png = plot_map(lt, ctx.figures / f"{it.name}_local_thickness.png", title="pore local thickness",
                       cmap="magma", label=style.unit_label("local thickness", "m" if metres else "voxel"))
    cols = [v for v in ("pore_volume", "equivalent_diameter", "max_local_thickness", "mean_local_thickness",
                        "surface_connected") if v in ds and ds[v].dims == ("pore",)]
    data = [ctx.table(f"{it.name}_pores", ["pore"] + cols,
                      zip(range(ds.sizes.get("pore", 0)), *[ds[v].values for v in cols]))]
    cap = (f"Local thickness of the void (middle slice): porosity {n('porosity', 100 * float(ds.porosity), '%', '.2f')}"
           f" %, {n('n_pores', float(ds.n_pores), fmt='.0f')} pores; the largest network holds "
           f"{n('largest_network_fraction', 100 * float(ds.largest_network_fraction), '%', '.1f')} % of the void, "
           f"{n('surface_connected_fraction', 100 * float(ds.surface_connected_fraction), '%', '.1f')} % is "
           f"connected to the surface (the cracks of {_CITE_XRAY}).")
    if "equivalent_diameter" in ds and ds.sizes.get("pore", 0):
        unit = ("m" if ds["equivalent_diameter"].attrs.get("units") == "m" else "voxel")
        scale, shown = (1e9, "nm") if unit == "m" else (1.0, "voxels")
        cap = cap[:-1] + (f" Equivalent pore diameters "
                          f"{n('diameter_min', float(ds.equivalent_diameter.min()) * scale, shown, '.3g')}–"
                          f"{n('diameter_max', float(ds.equivalent_diameter.max()) * scale, shown, '.3g')} {shown}.")
    return _Block(it, [_Figure(_pairs([png])[0], cap, data)])


def _stress(it: _Item, ctx: _Context) -> _Block:
    from .stress_figures import plot_stress

    ds: xr.Dataset = it.data
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    with _drawing():
        pngs = plot_stress(ds, ctx.figures, prefix=it.name)
    data = []
    summary = []
    where = {}
    for v in ("hoop_stress", "von_mises_stress", "radial_stress"):
        a = ds[v].values
        if not np.isfinite(a).any():
            continue
        flat = int(np.nanargmax(np.abs(a)))
        idx = np.unravel_index(flat, a.shape)
        loc = {d: float(ds[d].values[i]) for d, i in zip(ds[v].dims, idx) if d in ds.coords}
        where[v] = (float(a[idx]), loc)
        summary.append((f"peak_{v}_Pa", float(a[idx])))
        summary += [(f"peak_{v}_{d}", val) for d, val in loc.items()]
    if "depth_of_discharge" in ds and "hoop_stress" in where:
        t_peak = where["hoop_stress"][1].get("time")
        if t_peak is not None:
            k = int(np.argmin(np.abs(ds.time.values - t_peak)))
            summary.append(("peak_hoop_stress_dod", float(ds.depth_of_discharge.values[k])))
    data.append(ctx.table(f"{it.name}_summary", ["quantity", "value"], summary))
    probes = [v for v in ds.data_vars if v.startswith("probe_") and ds[v].dims == ("time", "probe")]
    if probes:
        names = [str(p) for p in ds["probe"].values]
        header = ["time_s"] + (["depth_of_discharge"] if "depth_of_discharge" in ds else []) + [
            f"{v[6:]}_Pa@{p}" for v in probes for p in names]
        cols = [ds.time.values] + ([ds.depth_of_discharge.values] if "depth_of_discharge" in ds else []) + [
            ds[v].values[:, j] for v in probes for j in range(len(names))]
        data.append(ctx.table(f"{it.name}_probes", header, zip(*cols)))
    parts = []
    for v, label in (("hoop_stress", "hoop"), ("von_mises_stress", "von Mises"), ("radial_stress", "radial")):
        if v not in where:
            continue
        val, loc = where[v]
        pos = []
        for d in ("r", "z", "y", "x", "distance"):
            if d in loc:
                pos.append(f"{d} = {n(f'peak_{v}_{d}', loc[d] * 1e6, 'um', '.3g')} µm")
        if "time" in loc:
            pos.append(f"t = {n(f'peak_{v}_time', loc['time'], 's', '.4g')} s")
        if v == "hoop_stress" and "depth_of_discharge" in ds and "time" in loc:
            k = int(np.argmin(np.abs(ds.time.values - loc["time"])))
            pos.append(f"DOD {n('peak_hoop_stress_dod', float(ds.depth_of_discharge.values[k]), fmt='.3g')}")
        parts.append(f"peak {label} stress {n(f'peak_{v}', val / 1e6, 'MPa', '.4g')} MPa at {', '.join(pos)}")
    setup = (f"{_esc(_geometry(ds))}, material {_esc(_attr(ds, 'material', '?'))}, protocol "
             f"“{_esc(_attr(ds, 'protocol', ''))}”, E = "
             f"{n('youngs_modulus', float(_attr(ds, 'youngs_modulus', np.nan)) / 1e9, 'GPa', '.4g')} GPa, "
             f"ν = {n('poisson_ratio', float(_attr(ds, 'poisson_ratio', np.nan)), fmt='.3g')}")
    head = f"{setup}: " + "; ".join(parts) + " (tension +)."
    what = {"hoop_vs_r": f"Hoop stress against r at several depths of discharge (cf. {_CITE_XRAY}, Fig. 5d–g).",
            "von_mises": "Von Mises stress at the probe points (or its maximum and mean) against the depth of "
                         "discharge.",
            "hoop_map": "Hoop stress and θ on the meridian section at the last depth of discharge.",
            "stress_map": "Hoop and von Mises stress maps at the last time."}
    figs = []
    for pair in _pairs(pngs):
        key = Path(pair[0]).stem[len(it.name) + 1:]
        figs.append(_Figure(pair, f"{what.get(key, '')} {head}", data))
    return _Block(it, figs)


def _sweep(it: _Item, ctx: _Context) -> _Block:
    ds: xr.Dataset = it.data
    n = lambda *a, **k: ctx.number(it, *a, **k)  # noqa: E731
    plt = style._plt()
    dims = list(ds["theta_mean_end"].dims)
    flat = ds.drop_vars([v for v in ds.data_vars if ds[v].dims != tuple(dims)]).to_dataframe().reset_index()
    cols = list(flat.columns)
    data = ctx.table(f"{it.name}_cases", cols, flat.itertuples(index=False))
    last = dims[-1]
    others = [d for d in dims if d != last]
    with style.figure_style():
        panels = [v for v in ("theta_mean_end", "theta_surface_end") if v in ds]
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 1.5, 3.6), squeeze=False)
        combos = list(np.ndindex(*[ds.sizes[d] for d in others])) if others else [()]
        for ax, var in zip(axes[0], panels):
            th = ds[var].transpose(..., last)
            for c in combos[:12]:
                sel = {d: i for d, i in zip(others, c)}
                ax.plot(ds[last].values, th.isel(sel).values, "o-",
                        label=", ".join(_coord_text(ds, d, ds[d].values[i]) for d, i in sel.items()))
            ax.set_xscale("log" if np.all(ds[last].values > 0) else "linear")
            ax.set_xlabel(style.unit_label(last, ds[last].attrs.get("units")))
            ax.set_ylabel(style.unit_label(("mean" if var == "theta_mean_end" else "surface") +
                                           " θ when the run ended", "1"))
        if others:
            axes[0, -1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
        pair = ctx.rel(style.save_figure(fig, ctx.stem(f"{it.name}_theta_end")))
    v = ds["theta_mean_end"].values
    term = ds["termination"].values.ravel() if "termination" in ds else np.array([])
    limited = int(sum("limit" in str(s) for s in term))
    cap = (f"Mean and surface θ when each run ended against {last}, one line per {', '.join(others) or 'case'} "
           f"({n('cases', v.size, fmt='.0f')} runs of "
           f"“{_esc(_attr(ds, 'protocol_template', _attr(ds, 'protocol', '')))}”): mean θ from "
           f"{n('theta_mean_end_min', np.nanmin(v), fmt='.4f')} to {n('theta_mean_end_max', np.nanmax(v), fmt='.4f')}"
           + (f"; {n('cases_stopped_at_limit', limited, fmt='.0f')} stopped at the surface limit" if term.size else "")
           + ".")
    return _Block(it, [_Figure(pair, cap, [data])])


def _coord_text(ds: xr.Dataset, dim: str, value) -> str:
    """``radius 0.5 µm``, ``alpha 2.7``: a sweep coordinate with its unit."""
    units = ds[dim].attrs.get("units")
    if units == "m":
        return f"{dim} {float(value) * 1e6:.3g} µm"
    return f"{dim} {float(value):.3g}" + (f" {units}" if units not in (None, "", "1") else "")


def _figure_item(it: _Item, ctx: _Context) -> _Block:
    dest = ctx.figures / f"{it.name}{it.path.suffix.lower()}"
    shutil.copy2(it.path, dest)
    files = [f"figures/{dest.name}"]
    svg = it.path.with_suffix(".svg")
    if it.path.suffix.lower() != ".svg" and svg.is_file():
        shutil.copy2(svg, dest.with_suffix(".svg"))
        files.append(f"figures/{dest.with_suffix('.svg').name}")
    data = []
    if it.caption_text:
        txt = ctx.data / f"{it.name}.txt"
        txt.write_text(it.caption_text + "\n", encoding="utf-8")
        data.append(f"data/{txt.name}")
        cap = (f"{_esc(it.path.name)}, shown as it is, with the numbers its script printed:"
               f"<pre>{_esc(it.caption_text)}</pre>")
    else:
        cap = f"{_esc(it.path.name)}, shown as it is."
    return _Block(it, [_Figure(files, cap, data)])


_BUILDERS = {"simulation": _simulation, "sweep": _sweep, "contrast": _contrast, "fit": _fit,
             "particle_fits": _particle_fits, "particles": _particles, "gitt": _gitt, "diffusivity": _diffusivity,
             "cycles": _cycles, "lcf": _lcf, "shells": _shells, "clusters": _clusters,
             "reconstruction": _reconstruction, "composition": _composition, "pores": _pores, "stress": _stress,
             "figure": _figure_item}


# ---------------------------------------------------------------------------------------------
# the page


#: The headline numbers of each kind in the page's "at a glance" table: (quantity in summary.csv, label).
KEY_NUMBERS = {
    "simulation": (("theta_mean_end", "mean θ at the end"), ("max_centre_surface_gap", "largest centre–surface gap")),
    "sweep": (("cases", "runs"), ("theta_mean_end_min", "lowest mean θ at the end")),
    "contrast": (("final_intensity_normalised", "final I/I_ref"), ("max_heterogeneity", "core–periphery index")),
    "fit": (("alpha", "α"),),
    "particle_fits": (("alpha_median", "median α"), ("alpha_heterogeneity_p", "p of one shared α")),
    "particles": (("particles", "particles"),),
    "gitt": (("diffusivity_median", "median D of the sound pulses"), ("flagged", "flagged")),
    "diffusivity": (("diffusivity_min", "D from"), ("diffusivity_max", "to")),
    "cycles": (("coulombic_efficiency[1]", "CE of cycle 1 with the CV hold"),
               ("coulombic_efficiency_cc[1]", "without")),
    "lcf": (("mean_valence", "mean valence"), ("mean_valence_mean", "mean valence")),
    "shells": (),
    "clusters": (("explained_variance", "variance explained"),),
    "reconstruction": (("particle_voxels", "particle voxels"), ("particle_volume", "volume")),
    "composition": (("fraction[target]", "target"), ("fraction[oxygen_rich]", "oxygen-rich")),
    "pores": (("porosity", "porosity"), ("n_pores", "pores")),
    "stress": (("peak_hoop_stress", "peak hoop stress"), ("peak_von_mises_stress", "peak von Mises stress")),
    "figure": (),
}


def _glance(blocks: list[_Block], summary: list[tuple]) -> str:
    """The "at a glance" table: one row per result with its headline numbers."""
    shown: dict[tuple[str, str], tuple[str, str]] = {}
    for file, _kind, quantity, _value, text, units in summary:
        shown.setdefault((file, quantity), (text, units))
    rows = []
    order = list(KINDS)
    for b in sorted(blocks, key=lambda b: order.index(b.item.kind)):
        parts = []
        for quantity, label in KEY_NUMBERS.get(b.item.kind, ()):
            if (b.item.file, quantity) in shown:
                text, units = shown[(b.item.file, quantity)]
                unit = "" if units in ("1", "") else (" µm³" if units == "um^3" else f" {units.replace('^2', '²')}")
                parts.append(f"{_esc(label)} {_esc(text)}{_esc(unit)}")
        ends = [(b.item.file, "alpha_low"), (b.item.file, "alpha_high")]
        if parts and b.item.kind == "fit" and all(e in shown for e in ends):
            parts[-1] += (f" (95 % interval {_esc(shown[(b.item.file, 'alpha_low')][0])}–"
                          f"{_esc(shown[(b.item.file, 'alpha_high')][0])})")
        rows.append(f'<tr><td><a href="#result-{_esc(b.item.name)}">{_esc(b.item.path.name)}</a></td>'
                    f"<td>{_esc(KINDS[b.item.kind][0])}</td><td>{'; '.join(parts)}</td></tr>")
    return ('<section id="glance"><h2>At a glance</h2><table class="glance"><thead><tr><th>result</th><th>kind</th>'
            f"<th>headline numbers</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>")


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em;
margin-top: 2em; } h3 { font-size: 1.05em; margin-top: 1.6em; font-family: ui-monospace, monospace; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.92em; color: #333; margin-top: 0.4em; }
.files { font-size: 0.85em; color: #555; } .files a { margin-right: 0.8em; }
nav ul { columns: 2; } pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; } td, th { border: 1px solid #ddd;
padding: 0.2em 0.5em; text-align: right; } th { background: #f3f3f3; }
.meta { color: #666; font-size: 0.85em; }
table.glance td, table.glance th { text-align: left; }
"""


def _html_table(header, rows) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_esc(_short(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _short(v) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{f:.4g}" if math.isfinite(f) and not float(f).is_integer() else str(v)


def _figure_html(fig: _Figure, anchor: str) -> str:
    shown, *rest = fig.files
    kind = Path(shown).suffix.lower()
    img = f'<img src="{_esc(shown)}" alt="{_esc(fig.alt or Path(shown).stem)}">'
    links = []
    for f in rest:
        suffix = Path(f).suffix.lower().lstrip(".").upper()
        links.append(f'<a href="{_esc(f)}">{suffix}</a>')
    if kind == ".gif":
        links.insert(0, f'<a href="{_esc(shown)}">GIF</a>')
    for d in fig.data:
        links.append(f'<a href="{_esc(d)}">{_esc(d)}</a>')
    files = f'<div class="files">{"".join(links)}</div>' if links else ""
    return f'<figure id="{anchor}">{img}<figcaption>{fig.caption}</figcaption>{files}</figure>'


def _page(blocks: list[_Block], title: str, skipped, inputs_note: str, glance: str = "") -> str:
    from .. import __version__

    by_kind: dict[str, list[_Block]] = {}
    for b in blocks:
        by_kind.setdefault(b.item.kind, []).append(b)
    kinds = [k for k in KINDS if k in by_kind]
    toc = ['<li><a href="#glance">At a glance</a></li>'] if glance else []
    body = [glance] if glance else []
    for k in kinds:
        sec_title, made_by = KINDS[k]
        toc.append(f'<li><a href="#{k}">{_esc(sec_title)}</a> ({len(by_kind[k])})</li>')
        body.append(f'<section id="{k}"><h2>{_esc(sec_title)}</h2><p class="meta">Made by {_esc(made_by)}.</p>')
        for b in by_kind[k]:
            body.append(f'<h3 id="result-{_esc(b.item.name)}">{_esc(b.item.path.name)}</h3>')
            if b.note:
                body.append(f"<p>{b.note}</p>")
            if b.table_html:
                body.append(b.table_html)
            for j, f in enumerate(b.figures):
                body.append(_figure_html(f, f"{b.item.name}-{j + 1}"))
        body.append("</section>")
    if skipped:
        toc.append('<li><a href="#skipped">Files not shown</a></li>')
        rows = "".join(f"<li><code>{_esc(p)}</code>: {_esc(why)}</li>" for p, why in skipped)
        body.append(f'<section id="skipped"><h2>Files not shown</h2><ul>{rows}</ul></section>')
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    intro = (f"<p>What this is: figures of {len(blocks)} lithmap result{'s' if len(blocks) != 1 else ''}, each with a "
             "caption that says what it shows and the numbers behind it. lithmap follows the lithium inside single "
             "battery-cathode particles, after the operando optical microscopy of NMC811 particles of "
             f"{_CITE_OPTICAL} and the X-ray spectro-tomography of Li-rich oxides of {_CITE_XRAY}: raw files → "
             "maps → a simulation of the same particle → fitted physics → this page.</p>"
             "<p>Every figure links to its SVG; every number a caption quotes is in "
             '<a href="data/summary.csv">data/summary.csv</a>, the tables behind the figures are in '
             f'<a href="data/">data/</a>{inputs_note}</p>')
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{_esc(title)}</title><style>{_CSS}</style></head><body>'
            f"<header><h1>{_esc(title)}</h1><p class=\"meta\">Built by lithmap {_esc(__version__)} on {stamp}.</p>"
            f"{intro}</header><nav><h2>Contents</h2><ul>{''.join(toc)}</ul></nav>{''.join(body)}"
            "</body></html>\n")


def _copy_inputs(items: list[_Item], ctx: _Context) -> str:
    """Copies of the inputs in data/inputs/ (or, above :data:`COPY_LIMIT`, a row in data/inputs.csv
    naming the original); returns the sentence the page says about them."""
    dest = ctx.data / "inputs"
    dest.mkdir()
    rows = []
    for it in items:
        name = it.file
        size = _size(it.path)
        copied = size <= COPY_LIMIT
        if copied:
            if it.path.is_dir():
                shutil.copytree(it.path, dest / name)
            else:
                shutil.copy2(it.path, dest / name)
                txt = it.path.with_suffix(".txt")
                if it.kind == "figure" and txt.is_file():
                    shutil.copy2(txt, dest / Path(name).with_suffix(".txt"))
        rows.append((it.kind, name if copied else "", str(it.path.resolve()), size))
    ctx.table("inputs", ["kind", "copy", "original", "bytes"], rows)
    return (", with copies of the inputs in <a href=\"data/inputs/\">data/inputs/</a> (listed in "
            "<a href=\"data/inputs.csv\">data/inputs.csv</a>): <code>lithmap report data/inputs --out DIR</code> "
            "rebuilds this page.")


def _size(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size


def check_report_folder(out: Path, overwrite: bool) -> None:
    """Refuse, before any work, an ``out`` that would lose someone's files: a file, a non-empty
    folder without ``overwrite``, or (even with it) a non-empty folder that holds no report."""
    if out.exists() and not out.is_dir():
        raise LithmapError(f"output {str(out)!r} exists and is a file; --out must be a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise LithmapError(f"output folder {str(out)!r} exists and is not empty; pass --overwrite to replace it")
        if not (out / "index.html").is_file():
            raise LithmapError(f"output folder {str(out)!r} is not empty and holds no report (no index.html); "
                               "not replaced, even with --overwrite")
    if not out.parent.exists():
        raise LithmapError(f"output folder {str(out.parent)!r} does not exist")


def _check_out(out: Path, overwrite: bool, items: list[_Item]) -> None:
    check_report_folder(out, overwrite)
    root = out.resolve()
    for it in items:
        p = it.path.resolve()
        if p == root or root in p.parents:
            raise LithmapError(f"result {str(it.path)!r} is inside the output folder {str(out)!r}; "
                               "choose another --out")


def build_report(results, out, *, title=None, overwrite=False) -> Path:
    """Build an HTML report of lithmap results: figures with captions that carry the numbers,
    contrast movies, and a ``data/`` folder with every number shown.

    Each file's kind is recognised from its variables and attrs (:func:`report_kind`): a
    simulation, sweep, contrast movie, fit (α with its 95 % interval, D(θ) with bands), fits of a
    field of particles, particle table, GITT/PITT table, D(θ) table, cycling table (CE with and
    without the CV hold), LCF spectrum or map (mean valence, per shell), shell table, spectral
    clusters, reconstruction, stress result (peak hoop stress, where and when), or an image shown
    as it is (a study's figure, with the text its script wrote beside it as ``NAME.txt``). The
    page cites the papers (Xu, Merryweather et al., Joule 2022; Liu, Zeng et al., Nat.
    Nanotechnol. 2024), needs no JavaScript or network, and is built in a temporary folder beside
    ``out`` that is renamed into place only when everything is written.

    Parameters
    ----------
    results : path or list of path
        Result files (NetCDF ``.nc``, Zarr ``.zarr`` stores, lithmap's CSV tables, PNG/GIF/JPEG/SVG
        images) or folders of them (searched recursively; files in folders that are not lithmap
        results are listed on the page as not included; the PNGs lithmap wrote beside a result
        are redrawn rather than shown twice).
    out : str or Path
        The report folder: ``out/index.html``, ``out/figures/``, ``out/data/``. Its parent must
        exist; an existing non-empty ``out`` is refused unless ``overwrite``.
    title : str, optional
        The page title (default ``"lithmap report"``).
    overwrite : bool
        Replace an existing ``out`` (only once the new report is complete).

    Returns
    -------
    pathlib.Path
        ``out/index.html``.

    Raises
    ------
    LithmapError
        One line: no results, an empty folder or one without lithmap results, a file that is
        not a lithmap result (naming it and what was expected), ``out`` not empty without
        ``overwrite``, or an input inside ``out``. Nothing is written.

    Examples
    --------
    >>> import pathlib, tempfile, lithmap as lm
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> cycles = lm.analyse_cycles(lm.read_cycler(lm.example_file("test.ndax"), mass="5mg"))
    >>> table = lm.write_cycles_csv(cycles, d / "cycles.csv")
    >>> page = build_report([table], d / "report", title="Cell 1")
    >>> page.name, sorted(p.name for p in (d / "report" / "figures").iterdir())
    ('index.html', ['cycles_cycles.png', 'cycles_cycles.svg'])
    >>> "CE 105.7 % with the CV hold, 131.3 % without it" in page.read_text(encoding="utf-8")
    True
    """
    out = Path(out)
    items, skipped = _collect(results, skip=out.resolve())
    _check_out(out, overwrite, items)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise LithmapError(f"cannot write in {str(out.parent)!r} ({exc.strerror or exc})") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        ctx = _Context(tmp)
        blocks = []
        for it in items:
            it.name = ctx.name(it.path)
            blocks.append(_BUILDERS[it.kind](it, ctx))
        inputs_note = _copy_inputs(items, ctx)
        ctx.table("summary", ["file", "kind", "quantity", "value", "shown", "units"], ctx.summary)
        page = _page(blocks, title or "lithmap report", skipped, inputs_note, _glance(blocks, ctx.summary))
        (tmp / "index.html").write_text(page, encoding="utf-8")
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "index.html"


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished ``tmp`` to ``out``, replacing what is there only now."""
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        try:
            os.replace(tmp, out)
        except BaseException:
            os.replace(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)
