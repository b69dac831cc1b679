"""The one figure style of lithmap's reports: matplotlib settings, colour-blind-safe maps, colour
bars with units, µm scale bars and figures saved as PNG and SVG.

- Sequential quantities (θ, mean valence, thickness, stress magnitude) use ``viridis`` (or
  ``cividis``), perceptually uniform and readable with any colour-vision deficiency.
- Total contrast I_t/I_ref − 1 is drawn on the zero-centred diverging ``RdBu_r`` (red brighter,
  blue darker, white unchanged), as in Xu, Merryweather et al., Joule 2022, Fig. 2B: symmetric
  limits about zero (:func:`centred_norm`).
- Lines follow the Okabe–Ito palette (:data:`LINE_COLOURS`).
- Every colour bar says what and in which unit (:func:`colorbar`); every map has a scale bar of a
  round length in µm or nm (:func:`scale_bar`), white on dark maps and black on light ones.
- :func:`save_figure` writes ``NAME.png`` (for the page) and ``NAME.svg`` (for print) together.

Use :func:`figure_style` around any drawing::

    with figure_style():
        fig, ax = plt.subplots()
        ...
        save_figure(fig, "out/theta")
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
from cycler import cycler

#: Colour map of sequential quantities.
SEQUENTIAL = "viridis"
#: Second sequential map (oxidation state, thickness), also colour-blind safe.
SEQUENTIAL_ALT = "cividis"
#: Zero-centred diverging map of total contrast (and of residuals, signed stress).
DIVERGING = "RdBu_r"
#: Okabe–Ito colours for lines (distinguishable with every common colour-vision deficiency).
LINE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
#: Resolution of the PNG files.
DPI = 120

#: matplotlib settings of every report figure.
RC = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.05,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=list(LINE_COLOURS)),
    "image.cmap": SEQUENTIAL,
    "image.interpolation": "nearest",
    "lines.linewidth": 1.3,
    "lines.markersize": 4,
    "svg.fonttype": "none",  # text stays text in the SVG
    "svg.hashsalt": "lithmap",  # reproducible SVG ids
}

_DIMENSIONLESS = (None, "", "1", "-", "dimensionless")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextlib.contextmanager
def figure_style():
    """Draw inside lithmap's report style (a :func:`matplotlib.rc_context` with :data:`RC`, the
    non-interactive Agg backend).

    Returns
    -------
    contextlib.AbstractContextManager
        A context manager; the previous settings come back when it ends.

    Examples
    --------
    >>> import matplotlib
    >>> with figure_style():
    ...     matplotlib.rcParams["image.cmap"], matplotlib.rcParams["savefig.bbox"]
    ('viridis', 'tight')
    """
    import matplotlib

    _plt()
    with matplotlib.rc_context(RC):
        yield


def unit_label(label: str, units) -> str:
    """``label (units)`` for an axis or colour bar; dimensionless quantities get ``(–)``.

    Parameters
    ----------
    label : str
        What the quantity is, in words (``"lithium fraction θ"``).
    units : str or None
        Its unit as lithmap spells it in attrs (``"m^2/s"``, ``"Pa"``, ``"1"``).

    Returns
    -------
    str
        The label with the unit in brackets, ``^2`` written as ², ``um`` as µm.

    Examples
    --------
    >>> unit_label("D", "m^2/s"), unit_label("θ", "1"), unit_label("hoop stress", "MPa")
    ('D (m²/s)', 'θ (–)', 'hoop stress (MPa)')
    """
    if units in _DIMENSIONLESS:
        return f"{label} (–)"
    text = str(units).replace("^-1", "⁻¹").replace("^2", "²").replace("^3", "³").replace("um", "µm")
    return f"{label} ({text})"


def colorbar(ax, mappable, label: str, units, **kwargs):
    """A colour bar beside ``ax`` labelled with the quantity and its unit.

    Parameters
    ----------
    ax : matplotlib.axes.Axes or list of Axes
        The axes the bar belongs to (space is taken from them).
    mappable : matplotlib.cm.ScalarMappable
        What ``imshow`` / ``pcolormesh`` returned.
    label : str
        What the colour shows, in words.
    units : str or None
        Its unit (``"1"`` or None: dimensionless, shown as ``(–)``).
    **kwargs
        Passed to :meth:`matplotlib.figure.Figure.colorbar` (e.g. ``shrink``).

    Returns
    -------
    matplotlib.colorbar.Colorbar
        The bar.

    Examples
    --------
    >>> with figure_style():
    ...     fig, ax = _plt().subplots()
    ...     cb = colorbar(ax, ax.imshow(np.eye(3)), "hoop stress", "Pa")
    ...     label = cb.ax.get_ylabel(); _plt().close(fig)
    >>> label
    'hoop stress (Pa)'
    """
    axes = ax if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    fig = np.ravel(axes)[0].figure
    kwargs.setdefault("shrink", 0.85)
    return fig.colorbar(mappable, ax=list(np.ravel(axes)) if len(np.ravel(axes)) > 1 else axes[0],
                        label=unit_label(label, units), **kwargs)


def centred_norm(values, *, percentile: float = 99.0):
    """Symmetric limits about zero for a diverging map: ± the ``percentile`` of |value|.

    Parameters
    ----------
    values : array_like
        The data (NaN ignored).
    percentile : float
        Percentile of |value| that sets the limits (a few outliers do not wash the map out).

    Returns
    -------
    matplotlib.colors.Normalize
        ``vmin = -lim``, ``vmax = +lim``: zero is the map's middle (white on ``RdBu_r``).

    Examples
    --------
    >>> n = centred_norm([-0.1, 0.02, 0.3], percentile=100)
    >>> n.vmin, n.vmax, float(n(0.0))
    (-0.3, 0.3, 0.5)
    """
    from matplotlib.colors import Normalize

    a = np.abs(np.asarray(values, float))
    a = a[np.isfinite(a)]
    lim = float(np.percentile(a, percentile)) if a.size else 1.0
    lim = lim if lim > 0 else (float(a.max()) if a.size and a.max() > 0 else 1.0)
    return Normalize(vmin=-lim, vmax=lim)


def nice_length(width_m: float) -> float:
    """A round length (1, 2 or 5 × 10ⁿ m) of at most a quarter of ``width_m``.

    Parameters
    ----------
    width_m : float
        Width of the map (m).

    Returns
    -------
    float
        The bar's length (m).

    Examples
    --------
    >>> nice_length(4e-6), nice_length(10e-6), nice_length(300e-9)
    (1e-06, 2e-06, 5e-08)
    """
    if not width_m > 0:
        raise ValueError(f"width_m={width_m!r} must be positive")
    base = 10.0 ** np.floor(np.log10(width_m / 4))
    for f in (5.0, 2.0, 1.0):
        if f * base <= width_m / 4 * (1 + 1e-9):
            return float(f"{f * base:.3g}")
    return float(base)


def length_text(length_m: float) -> str:
    """A length as a scale bar writes it: µm from 1 µm up, else nm.

    Parameters
    ----------
    length_m : float
        Length (m).

    Returns
    -------
    str
        E.g. ``"2 µm"``, ``"500 nm"``.

    Examples
    --------
    >>> length_text(2e-6), length_text(5e-7)
    ('2 µm', '500 nm')
    """
    return f"{length_m * 1e6:g} µm" if length_m >= 1e-6 * (1 - 1e-9) else f"{length_m * 1e9:g} nm"


def map_extent(x, y) -> tuple[float, float, float, float]:
    """The ``imshow`` extent in µm of a map on coordinates ``x``, ``y`` in m (pixel edges, y down).

    Parameters
    ----------
    x, y : array_like
        Pixel-centre coordinates (m), evenly spaced.

    Returns
    -------
    tuple of float
        (left, right, bottom, top) in µm, for ``imshow(..., extent=...)`` with ``origin="upper"``.

    Examples
    --------
    >>> map_extent([0.0, 1e-6], [0.0, 1e-6])
    (-0.5, 1.5, 1.5, -0.5)
    """
    x, y = np.asarray(x, float) * 1e6, np.asarray(y, float) * 1e6
    dx = float(x[1] - x[0]) if x.size > 1 else 1.0
    dy = float(y[1] - y[0]) if y.size > 1 else 1.0
    return (float(x[0] - dx / 2), float(x[-1] + dx / 2), float(y[-1] + dy / 2), float(y[0] - dy / 2))


def _is_dark(ax, box) -> bool:
    """The mean luminance of what is drawn in ``ax`` inside ``box`` (x0, x1, y0, y1 in data
    coordinates) is below one half (white then reads better than black). Pixels left blank (NaN,
    masked) show the axes' background colour."""
    from matplotlib.colors import to_rgb

    weights = np.array([0.2126, 0.7152, 0.0722])
    background = float(np.dot(to_rgb(ax.get_facecolor()), weights))
    lum = []
    for im in ax.get_images():
        arr = im.get_array()
        if arr is None or np.ndim(arr) != 2:
            continue
        x0, x1, y1, y0 = im.get_extent()
        ny, nx = np.shape(arr)
        cols = np.clip(((np.array(box[:2]) - x0) / (x1 - x0) * nx).astype(int), 0, nx - 1)
        rows = np.clip(((np.array(box[2:]) - y0) / (y1 - y0) * ny).astype(int), 0, ny - 1)
        patch = np.ma.masked_invalid(np.ma.filled(np.ma.asarray(arr, float), np.nan)[
            min(rows):max(rows) + 1, min(cols):max(cols) + 1])
        if not patch.size:
            continue
        values = np.asarray(im.to_rgba(patch), float)[..., :3] @ weights
        lum.append(float(np.where(np.ma.getmaskarray(patch), background, values).mean()))
    return bool(lum) and float(np.mean(lum)) < 0.5


