"""Commands of X-ray spectro-microscopy and tomography (Liu, Zeng et al., Nat. Nanotechnol. 2024):
lcf, shells, composition, pores, charge. Each parses its options, calls one public function of
``lithmap`` and writes its result."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer

from ..io.masks import read_mask
from ..spectro.pores import MIN_VOXELS
from . import _all_or_nothing, _outputs, app, friendly


@app.command()
@friendly
def lcf(
    samples: list[str] = typer.Argument(..., help="spectrum files (XDI, file.prj[:GROUP], two-column text), a TIFF "
                                                  "stack with --energies, or NetCDF/HDF5 with 'absorbance' "
                                                  "(energy, y, x)"),
    standard: list[str] = typer.Option(..., help="FILE:VALENCE, once per standard, e.g. MnO.xdi:2"),
    out: Path = typer.Option(..., help="output NetCDF: weights (…, standard), mean_valence, residual, r_factor"),
    window: Optional[str] = typer.Option(None, help="fitting window, e.g. 6535:6580eV (default: the common range)"),
    energies: Optional[Path] = typer.Option(None, help="for a TIFF stack: text file, one energy in eV per line"),
    i0: Optional[str] = typer.Option(None, help="for a TIFF stack of transmitted intensity: the incident intensity "
                                                "I0 (a number, a text file with one value per energy, or a "
                                                "flat-field TIFF stack); the stack becomes -ln(I/I0)"),
    mask: Optional[str] = typer.Option(None, help="particle mask: image, volume or a result with a 'mask' (above "
                                                  "half its maximum = fitted; others NaN), or 'none' to fit every "
                                                  "pixel (default for maps: pixels with an edge, Otsu on the edge "
                                                  "step, as clusters uses)"),
    auto_mask: bool = typer.Option(True, "--auto-mask/--no-auto-mask",
                                   help="without --mask, fit only a map's pixels with an absorption edge"),
    model: Optional[str] = typer.Option(None, help="amplitudes (free non-negative amplitudes + linear background; "
                                                   "fractions = amplitudes / their sum: invariant to thickness) or "
                                                   "sum-to-one (weights summing to 1 on normalised spectra); default "
                                                   "sum-to-one for single spectra, amplitudes for maps and volumes"),
    free_sum: bool = typer.Option(False, help="free weights, used as they are (no sum constraint, no background)"),
    offset: bool = typer.Option(False, help="fit a constant offset too"),
    normalise: bool = typer.Option(True, "--normalise/--no-normalise",
                                   help="edge-step normalise the standards (and sum-to-one samples) over their whole "
                                        "range as Athena/Larch pre_edge does"),
    normalise_us: Optional[bool] = typer.Option(None, "--normalize/--no-normalize", hidden=True),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Linear-combination fitting of spectra, maps or volumes: weights and mean valence.

    Every spectrum, pixel or voxel is fitted with reference spectra of known oxidation states:
    exact non-negative fractions summing to one, and the mean valence. Maps are fitted as they
    are (raw optical density: free amplitudes plus a linear background, so thickness and a sloped
    pre-edge do not bias the fractions; the edge jump is written too)."""
    from ..io.results import write_result
    from ..report.maps import plot_map
    from ..spectro.lcf import lcf_from_files

    no_mask = mask is not None and mask.strip().lower() == "none"
    i0_value = _number_or_path(i0)
    inputs = [*samples, *(x.rsplit(":", 1)[0] for x in standard), energies, None if no_mask else mask,
              i0_value if isinstance(i0_value, str) else None]
    figure = _outputs(out, overwrite=overwrite, inputs=inputs)
    ds = lcf_from_files(samples if len(samples) > 1 else samples[0], list(standard), window=window,
                        energies=str(energies) if energies else None, i0=i0_value,
                        normalise=normalise if normalise_us is None else normalise_us,
                        model=model, sum_to_one=False if free_sum else None, offset=offset, mask=mask,
                        auto_mask=auto_mask)
    write_result(ds, out, overwrite=overwrite)
    typer.echo(f"wrote {out}: {_lcf_summary(ds)}")
    if len([d for d in ds["mean_valence"].dims if d in ("y", "x", "z")]) >= 2:
        with _all_or_nothing(out):
            fig = plot_map(ds["mean_valence"], figure, title="mean oxidation state", label="mean valence",
                           cmap="viridis")
        typer.echo(f"wrote {fig}")


