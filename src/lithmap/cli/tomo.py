"""The tomography command: ``lithmap reconstruct``, a tilt series to a volume (Liu, Zeng et al.,
Nat. Nanotechnol. 2024, reconstruct their nanotomograms from ±65° series)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer

from ..tomo.reconstruct import DEFAULT_ITERATIONS
from . import _all_or_nothing, _outputs, _progress, app, friendly, with_unit


@app.command()
@friendly
def reconstruct(
    tilts: str = typer.Argument(..., help="tilt series: NetCDF/HDF5 with 'projections' (angle, y, x) or (energy, "
                                          "angle, y, x) and 'angle' in degrees, or a TIFF stack with --angles"),
    out: Path = typer.Option(..., help="output NetCDF: volume (z, y, x) or absorbance (energy, z, y, x), "
                                       "coordinates in m (+ a PNG of orthogonal slices)"),
    pixel_size: Optional[str] = typer.Option(None, help="detector pixel size, e.g. 10nm (needed for a TIFF stack; "
                                                        "a bare number is in nm)"),
    angles: Optional[str] = typer.Option(None, help="tilt angles in degrees: LO:HI:STEP (e.g. -65:65:1) or a file, "
                                                    "one angle per line"),
    method: str = typer.Option("sirt", help="sirt (non-negative, support-constrained; default), fbp, or mbir "
                                            "(needs svmbir)"),
    align: bool = typer.Option(False, help="first find the tilt axis and each projection's shift"),
    iterations: Optional[int] = typer.Option(None, help=f"SIRT sweeps (default {DEFAULT_ITERATIONS['sirt']}) or MBIR "
                                                       f"iterations (default {DEFAULT_ITERATIONS['mbir']})"),
    transmission: bool = typer.Option(False, help="the projections are transmitted intensity: take -ln(I/I0) first, "
                                                  "I0 the median of each projection's border (empty beam)"),
    i0: Optional[float] = typer.Option(None, "--i0", help="open-beam intensity I0 of transmitted projections (counts; "
                                                          "implies --transmission)"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Reconstruct a parallel-beam tilt series (tilt about y) into a volume.

    Slice by slice; SIRT with non-negativity and the projections' visual hull as support
    handles the missing wedge of a ±65° series. The result is what lcf, shells, pores,
    composition and clusters read."""
    from ..io.results import write_result
    from ..report.volume_figures import plot_volume
    from ..tomo.readers import read_projections
    from ..tomo.reconstruct import reconstruct as run

    figure = _outputs(out, overwrite=overwrite, inputs=[tilts, angles if angles and Path(angles).is_file() else None])
    proj = read_projections(tilts, angles=angles, pixel_size=with_unit(pixel_size, "nm"))
    total = (iterations or DEFAULT_ITERATIONS["sirt"]) if method == "sirt" else 1
    with _progress(total, label="reconstructing", unit="sweeps") as bar:
        ds = run(proj, method=method, align=align, iterations=iterations, transmission=transmission, i0=i0,
                 progress=None if bar is None else (lambda done, _t: bar(done)))
    write_result(ds, out, overwrite=overwrite)
    name = "absorbance" if "absorbance" in ds else "volume"
    v = ds[name]
    with _all_or_nothing(out):
        fig = plot_volume(v.mean("energy") if name == "absorbance" else v, figure,
                          title=f"{method.upper()} reconstruction" + (" (mean over energies)" if name == "absorbance"
                                                                       else ""),
                          label="linear attenuation coefficient", per_voxel=True)
    shape = " × ".join(str(ds.sizes[d]) for d in ("z", "y", "x"))
    extra = f" × {ds.sizes['energy']} energies" if name == "absorbance" else ""
    msg = (f"wrote {out} and {fig}: {name} {shape}{extra} from {ds.attrs['n_angles']} projections "
           f"({ds.attrs['angle_min']:g}° to {ds.attrs['angle_max']:g}°), {method}; particle mask "
           f"{int(ds['mask'].sum())} voxels")
    if "tilt_axis_offset" in ds.attrs:
        unit = ds["shift_x"].attrs["units"]
        scale, word = (1e9, "nm") if unit == "m" else (1.0, "pixels")
        msg += (f"; tilt axis {ds.attrs['tilt_axis_offset'] * scale:.3g} {word} off centre, shifts up to "
                f"{np.abs(ds['shift_x'].values).max() * scale:.3g} {word}")
    typer.echo(msg)