def scale_bar(ax, x, y, *, colour: str | None = None, length: float | None = None) -> float:
    """Draw a scale bar of a round length in the lower left corner of a map drawn in µm.

    The map must have been drawn with :func:`map_extent` (axes in µm). The bar is white where
    the map beneath it is dark and black where it is light (``colour`` overrides).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The map's axes.
    x, y : array_like
        The map's pixel coordinates (m).
    colour : str, optional
        Force the bar's colour.
    length : float, optional
        The bar's length (m); default a round length of at most a quarter of the width.

    Returns
    -------
    float
        The length drawn (m).

    Examples
    --------
    >>> x = np.arange(40) * 100e-9
    >>> with figure_style():
    ...     fig, ax = _plt().subplots()
    ...     _ = ax.imshow(np.zeros((40, 40)), cmap="gray", extent=map_extent(x, x))
    ...     bar = scale_bar(ax, x, x)
    ...     colours = [t.get_color() for t in ax.texts]; _plt().close(fig)
    >>> bar, colours
    (1e-06, ['white'])
    """
    left, right, bottom, top = map_extent(x, y)
    width, height = (right - left) * 1e-6, abs(bottom - top)
    length = nice_length(width) if length is None else float(length)
    bar = length * 1e6
    x0 = left + 0.06 * (right - left)
    ybar = bottom - 0.07 * height if bottom > top else bottom + 0.07 * height
    ytext = ybar - 0.035 * height if bottom > top else ybar + 0.035 * height
    if colour is None:
        box = (x0, x0 + bar, min(ybar, ytext) - 0.03 * height, max(ybar, ytext) + 0.03 * height)
        colour = "white" if _is_dark(ax, box) else "black"
    ax.plot([x0, x0 + bar], [ybar, ybar], "-", color=colour, lw=3, solid_capstyle="butt")
    ax.text(x0 + bar / 2, ytext, length_text(length), color=colour, ha="center", va="bottom" if bottom > top
            else "top", fontsize=8)
    return length


