"""Command equals function: each spectro command (lcf, shells, composition, pores, charge) and the
public ``lithmap`` function it calls give the same result on the same input (the written file
against the returned Dataset or table: same variables, dims and values)."""

import csv
from pathlib import Path

import numpy as np
import pytest
import tifffile
import xarray as xr
from typer.testing import CliRunner

import lithmap as lm
from lithmap.cli import app

DATA = Path(__file__).parent / "data" / "xanes-standards"
STANDARDS = [f"{DATA}/MnO_rt_01.xdi:2", f"{DATA}/Mn2O3_rt_01.xdi:3", f"{DATA}/MnO2_rt_01.xdi:4"]
STD = [a for s in STANDARDS for a in ("--standard", s)]
runner = CliRunner()


def invoke(*args):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


def assert_same(path, ds):
    """The file at ``path`` holds exactly ``ds``: the same variables and coordinates, dims, values."""
    with xr.open_dataset(path, engine="h5netcdf") as f:
        f = f.load()
    assert sorted(f.data_vars) == sorted(ds.data_vars)
    assert sorted(f.coords) == sorted(ds.coords)
    for name in [*ds.data_vars, *ds.coords]:
        assert f[name].dims == ds[name].dims, name
        a, b = np.asarray(f[name].values), np.asarray(ds[name].values)
        if a.dtype.kind in "fc":
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            assert a.tolist() == b.tolist(), name


def test_lcf_command_equals_lcf_from_files(tmp_path):
    sample = DATA / "Mn3O4_rt_02.xdi"
    invoke("lcf", *STD, "--window", "6535:6580eV", sample, "--out", tmp_path / "a.nc")
    assert_same(tmp_path / "a.nc", lm.lcf_from_files(str(sample), STANDARDS, window="6535:6580eV"))
    invoke("lcf", *STD, "--no-normalise", "--offset", "--free-sum", sample, "--out", tmp_path / "b.nc")
    assert_same(tmp_path / "b.nc", lm.lcf_from_files(str(sample), STANDARDS, normalise=False, offset=True,
                                                    sum_to_one=False))
    # the old spelling of the flag still works (hidden)
    invoke("lcf", *STD, "--no-normalize", "--offset", "--free-sum", sample, "--out", tmp_path / "c.nc")
    assert_same(tmp_path / "c.nc", xr.open_dataset(tmp_path / "b.nc", engine="h5netcdf").load())


def test_lcf_command_equals_function_on_a_masked_tiff_map(tmp_path):
    mno2, mno = lm.read_xdi(DATA / "MnO2_rt_02.xdi"), lm.read_xdi(DATA / "MnO_rt_02.xdi")
    e = mno2.energy.values
    cube = np.empty((e.size, 5, 6))
    cube[:, :, :3] = mno2.mu.values[:, None, None]
    cube[:, :, 3:] = np.interp(e, mno.energy.values, mno.mu.values)[:, None, None]
    cube *= np.random.default_rng(1).uniform(0.9, 1.1, (1, 5, 6))
    stack, energies, mask = tmp_path / "map.tif", tmp_path / "energies.txt", tmp_path / "mask.png"
    tifffile.imwrite(stack, cube.astype(np.float32), photometric="minisblack")
    energies.write_text("\n".join(f"{v:.4f}" for v in e) + "\n")
    from PIL import Image

    m = np.zeros((5, 6), np.uint8)
    m[1:4, 1:5] = 255
    Image.fromarray(m).save(mask)
    out = tmp_path / "map.nc"
    invoke("lcf", *STD, "--window", "6535:6580eV", stack, "--energies", energies, "--mask", mask, "--out", out)
    ds = lm.lcf_from_files(str(stack), STANDARDS, window="6535:6580eV", energies=str(energies), mask=mask)
    assert_same(out, ds)
    assert np.isnan(ds["mean_valence"].values[0, 0]) and np.isfinite(ds["mean_valence"].values[2, 2])


def _rows(path):
    return list(csv.DictReader(Path(path).open()))


def assert_table(path, table):
    rows = _rows(path)
    assert list(rows[0]) == list(table.columns) and len(rows) == len(table)
    for row, (_, want) in zip(rows, table.iterrows()):
        for col in table.columns:
            if isinstance(want[col], str):
                assert row[col] == want[col], col
            else:
                assert float(row[col]) == pytest.approx(float(want[col]), rel=1e-9, abs=0), col


