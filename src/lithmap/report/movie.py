"""Contrast movies as animated GIF (or MP4 when ffmpeg is installed): total contrast on a
diverging colour scale centred at zero (red brighter, blue darker; Xu, Merryweather et al., Joule
2022, Fig. 2B), a µm scale
bar, and beneath it the whole-particle trace and, when a cycler log was synchronised, the cell
voltage, with a cursor at the current frame."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.images import pixel_size_of


def write_movie(result, path, *, fps: float = 5.0, max_frames: int = 300) -> Path:
    """Write a contrast result as an animated .gif (or .mp4 with ffmpeg installed).

    Each frame shows the total contrast on a diverging scale centred at zero inside the particle,
    a 1 µm scale bar (when the pixel size is known), and beneath it the whole-particle trace
    (and the cell voltage, when a log was synchronised) with a cursor at the frame's time.

    Parameters
    ----------
    result : xarray.Dataset or str or Path
        A :func:`lithmap.analyse_movie` / :func:`lithmap.contrast_movie` result, or its file
        (what ``lithmap contrast`` writes).
    path : str or Path
        The movie to write, ``.gif`` or ``.mp4`` (written via a temporary file, so a failure
        leaves nothing behind).
    fps : float
        Frames per second.
    max_frames : int
        At most this many frames, evenly picked from longer movies (at least 2).

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile, lithmap
    >>> ds = lithmap.contrast_movie(lithmap.read_movie("example"), register=False)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_movie(ds, f"{d}/movie.gif", max_frames=3).stat().st_size > 0
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import animation

    path = Path(path)
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise LithmapError(f"movie output {str(path)!r} must end in .gif or .mp4")
    if path.suffix.lower() == ".mp4" and shutil.which("ffmpeg") is None:
        raise LithmapError("an .mp4 needs ffmpeg, which is not installed; write a .gif instead")
    if max_frames < 2:
        raise LithmapError(f"max_frames={max_frames!r} is invalid; expected at least 2")
    if not isinstance(result, xr.Dataset):
        from ..io.results import read_result

        result = read_result(result)
    ds = result
    if "total_contrast" not in ds:
        raise LithmapError("the dataset has no total_contrast; make it with 'lithmap contrast'")
    pick = np.unique(np.linspace(0, ds.sizes["time"] - 1, min(max_frames, ds.sizes["time"])).round().astype(int))
    tc = ds.total_contrast.isel(time=pick).values
    m = ds["mask"].values.astype(bool)
    lim = float(np.nanpercentile(np.abs(tc[:, m]), 99)) or 1e-3
    fig, (ax, axt) = plt.subplots(2, 1, figsize=(4.2, 5.4), gridspec_kw={"height_ratios": [3, 1]})
    im = ax.imshow(np.where(m, tc[0], np.nan), cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_axis_off()
    fig.colorbar(im, ax=ax, label="total contrast I/I_ref − 1", shrink=0.8)
    px_m = pixel_size_of(ds)
    if px_m is not None:
        bar = 1e-6 / px_m  # 1 µm in pixels
        ax.plot([2, 2 + bar], [tc.shape[1] - 3] * 2, "k-", lw=3)
        ax.text(2 + bar / 2, tc.shape[1] - 5, "1 µm", ha="center", fontsize=8)
    t_all = ds.time.values / 60.0
    t = t_all[pick]
    axt.plot(t_all, ds.intensity_normalised.values, "k-")
    cursor = axt.axvline(t[0], color="tab:red")
    axt.set_xlabel("time (min)")
    axt.set_ylabel("I / I_ref")
    if "voltage" in ds and np.isfinite(ds.voltage.values).any():
        axv = axt.twinx()
        axv.plot(t_all, ds.voltage.values, color="tab:blue", lw=1)
        axv.set_ylabel("voltage (V)", color="tab:blue")
    title = ax.set_title(f"{t[0]:.1f} min", fontsize=9)
    fig.tight_layout()

    def frame(k):
        im.set_data(np.where(m, tc[k], np.nan))
        cursor.set_xdata([t[k], t[k]])
        title.set_text(f"{t[k]:.1f} min")
        return im, cursor, title

    anim = animation.FuncAnimation(fig, frame, frames=tc.shape[0], blit=False)
    writer = animation.PillowWriter(fps=fps) if path.suffix.lower() == ".gif" else animation.FFMpegWriter(fps=fps)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    try:
        anim.save(tmp, writer=writer)
        tmp.replace(path)
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()
    return path
