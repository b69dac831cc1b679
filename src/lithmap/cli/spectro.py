"""Commands of X-ray spectro-microscopy and tomography: lcf, shells, composition, pores, charge."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer

from ..errors import LithmapError
from ..io.masks import read_mask
from . import _all_or_nothing, _outputs, _progress, app, example_mask_path, friendly  # noqa: F401


@app.command()
@friendly
def lcf(
    samples: list[str] = typer.Argument(..., help="spectrum files (XDI, file.prj[:GROUP], two-column text), a TIFF "
                                                  "stack with --energies, or NetCDF/HDF5 with 'absorbance' (energy, y, x)"),
    standard: list[str] = typer.Option(..., help="FILE:VALENCE, once per standard, e.g. MnO.xdi:2"),
    out: Path = typer.Option(..., help="output NetCDF: weights (…, standard), mean_valence, residual, r_factor"),
    window: Optional[str] = typer.Option(None, help="fitting window, e.g. 6535:6580eV (default: the common range)"),
    energies: Optional[Path] = typer.Option(None, help="for a TIFF stack: text file, one energy in eV per line"),
    mask: Optional[Path] = typer.Option(None, help="particle mask image (non-zero = fitted; others NaN)"),
    free_sum: bool = typer.Option(False, help="do not force the weights to sum to one"),
    offset: bool = typer.Option(False, help="fit a constant offset too"),
    normalize: bool = typer.Option(True, help="edge-step normalise every spectrum before fitting"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Linear-combination fitting of every spectrum, pixel or voxel with reference spectra of
    known oxidation states: exact non-negative weights summing to one, and the mean valence."""
    from ..io.results import write_result
    from ..spectro.lcf import lcf_from_files

    figure = _outputs(out, overwrite=overwrite, inputs=[*samples, *(x.rsplit(":", 1)[0] for x in standard), energies, mask])
    ds = lcf_from_files(samples if len(samples) > 1 else samples[0], list(standard), window=window,
                        energies=str(energies) if energies else None, normalize=normalize,
                        sum_to_one=not free_sum, offset=offset, mask=read_mask(mask, ndim=None).values if mask else None)
    write_result(ds, out, overwrite=overwrite)
    mv = ds["mean_valence"].values
    finite = mv[np.isfinite(mv)]
    what = (f"mean valence {float(finite[0]):.3f}" if mv.size == 1 else
            f"mean valence {np.mean(finite):.3f} (range {np.min(finite):.3f}-{np.max(finite):.3f}) over {finite.size} "
            "spectra/pixels") if finite.size else "no finite fit"
    msg = f"wrote {out}: {what}, R-factor median {float(np.nanmedian(ds['r_factor'].values)):.2g}"
    if ds.attrs.get("n_nan_pixels"):
        msg += f"; {ds.attrs['n_nan_pixels']} NaN pixels masked"
    typer.echo(msg)
    spatial = [d for d in ds["mean_valence"].dims if d in ("y", "x", "z")]
    if len(spatial) >= 2:
        from ..report.maps import plot_map

        px = float(ds.x[1] - ds.x[0]) if "x" in ds.coords and ds.x.attrs.get("units") == "m" else None
        with _all_or_nothing(out):
            fig = plot_map(ds["mean_valence"].values, figure, title="mean oxidation state",
                           label="mean valence", pixel_size=px, cmap="viridis")
        typer.echo(f"wrote {fig}")


def _read_field(source: str, variable: str | None):
    """``(values, mask_or_None, pixel_size_or_None)`` from a lithmap result (NetCDF/Zarr, with
    ``variable``) or an image/volume file (TIFF, PNG, HDF5, ...)."""
    from ..io.images import read_stack

    p = Path(source.split(":")[0] if ".h5:" in source or ".hdf5:" in source else source)
    if p.suffix.lower() in (".nc", ".zarr"):
        from ..io.results import read_result

        ds = read_result(p)
        if variable not in ds:
            raise LithmapError(f"{source!r} has no variable {variable!r}; it has {sorted(ds.data_vars)}")
        mask = ds["mask"].values.astype(bool) if "mask" in ds else None
        da = ds[variable]
        px = None
        if "x" in da.coords and da.x.attrs.get("units") == "m" and da.sizes["x"] > 1:
            px = float(da.x[1] - da.x[0])
        return da, mask, px
    img, meta = read_stack(source, require_stack=False)
    return np.asarray(img, float), None, meta.get("pixel_size_m")