def _number_or_path(text):
    """``--i0``: a number, or a file (kept as its path)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return str(text)


def _lcf_summary(ds) -> str:
    """The summary line of ``lithmap lcf``: valence, pixels fitted and left out, window, R-factor."""
    mv = ds["mean_valence"].values
    finite = mv[np.isfinite(mv)]
    if mv.size == 1:
        what = f"mean valence {float(finite[0]):.3f}" if finite.size else "no finite fit"
    elif finite.size:
        word = "spectra" if len([d for d in ds["mean_valence"].dims if d in ("y", "x", "z")]) < 2 else "pixels"
        what = (f"mean valence {np.mean(finite):.3f} (range {np.min(finite):.3f}-{np.max(finite):.3f}) over "
                f"{finite.size} {word}")
    else:
        what = "no finite fit"
    parts = [what]
    if "mask" in ds and ds.attrs.get("mask_rule") not in (None, "all pixels (no mask)"):
        out = int((~ds["mask"].values.astype(bool)).sum())
        rule = ds.attrs["mask_rule"]
        parts.append(f"{out} pixels outside the particle left NaN ({'mask given' if rule == 'mask given' else rule})")
    if ds.attrs.get("n_nan_pixels"):
        parts.append(f"{ds.attrs['n_nan_pixels']} NaN pixels masked")
    if "window_lo" in ds.attrs:
        parts.append(f"window {ds.attrs['window_lo']:.6g}-{ds.attrs['window_hi']:.6g} eV "
                     f"({int(ds.attrs['n_energies'])} energies)")
    elif "window_lo" in ds:
        parts.append(f"windows {float(ds['window_lo'].min()):.6g}-{float(ds['window_hi'].max()):.6g} eV")
    parts.append(f"R-factor median {float(np.nanmedian(ds['r_factor'].values)):.2g}")
    return ", ".join(parts)


@app.command()
@friendly
def shells(
    source: str = typer.Argument(..., help="a map or volume: lithmap result (.nc/.zarr, see --variable), TIFF, PNG "
                                           "or HDF5"),
    out: Path = typer.Option(..., help="output CSV, one row per shell (a PNG profile is written beside it)"),
    variable: str = typer.Option("mean_valence", help="variable of a result file"),
    mask: Optional[Path] = typer.Option(None, help="particle mask: image, volume or a result with a 'mask' (above "
                                                   "half its maximum = particle); default: the result's mask, else "
                                                   "the finite pixels, else an automatic mask"),
    n: int = typer.Option(5, help="number of equal-area (2D) / equal-volume (3D) shells"),
    keep_holes: bool = typer.Option(False, help="measure shells from the walls of enclosed holes too (default: "
                                                "holes are filled, so an internal void is not a surface)"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Statistics of a map or volume in shells from the surface inward; CSV + profile.

    Equal-area (2D) or equal-volume (3D) shells, as in Liu, Zeng et al., Nat. Nanotechnol. 2024
    (0-20 %, ..., 80-100 %). The particle is --mask, else the result's mask, else the finite
    pixels, else (no NaN: a reconstruction whose outside is 0) an automatic mask (pixels with an
    edge for spectra, else Otsu on the values). Its enclosed holes are filled for the shell
    geometry (unless --keep-holes) and left out of the statistics."""
    from ..io.spectra import read_field
    from ..io.tables import write_table
    from ..report.maps import plot_shells
    from ..spectro.shells import shell_statistics, shell_table

    figure = _outputs(out, overwrite=overwrite, inputs=[source, mask])
    field = read_field(source, variable)
    ds = shell_statistics(field, read_mask(mask, ndim=None).values if mask is not None else None, n,
                          fill_holes=not keep_holes)
    table = shell_table(ds)
    write_table(out, list(table.columns), table.itertuples(index=False))
    with _all_or_nothing(out):
        fig = plot_shells(ds, figure, label=_axis_label(field))
    means = ", ".join(f"{float(v):.4g}" for v in np.asarray(ds["mean"].values).reshape(-1, ds.sizes["shell"])[0])
    rule = f"mask {mask}" if mask is not None else f"mask: {ds.attrs['mask_rule']}"
    holes = f", {ds.attrs['hole_pixels']} hole pixels filled" if ds.attrs.get("hole_pixels") and not keep_holes else ""
    typer.echo(f"wrote {out} and {fig}: {n} shells of {int(ds['size'].sum())} pixels/voxels ({rule}{holes}); means "
               f"from the surface inward: {means}")


