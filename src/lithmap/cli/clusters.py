"""The ``clusters`` command: principal components and k-means clusters of a spectro-microscopy map
or volume (MANTiS, Lerotic et al., J. Synchrotron Rad. 2014; Liu, Zeng et al., Nat.
Nanotechnol. 2024). It parses its options, calls :func:`lithmap.spectral_clusters` and writes the
result (and its figure)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import _all_or_nothing, _outputs, app, friendly


@app.command()
@friendly
def clusters(
    source: str = typer.Argument(..., metavar="MAP",
                                 help="map or volume: NetCDF/HDF5 with 'absorbance' on (energy, y, x) or "
                                      "(energy, z, y, x) and 'energy' in eV, or a TIFF stack with --energies"),
    n: int = typer.Option(..., "--n", "-n", help="number of clusters K (at least 2)"),
    out: Path = typer.Option(..., help="output NetCDF: cluster, cluster_spectrum, pca_component, "
                                       "explained_variance, ... (a PNG figure is written beside it)"),
    components: Optional[int] = typer.Option(None, help="principal components clustered (default K)"),
    standard: Optional[list[str]] = typer.Option(None, help="FILE:VALENCE, once per standard, e.g. MnO.xdi:2: "
                                                            "fits each cluster spectrum (weights, mean valence)"),
    window: Optional[str] = typer.Option(None, help="energies clustered, e.g. 6535:6580eV (default: all)"),
    mask: Optional[Path] = typer.Option(None, help="pixels to cluster: mask image or volume, or a result with a "
                                                   "'mask' (default: pixels with an edge, Otsu on the edge step)"),
    energies: Optional[Path] = typer.Option(None, help="for a TIFF stack: text file, one energy in eV per line"),
    seed: int = typer.Option(0, help="random state of PCA and k-means (same seed, same clusters)"),
    figure: bool = typer.Option(True, "--figure/--no-figure", help="write the cluster map and spectra as OUT.png"),
    overwrite: bool = typer.Option(False, help="replace OUT (and its figure) if they exist"),
):
    """Spectral clusters and principal components of a map or volume.

    Each pixel's spectrum is fitted as a × the map's normalised spectrum + a line, and its shape
    (spectrum − line) / a, free of thickness and background, goes through PCA and k-means on the
    leading components (scikit-learn); each cluster's mean spectrum is kept, edge-step normalised
    and fitted with the standards when given, as in MANTiS (Lerotic et al., J. Synchrotron Rad.
    2014) and Liu, Zeng et al., Nat. Nanotechnol. 2024."""
    from ..io.results import write_result
    from ..io.spectra import read_spectra
    from ..report.cluster_figures import plot_clusters
    from ..spectro.clusters import spectral_clusters

    standards = list(standard or [])
    inputs = [source, energies, mask, *(s.rsplit(":", 1)[0] for s in standards)]
    fig_path = _outputs(out, overwrite=overwrite, inputs=inputs, figure=figure)
    data = read_spectra(source, energies=str(energies) if energies else None)["mu"]
    ds = spectral_clusters(data, n, n_components=components, standards=standards or None, mask=mask,
                           window=window, seed=seed)
    write_result(ds, out, overwrite=overwrite)
    parts = []
    for i in range(ds.sizes["cluster"]):
        txt = f"{i}: {100 * float(ds.cluster_fraction[i]):.1f} % (edge {float(ds.cluster_edge_energy[i]):.1f} eV"
        if "cluster_mean_valence" in ds:
            txt += f", valence {float(ds.cluster_mean_valence[i]):.2f}"
        parts.append(txt + ")")
    typer.echo(f"wrote {out}: {ds.attrs['n_clusters']} clusters of {ds.attrs['n_pixels_clustered']} pixels "
               f"({ds.attrs['n_pixels_excluded']} left out): {', '.join(parts)}; {ds.attrs['n_components']} "
               f"components explain {100 * float(ds.explained_variance.sum()):.1f} % of the variance"
               + (f"; warning: {ds.attrs['warning']}" if ds.attrs.get("warning") else ""))
    if figure and ds["cluster"].ndim in (2, 3):
        with _all_or_nothing(out):
            plot_clusters(ds, fig_path)
        typer.echo(f"wrote {fig_path}")