@app.command()
@friendly
def shells(
    source: str = typer.Argument(..., help="a map or volume: lithmap result (.nc/.zarr, see --variable), TIFF, PNG or HDF5"),
    out: Path = typer.Option(..., help="output CSV, one row per shell (a PNG profile is written beside it)"),
    variable: str = typer.Option("mean_valence", help="variable of a result file"),
    mask: Optional[Path] = typer.Option(None, help="particle mask (non-zero = particle); default: the result's "
                                                   "mask, else the finite pixels"),
    n: int = typer.Option(5, help="number of equal-area (2D) / equal-volume (3D) shells"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Statistics of a map in equal-area (2D) or equal-volume (3D) shells from the surface inward
    (seed2: 0-20 %, ..., 80-100 %)."""
    from ..io.tables import write_table
    from ..report.maps import plot_shells
    from ..spectro.shells import shell_statistics

    figure = _outputs(out, overwrite=overwrite, inputs=[source, mask])
    field, m, _ = _read_field(source, variable)
    if hasattr(field, "dims"):  # a result variable: its z/y/x dims are the particle, others lead
        spatial = [d for d in field.dims if d in ("z", "y", "x")]
        if len(spatial) < 2:
            raise LithmapError(f"variable {variable!r} has dims {field.dims}; shells need a map (y, x) or volume (z, y, x)")
        lead = [d for d in field.dims if d not in spatial]
        field = field.transpose(*lead, *spatial)
        finite = np.isfinite(field.values).any(axis=tuple(range(len(lead))))
    else:  # an image (y, x) or a volume (z, y, x)
        if field.ndim not in (2, 3):
            raise LithmapError(f"{source!r} has shape {field.shape}; shells need a 2D map or a 3D volume")
        finite = np.isfinite(field)
    if mask is not None:
        m = read_mask(mask, ndim=None).values
    elif m is None or m.shape != finite.shape:
        m = finite
    ds = shell_statistics(field, m, n)
    stats = [v for v in ("mean", "std", "median", "count") if v in ds]
    lead = [d for d in ds["mean"].dims if d != "shell"]
    rows = []
    for idx in np.ndindex(*[ds.sizes[d] for d in lead]):
        sel = dict(zip(lead, idx))
        for k in range(ds.sizes["shell"]):
            sub = ds.isel(shell=k, **sel)
            rows.append([*[str(ds[d].values[i]) if d in ds.coords else str(i) for d, i in zip(lead, idx)], k,
                         str(sub["label"].values), float(sub["fraction_outer"]), float(sub["fraction_inner"]),
                         int(sub["size"]), *[float(sub[v]) for v in stats]])
    write_table(out, [*lead, "shell", "label", "fraction_outer", "fraction_inner", "size", *stats], rows)
    with _all_or_nothing(out):
        fig = plot_shells(ds, figure, label=variable if source.endswith((".nc", ".zarr")) else "value")
    means = ", ".join(f"{float(v):.4g}" for v in np.asarray(ds["mean"].values).reshape(-1, ds.sizes["shell"])[0])
    typer.echo(f"wrote {out} and {fig}: {n} shells of {int(m.sum())} pixels/voxels; means from the surface inward: {means}")


def _fraction(text: str, name: str) -> float:
    """'5%' or '0.05' → 0.05 (a bare number must be a fraction below 1)."""
    t = text.strip()
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise LithmapError(f"{name}={text!r} is invalid; expected a percentage such as 5% or a fraction such as 0.05") from None
    if not t.endswith("%") and value >= 1:
        raise LithmapError(f"{name}={text!r} is ambiguous; write a percentage such as {t}% or a fraction below 1")
    return value


def _element_spec(text: str):
    from ..io.images import read_stack
    from ..io.units import parse_quantity

    parts = [t.strip() for t in text.split(",")]
    if len(parts) != 5:
        raise LithmapError(f"--element {text!r} is invalid; expected EL,BELOW_IMAGE,E_BELOW,ABOVE_IMAGE,E_ABOVE "
                           "(e.g. Ni,ni_845.tif,845eV,ni_856.tif,856eV)")
    el, below, e_below, above, e_above = parts
    for f in (below, above):
        if not Path(f).exists():
            raise LithmapError(f"image {f!r} for {el} does not exist")
    imgs = tuple(np.asarray(read_stack(f, require_stack=False)[0], float) for f in (below, above))
    return el, imgs, (parse_quantity(e_below, "eV", name="energy"), parse_quantity(e_above, "eV", name="energy"))


@app.command()
@friendly
def composition(
    out: Path = typer.Option(..., help="output NetCDF (element densities, TM/O ratio, phases, fractions) + PNG"),
    element: list[str] = typer.Option(..., help="EL,BELOW_IMAGE,E_BELOW,ABOVE_IMAGE,E_ABOVE (optical density "
                                                "images or volumes), once per element"),
    target: str = typer.Option("Li1.2Mn0.56Ni0.16Co0.08O2", help="target composition"),
    threshold: str = typer.Option("5%", help="TM/O deviation separating target from oxygen-poor/-rich"),
    voxel_size: Optional[str] = typer.Option(None, help="voxel size of reconstructed volumes whose values are optical "
                                                        "density per voxel, e.g. 25nm: also the path length for "
                                                        "densities in kg/m^3 (the TM/O ratio does not need it)"),
    mask: Optional[Path] = typer.Option(None, help="particle mask (default: Otsu threshold of the total density)"),
    method: str = typer.Option("lstsq", help="lstsq (all images, least squares) or jump (edge jumps)"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Element maps from two photon energies per element, the TM/O ratio per voxel and its
    segmentation into target / oxygen-poor / oxygen-rich (seed2), overall and per shell."""
    from ..io.results import write_result
    from ..report.maps import plot_map
    from ..spectro.composition import composition_maps

    files = [f for e in element for f in e.split(",")[1::2]]
    figure = _outputs(out, overwrite=overwrite, inputs=[*files, mask])
    thr = _fraction(threshold, "threshold")
    specs = [_element_spec(e) for e in element]
    vs = None
    if voxel_size:
        from ..io.units import parse_quantity

        vs = parse_quantity(voxel_size, "m", name="voxel_size")
    ds = composition_maps({e: i for e, i, _ in specs}, {e: en for e, _, en in specs}, target=target, threshold=thr,
                          mask=read_mask(mask, ndim=None).values if mask else None, method=method, path_length=vs, pixel_size=vs)
    write_result(ds, out, overwrite=overwrite)
    with _all_or_nothing(out):
        fig = plot_map(ds["phase"].values, figure, title=f"TM/O phases (±{100 * thr:g} %)", label="",
                       pixel_size=vs, categories={0: "target", 1: "oxygen-poor", 2: "oxygen-rich"})
    fr = ", ".join(f"{str(n)} {100 * float(v):.1f} %" for n, v in zip(ds["phase_name"].values, ds["volume_fraction"].values))
    typer.echo(f"wrote {out} and {fig}: {fr}")


@app.command()
@friendly
def pores(
    volume: str = typer.Argument(..., help="particle volume or image: TIFF stack, HDF5 (file.h5:/dataset), PNG; "
                                           "solid = non-zero, or grey with --threshold"),
    out: Path = typer.Option(..., help="output NetCDF (pore table, local thickness, labels) + PNG"),
    threshold: Optional[float] = typer.Option(None, help="grey level: solid = value above it"),
    closing: int = typer.Option(0, help="closing radius (voxels) for the particle envelope: bridges crack mouths"),
    envelope: Optional[Path] = typer.Option(None, help="particle envelope mask (default: solid with holes filled)"),
    voxel_size: Optional[str] = typer.Option(None, help="voxel size, e.g. 50nm (else voxels)"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Porosity, pore sizes (equivalent diameter, local thickness) and connectivity (largest
    network, surface-connected vs isolated void) of a particle volume (seed2's cracks)."""
    from ..io.images import read_stack
    from ..io.results import write_result
    from ..io.units import parse_quantity
    from ..report.maps import plot_map
    from ..spectro.pores import pore_analysis

    figure = _outputs(out, overwrite=overwrite, inputs=[volume, envelope])
    vol, meta = read_stack(volume, require_stack=False)
    vs = parse_quantity(voxel_size, "m", name="voxel_size") if voxel_size else meta.get("pixel_size_m")
    ds = pore_analysis(np.asarray(vol), envelope=read_mask(envelope, ndim=None).values if envelope else None, threshold=threshold,
                       closing=closing, voxel_size=vs)
    write_result(ds, out, overwrite=overwrite)
    with _all_or_nothing(out):
        fig = plot_map(ds["local_thickness"].values, figure, title="pore local thickness",
                       label="local thickness (m)" if vs else "local thickness (voxels)", pixel_size=vs, cmap="magma")
    typer.echo(f"wrote {out} and {fig}: porosity {100 * float(ds.porosity):.2f} %, {int(ds.n_pores)} pores, "
               f"largest network {100 * float(ds.largest_network_fraction):.1f} % of the void, surface-connected "
               f"{100 * float(ds.surface_connected_fraction):.1f} %")


def _valences(items: list[str], what: str) -> dict:
    out = {}
    for text in items:
        el, sep, value = text.partition("=")
        if not sep or not el.strip():
            raise LithmapError(f"--{what} {text!r} is invalid; expected EL=VALENCE or EL=lcf.nc")
        try:
            out[el.strip()] = float(value)
        except ValueError:
            field, _, _ = _read_field(value.strip(), "mean_valence")
            out[el.strip()] = field
    return out


@app.command()
@friendly
def charge(
    before: list[str] = typer.Option(..., help="EL=VALENCE or EL=lcf.nc (its mean_valence map), e.g. Ni=2"),
    after: list[str] = typer.Option(..., help="the same elements after, e.g. Ni=lcf_charged.nc"),
    formula: str = typer.Option("Li1.2Mn0.56Ni0.16Co0.08O2", help="composition of the material"),
):
    """Capacity (mAh/g) implied by the change of mean oxidation states between two states."""
    from ..spectro.charge import charge_balance

    ds = charge_balance(_valences(before, "before"), _valences(after, "after"), formula)
    for k, el in enumerate(ds["element"].values):
        typer.echo(f"{el}: {float(ds.valence_before[k]):.3f} -> {float(ds.valence_after[k]):.3f}, "
                   f"{float(ds.capacity[k]):.1f} mAh/g")
    typer.echo(f"total: {float(ds.total_capacity):.1f} mAh/g ({float(ds.total_electrons):.3f} e per formula unit of {formula})")