def _axis_label(da) -> str:
    """``long_name (units)`` of a field for a plot axis, else its name."""
    name = str(da.attrs.get("long_name") or da.name or "value")
    units = da.attrs.get("units")
    return f"{name} ({units})" if units and str(units) not in ("1", "") else name


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
    """Element maps, the TM/O ratio and its target / oxygen-poor / oxygen-rich segmentation.

    Element maps from two photon energies per element, the TM/O ratio per voxel and its
    segmentation (Liu, Zeng et al., Nat. Nanotechnol. 2024), overall and per shell."""
    from ..io.results import write_result
    from ..io.spectra import read_element_images
    from ..io.units import optional_quantity
    from ..report.maps import plot_map
    from ..spectro.composition import composition_maps, parse_fraction

    files = [f for e in element for f in e.split(",")[1::2]]
    figure = _outputs(out, overwrite=overwrite, inputs=[*files, mask])
    thr = parse_fraction(threshold, "threshold")
    images, energies = read_element_images(element)
    vs = optional_quantity(voxel_size, "m", name="voxel_size")
    ds = composition_maps(images, energies, target=target, threshold=thr, method=method, path_length=vs,
                          pixel_size=vs, mask=read_mask(mask, ndim=None).values if mask else None)
    write_result(ds, out, overwrite=overwrite)
    with _all_or_nothing(out):
        fig = plot_map(ds["phase"], figure, title=f"TM/O phases (±{100 * thr:g} %)", label="",
                       categories={0: "target", 1: "oxygen-poor", 2: "oxygen-rich"})
    fr = ", ".join(f"{str(n)} {100 * float(v):.1f} %"
                   for n, v in zip(ds["phase_name"].values, ds["volume_fraction"].values))
    typer.echo(f"wrote {out} and {fig}: {fr}")


@app.command()
@friendly
def pores(
    volume: str = typer.Argument(..., help="particle volume or image: TIFF stack, HDF5 (file.h5:/dataset), PNG; "
                                           "two-valued (0/1, 0/255): solid = non-zero; grey: give --threshold"),
    out: Path = typer.Option(..., help="output NetCDF (pore table, local thickness, labels) + PNG"),
    threshold: Optional[float] = typer.Option(None, help="grey level: solid = value above it"),
    closing: int = typer.Option(0, help="closing radius (voxels) for the particle envelope: bridges crack mouths"),
    envelope: Optional[Path] = typer.Option(None, help="particle envelope mask (default: solid with holes filled)"),
    voxel_size: Optional[str] = typer.Option(None, help="voxel size, e.g. 50nm (else the file's, else voxels)"),
    min_voxels: int = typer.Option(
        MIN_VOXELS, help="pores of fewer voxels are noise, taken as solid (1: keep every pore)"),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
):
    """Porosity, pore sizes and pore connectivity of a particle volume.

    Pore sizes as equivalent diameter and local thickness; connectivity as the largest network
    and surface-connected vs isolated void (the cracks of Liu, Zeng et al., Nat. Nanotechnol.
    2024)."""
    from ..io.images import read_image
    from ..io.results import write_result
    from ..report.maps import plot_map
    from ..spectro.pores import pore_analysis

    figure = _outputs(out, overwrite=overwrite, inputs=[volume, envelope])
    ds = pore_analysis(read_image(volume), envelope=read_mask(envelope, ndim=None).values if envelope else None,
                       threshold=threshold, closing=closing, voxel_size=voxel_size, min_voxels=min_voxels)
    write_result(ds, out, overwrite=overwrite)
    lt = ds["local_thickness"]
    with _all_or_nothing(out):
        fig = plot_map(lt, figure, title="pore local thickness", cmap="magma",
                       label="local thickness (m)" if lt.attrs["units"] == "m" else "local thickness (voxels)")
    typer.echo(f"wrote {out} and {fig}: porosity {100 * float(ds.porosity):.2f} %, {int(ds.n_pores)} pores, "
               f"largest network {100 * float(ds.largest_network_fraction):.1f} % of the void, surface-connected "
               f"{100 * float(ds.surface_connected_fraction):.1f} %; {ds.attrs['n_small_pores_dropped']} specks under "
               f"{ds.attrs['min_voxels']} voxels taken as solid")


@app.command()
@friendly
def charge(
    before: list[str] = typer.Option(..., help="EL=VALENCE or EL=lcf.nc (its mean_valence map), e.g. Ni=2"),
    after: list[str] = typer.Option(..., help="the same elements after, e.g. Ni=lcf_charged.nc"),
    formula: str = typer.Option("Li1.2Mn0.56Ni0.16Co0.08O2", help="composition of the material"),
):
    """Capacity (mAh/g) implied by the change of mean oxidation states between two states."""
    from ..spectro.charge import charge_balance

    ds = charge_balance(list(before), list(after), formula)
    for k, el in enumerate(ds["element"].values):
        typer.echo(f"{el}: {float(ds.valence_before[k]):.3f} -> {float(ds.valence_after[k]):.3f}, "
                   f"{float(ds.capacity[k]):.1f} mAh/g")
    typer.echo(f"total: {float(ds.total_capacity):.1f} mAh/g ({float(ds.total_electrons):.3f} e per formula unit "
               f"of {formula})")