def save_figure(fig, path_without_suffix) -> list[Path]:
    """Write ``fig`` as ``NAME.png`` and ``NAME.svg`` (each through a temporary file), then close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path_without_suffix : str or Path
        ``"out/theta"`` writes ``out/theta.png`` and ``out/theta.svg`` (a ``.png``/``.svg``
        suffix given is dropped). The folder must exist.

    Returns
    -------
    list of Path
        The PNG, then the SVG.

    Examples
    --------
    >>> import tempfile
    >>> with figure_style():
    ...     fig, ax = _plt().subplots()
    ...     _ = ax.plot([0, 1], [1, 0])
    ...     [p.name for p in save_figure(fig, tempfile.mkdtemp() + "/line")]
    ['line.png', 'line.svg']
    """
    stem = Path(path_without_suffix)
    if stem.suffix.lower() in (".png", ".svg"):
        stem = stem.with_suffix("")
    paths = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")]
    temps = [p.with_name(f".{p.stem}.tmp{p.suffix}") for p in paths]
    try:
        for tmp in temps:
            fig.savefig(tmp, metadata={"Date": None} if tmp.suffix == ".svg" else None)
        for tmp, p in zip(temps, paths):
            os.replace(tmp, p)
    finally:
        for tmp in temps:
            if tmp.exists():
                tmp.unlink()
        _plt().close(fig)
    return paths


def _final_name(name: str) -> str:
    """``.fit_maps.tmp.png`` (a temporary name lithmap's plot functions save under) → ``fit_maps.png``."""
    if name.startswith(".") and ".tmp." in name:
        name = name[1:].replace(".tmp.", ".", 1)
    return name


@contextlib.contextmanager
def svg_beside():
    """While active, every figure saved as PNG is saved as SVG too, beside it under the PNG's final
    name: lithmap's existing plot functions (which write PNG) then give both files.

    Returns
    -------
    contextlib.AbstractContextManager
        Yields the list of SVG files written so far.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> with figure_style(), svg_beside() as svgs:
    ...     fig, ax = _plt().subplots()
    ...     fig.savefig(d / ".a.tmp.png"); _plt().close(fig)
    >>> [p.name for p in svgs]
    ['a.svg']
    """
    from matplotlib.figure import Figure

    original = Figure.savefig
    written: list[Path] = []

    def savefig(self, fname, *args, **kwargs):
        result = original(self, fname, *args, **kwargs)
        if isinstance(fname, (str, os.PathLike)) and Path(fname).suffix.lower() == ".png":
            p = Path(fname)
            svg = p.with_name(_final_name(p.name)).with_suffix(".svg")
            kw = {k: v for k, v in kwargs.items() if k not in ("dpi", "format", "metadata", "pil_kwargs")}
            original(self, svg, *args, format="svg", **kw)
            written.append(svg)
        return result

    Figure.savefig = savefig
    try:
        yield written
    finally:
        Figure.savefig = original