def test_shells_command_equals_shell_table_of_a_tiff_map_and_of_a_result(tmp_path):
    y, x = np.mgrid[-30:31, -30:31]
    r = np.hypot(y, x)
    src = tmp_path / "valence.tif"
    tifffile.imwrite(src, np.where(r <= 25, 3.0 + r / 25, np.nan).astype(np.float32))
    invoke("shells", src, "--out", tmp_path / "a.csv", "--n", "4")
    assert_table(tmp_path / "a.csv", lm.shell_table(lm.shell_statistics(lm.read_field(src), n=4)))
    # a result with a leading dim and its own mask
    m = r <= 20
    res = xr.Dataset({"weights": (("standard", "y", "x"), np.stack([np.where(m, r, np.nan), np.where(m, -r, np.nan)])),
                      "mask": (("y", "x"), m.astype(np.int8))}, coords={"standard": ["a", "b"]})
    lm.write_result(res, tmp_path / "res.nc")
    invoke("shells", tmp_path / "res.nc", "--variable", "weights", "--out", tmp_path / "b.csv")
    field = lm.read_field(tmp_path / "res.nc", "weights")
    table = lm.shell_table(lm.shell_statistics(field))
    assert_table(tmp_path / "b.csv", table)
    assert table["standard"].tolist()[:5] == ["a"] * 5 and int(table["size"][:5].sum()) == int(m.sum())
    # an explicit mask file wins over the result's mask
    from PIL import Image

    Image.fromarray((r <= 10).astype(np.uint8) * 255).save(tmp_path / "small.png")
    invoke("shells", tmp_path / "res.nc", "--variable", "weights", "--mask", tmp_path / "small.png",
           "--out", tmp_path / "c.csv")
    small = lm.read_mask(tmp_path / "small.png").values
    assert_table(tmp_path / "c.csv", lm.shell_table(lm.shell_statistics(field, small)))


def test_composition_command_equals_composition_maps(tmp_path):
    from lithmap.spectro.composition import mass_attenuation

    mol = {"Mn": 0.56, "Ni": 0.16, "O": 2.0}
    amass = {"Mn": 54.938e-3, "Ni": 58.693e-3, "O": 15.999e-3}
    n = np.zeros((16, 16))
    n[3:13, 3:13] = 1.0
    o = np.ones_like(n)
    o[3:7, 3:7] = 1.3
    dens = {el: 1e-5 * n * mol[el] * amass[el] * (o if el == "O" else 1) for el in mol}
    energies = {"Mn": (635.0, 650.0), "Ni": (845.0, 860.0), "O": (526.0, 550.0)}
    specs = []
    for el, pair in energies.items():
        files = []
        for en in pair:
            f = tmp_path / f"{el}_{en:g}.tif"
            tifffile.imwrite(f, sum(float(mass_attenuation(k, en)) * dens[k] for k in mol))
            files.append(f)
        specs.append(f"{el},{files[0]},{pair[0]}eV,{files[1]},{pair[1]}eV")
    out = tmp_path / "comp.nc"
    invoke("composition", "--out", out, "--voxel-size", "25nm", "--threshold", "8%",
           *[a for s in specs for a in ("--element", s)])
    images, en = lm.read_element_images(specs)
    ds = lm.composition_maps(images, en, threshold="8%", path_length="25nm", pixel_size="25nm")
    assert_same(out, ds)
    assert float(ds["volume_fraction"].sel(phase_name="oxygen_rich")) > 0


def test_pores_command_equals_pore_analysis(tmp_path):
    z, y, x = np.mgrid[-12:13, -12:13, -12:13]
    solid = (np.sqrt(z**2 + y**2 + x**2) <= 11) & ~(np.sqrt((z - 3) ** 2 + y**2 + x**2) <= 3)
    solid[:, 12, 6:] = False  # a crack open to the surface
    vol = tmp_path / "particle.tif"
    tifffile.imwrite(vol, solid.astype(np.uint8) * 200)
    invoke("pores", vol, "--out", tmp_path / "a.nc", "--threshold", "100", "--voxel-size", "50nm", "--closing", "2")
    ds = lm.pore_analysis(lm.read_image(vol), threshold=100, voxel_size="50nm", closing=2)
    assert_same(tmp_path / "a.nc", ds)
    invoke("pores", vol, "--out", tmp_path / "b.nc", "--threshold", "100")
    ds = lm.pore_analysis(lm.read_image(vol), threshold=100)
    assert_same(tmp_path / "b.nc", ds)
    assert ds["local_thickness"].attrs["units"] == "pixel"


def test_charge_command_equals_charge_balance(tmp_path):
    m = np.full((4, 5), 3.25)
    m[0, 0] = np.nan
    lm.write_result(xr.Dataset({"mean_valence": (("y", "x"), m)}), tmp_path / "charged.nc")
    before, after = ["Ni=2", "Co=3"], [f"Ni={tmp_path / 'charged.nc'}", "Co=3.5"]
    text = invoke("charge", *[a for v in before for a in ("--before", v)], *[a for v in after for a in ("--after", v)])
    ds = lm.charge_balance(before, after)
    lines = text.strip().splitlines()
    assert lines[-1].startswith(f"total: {float(ds.total_capacity):.1f} mAh/g ({float(ds.total_electrons):.3f} e")
    for k, el in enumerate(ds["element"].values):
        assert lines[k] == (f"{el}: {float(ds.valence_before[k]):.3f} -> {float(ds.valence_after[k]):.3f}, "
                            f"{float(ds.capacity[k]):.1f} mAh/g")
    assert ds["valence_after"].sel(element="Ni") == 3.25 and ds["capacity"].attrs["units"] == "mA h / g"
