"""The analysis commands of Liu, Zeng et al. (Nat. Nanotechnol. 2024) end to end: shells,
composition, pores and charge balance."""

import csv

import numpy as np
import tifffile
import xarray as xr
from typer.testing import CliRunner

from lithmap.cli import app
from lithmap.spectro.composition import mass_attenuation

runner = CliRunner()


def test_shells_cli_on_a_radial_map(tmp_path):
    y, x = np.mgrid[-40:41, -40:41]
    r = np.hypot(y, x)
    field = np.where(r <= 35, 3.0 + r / 35, np.nan).astype(np.float32)  # valence 4 at the surface, 3 at the centre
    src = tmp_path / "valence.tif"
    tifffile.imwrite(src, field)
    out = tmp_path / "shells.csv"
    res = runner.invoke(app, ["shells", str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert [r["label"] for r in rows] == ["0-20%", "20-40%", "40-60%", "60-80%", "80-100%"]
    means = np.array([float(r["mean"]) for r in rows])
    assert np.all(np.diff(means) < 0) and 3.9 < means[0] < 4.0 and means[-1] < 3.3
    sizes = np.array([int(r["size"]) for r in rows])
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == int((r <= 35).sum())
    assert out.with_suffix(".png").exists()
    res = runner.invoke(app, ["shells", str(src), "--out", str(out)])
    assert res.exit_code != 0 and "already exists" in res.output


def test_composition_cli_recovers_an_oxygen_rich_region(tmp_path):
    """Forward model: Li1.2Mn0.56Ni0.16Co0.08O2 areal densities → optical densities at two energies
    per element (xraydb); a block with 25 % more oxygen must come out oxygen-rich."""
    mol = {"Mn": 0.56, "Ni": 0.16, "Co": 0.08, "O": 2.0}
    amass = {"Mn": 54.938e-3, "Ni": 58.693e-3, "Co": 58.933e-3, "O": 15.999e-3}
    n = np.zeros((24, 24))
    n[4:20, 4:20] = 1.0  # formula units per area (arbitrary scale ×1e-5 mol/m²)
    o_scale = np.ones_like(n)
    o_scale[4:10, 4:10] = 1.25
    energies = {"Mn": (635.0, 650.0), "Ni": (845.0, 860.0), "Co": (770.0, 785.0), "O": (526.0, 550.0)}
    dens = {el: 1e-5 * n * mol[el] * amass[el] * (o_scale if el == "O" else 1) for el in mol}  # kg/m²
    args = []
    for el, (e1, e2) in energies.items():
        files = []
        for e in (e1, e2):
            od = sum(float(mass_attenuation(other, e)) * dens[other] for other in mol)
            f = tmp_path / f"{el}_{e:g}.tif"
            tifffile.imwrite(f, od.astype(np.float64))
            files.append(f)
        args += ["--element", f"{el},{files[0]},{e1}eV,{files[1]},{e2}eV"]
    out = tmp_path / "comp.nc"
    mask = tmp_path / "mask.tif"
    tifffile.imwrite(mask, (n > 0).astype(np.uint8))
    res = runner.invoke(app, ["composition", "--out", str(out), "--mask", str(mask), *args])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        frac = dict(zip([str(v) for v in ds.phase_name.values], ds.volume_fraction.values))
        assert abs(frac["oxygen_rich"] - 36 / 256) < 1e-9 and abs(frac["target"] - 220 / 256) < 1e-9
    bad = tmp_path / "bad.nc"
    res = runner.invoke(app, ["composition", "--out", str(bad), "--element", "Ni,only_one.tif"])
    assert res.exit_code != 0 and "EL,BELOW_IMAGE" in res.output and not bad.exists()


def test_pores_cli_on_a_sphere_with_an_open_crack_and_a_closed_pore(tmp_path):
    z, y, x = np.mgrid[-20:21, -20:21, -20:21]
    solid = np.hypot(np.hypot(z, y), x) <= 18
    pore = np.hypot(np.hypot(z - 5, y), x) <= 4
    solid &= ~pore
    vol = tmp_path / "particle.tif"
    tifffile.imwrite(vol, solid.astype(np.uint8) * 200)
    out = tmp_path / "pores.nc"
    res = runner.invoke(app, ["pores", str(vol), "--out", str(out), "--threshold", "100", "--voxel-size", "50nm"])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert int(ds.n_pores) == 1
        assert float(ds.porosity) == pore.sum() / (solid.sum() + pore.sum())
        assert float(ds.surface_connected_fraction) == 0.0
    empty = tmp_path / "empty.tif"
    tifffile.imwrite(empty, np.zeros((5, 8, 8), np.uint8))
    bad = tmp_path / "bad.nc"
    res = runner.invoke(app, ["pores", str(empty), "--out", str(bad)])
    assert res.exit_code != 0 and not bad.exists() and len(res.output.strip().splitlines()) == 1


def test_charge_cli_by_hand():
    # Li1.2Mn0.56Ni0.16Co0.08O2: M = 85.197 g/mol; Ni2+→4+ and Co3+→4+ move 0.40 e per formula unit
    res = runner.invoke(app, ["charge", "--before", "Ni=2", "--before", "Co=3", "--after", "Ni=4", "--after", "Co=4"])
    assert res.exit_code == 0, res.output
    expected = 96485.33212 * 0.40 / 85.197 / 3.6
    assert f"total: {expected:.1f} mAh/g" in res.output
    res = runner.invoke(app, ["charge", "--before", "Ni2", "--after", "Ni=4"])
    assert res.exit_code != 0 and "EL=VALENCE" in res.output


def test_shells_cli_on_a_volume_and_refusing_to_overwrite_its_input(tmp_path):
    z, y, x = np.mgrid[-12:13, -12:13, -12:13]
    r = np.sqrt(x**2 + y**2 + z**2)
    vol = np.where(r <= 11, r, np.nan).astype(np.float32)  # NaN outside the particle
    src = tmp_path / "volume.tif"
    tifffile.imwrite(src, vol)
    out = tmp_path / "volume_shells.csv"
    res = runner.invoke(app, ["shells", str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    sizes = np.array([int(r["size"]) for r in rows])
    assert len(rows) == 5 and sizes.sum() == int((r <= 11).sum()) and sizes.max() - sizes.min() <= 1  # equal volumes
    assert np.all(np.diff([float(r["mean"]) for r in rows]) < 0)
    from PIL import Image

    png = tmp_path / "valence.png"
    Image.fromarray(np.full((20, 20), 3, np.uint8)).save(png)
    before = png.read_bytes()
    res = runner.invoke(app, ["shells", str(png), "--out", str(tmp_path / "valence.csv")])
    assert res.exit_code != 0 and "overwrite an input" in res.output
    assert png.read_bytes() == before and not (tmp_path / "valence.csv").exists()


def test_composition_threshold_is_checked():
    for text, message in (("abc%", "percentage"), ("5", "ambiguous")):
        res = runner.invoke(app, ["composition", "--out", "x.nc", "--threshold", text,
                                  "--element", "Ni,a.tif,845eV,b.tif,860eV"])
        assert res.exit_code != 0 and message in res.output, res.output


def test_charge_cli_reads_mean_valence_maps(tmp_path):
    from lithmap.io.results import write_result

    for name, v in (("pristine", 2.0), ("charged", 3.5)):
        m = np.full((4, 5), v)
        m[0, 0] = np.nan  # outside the particle
        write_result(xr.Dataset({"mean_valence": (("y", "x"), m)}), tmp_path / f"{name}.nc")
    res = runner.invoke(app, ["charge", "--before", f"Ni={tmp_path / 'pristine.nc'}", "--after",
                              f"Ni={tmp_path / 'charged.nc'}"])
    assert res.exit_code == 0, res.output
    expected = 96485.33212 * 0.16 * 1.5 / 85.197 / 3.6  # 0.24 e per formula unit
    assert f"total: {expected:.1f} mAh/g" in res.output


def test_shells_cli_on_a_reconstruction_says_which_mask_and_labels_the_axis(tmp_path):
    """Outside = 0, no NaN, a central void: the auto mask (not the whole cube), holes filled
    unless --keep-holes; the profile's y label is long_name (units), not the variable's name."""
    from lithmap.cli.spectro import _axis_label

    z, y, x = np.mgrid[-12:13, -12:13, -12:13]
    r = np.sqrt(x**2 + y**2 + z**2)
    particle = (r <= 10) & (r > 3)
    res_nc = tmp_path / "vol.nc"
    xr.Dataset({"volume": (("z", "y", "x"), np.where(particle, 0.02, 0.0),
                           {"long_name": "linear attenuation", "units": "1/m"})}).to_netcdf(res_nc, engine="h5netcdf")
    out = tmp_path / "s.csv"
    res = runner.invoke(app, ["shells", str(res_nc), "--variable", "volume", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"shells of {int(particle.sum())} pixels/voxels (mask: auto: value above its Otsu" in res.output
    assert f"{int((r <= 3).sum())} hole pixels filled" in res.output
    res = runner.invoke(app, ["shells", str(res_nc), "--variable", "volume", "--keep-holes", "--overwrite",
                              "--out", str(out)])
    assert res.exit_code == 0 and "hole pixels filled" not in res.output, res.output
    field = xr.DataArray(np.zeros((3, 3)), name="volume", attrs={"long_name": "linear attenuation", "units": "1/m"})
    assert _axis_label(field) == "linear attenuation (1/m)"
    assert _axis_label(xr.DataArray(np.zeros((3, 3)), name="mean_valence")) == "mean_valence"
