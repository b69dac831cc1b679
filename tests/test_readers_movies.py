"""Movie, mask and frame-times readers against bad input: through the command line (one line
naming the file and what is wrong, exit ≠ 0, nothing written) and, property-based, through the
Python readers on truncated and corrupted copies of real files (a result or a one-line
LithmapError; never another exception or a hang)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image
from typer.testing import CliRunner

import lithmap as lm
from corrupt import check_reader, damaged_copies
from lithmap.cli import app

EXAMPLE = Path(lm.example_file("example_movie.tif"))
MASK = Path(lm.example_file("example_particle.png"))
FRAMES = tifffile.imread(EXAMPLE)[:6]  # (6, 80, 80) uint16


def _write_small_files(folder: Path) -> dict[str, Path]:
    """Small real-format movies made from the example movie: HDF5, TDMS, and a CSV of times."""
    from nptdms import ChannelObject, GroupObject, TdmsWriter

    h5 = folder / "movie.h5"
    with h5py.File(h5, "w") as f:
        d = f.create_dataset("entry/frames", data=FRAMES, chunks=(2, 80, 80), compression="gzip")
        d.attrs["frame_interval_s"] = 120.0
        d.attrs["pixel_size_m"] = 50e-9
        f.create_dataset("entry/time", data=np.arange(6) * 120.0).attrs["units"] = "s"
    tdms = folder / "movie.tdms"
    with TdmsWriter(tdms) as w:
        w.write_segment([GroupObject("frames", properties={"width": 80, "height": 80, "frame_interval_s": 120.0,
                                                           "pixel_size_m": 50e-9})])
        w.write_segment([ChannelObject("frames", "data", FRAMES[:3].ravel())])
        w.write_segment([ChannelObject("frames", "data", FRAMES[3:].ravel())])
    times = folder / "times.csv"
    times.write_text("frame,time_s\n" + "".join(f"{k},{120.0 * k + 3}\n" for k in range(31)))
    return {"h5": h5, "tdms": tdms, "times": times}


_FOLDER = Path(tempfile.mkdtemp(prefix="lithmap-readers-"))
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)
SMALL = _write_small_files(_FOLDER)


def test_the_small_files_read_as_the_example_movie():
    for p in (SMALL["h5"], SMALL["tdms"]):
        movie = lm.read_movie(p)
        np.testing.assert_array_equal(movie.values, FRAMES)
        assert movie.time.values[1] == 120.0 and movie.x.attrs["units"] == "m" and float(movie.x[1]) == 50e-9
        np.testing.assert_array_equal(lm.read_movie(p, lazy=True, chunk_frames=4).values, FRAMES)
    movie = lm.read_movie(EXAMPLE, times=SMALL["times"])
    np.testing.assert_array_equal(movie.time.values, 120.0 * np.arange(31) + 3)


# -- bad input through the command line: one line naming the file, exit ≠ 0, nothing written ---------


def _refused(args, tmp_path, *, names, says):
    out = tmp_path / "out.nc"
    res = CliRunner().invoke(app, ["contrast", *map(str, args), "--out", str(out)])
    lines = res.output.strip().splitlines()
    assert res.exit_code != 0, res.output
    assert len(lines) == 1, res.output
    assert str(names) in lines[0] and says in lines[0], lines[0]
    assert not out.exists()


def test_bad_tiff(tmp_path):
    cut = tmp_path / "cut.tif"
    cut.write_bytes(EXAMPLE.read_bytes()[: EXAMPLE.stat().st_size // 2])
    _refused([cut], tmp_path, names=cut, says="truncated")
    text = tmp_path / "notes.tif"
    text.write_text("not a TIFF\n")
    _refused([text], tmp_path, names=text, says="is not a TIFF, PNG, HDF5 or TDMS file")
    _refused([tmp_path / "nope.tif"], tmp_path, names=tmp_path / "nope.tif", says="does not exist")


def test_bad_frame_folder_and_glob(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(3):
        Image.fromarray(FRAMES[k] if k != 1 else FRAMES[k, :40]).save(folder / f"f{k}.png")
    _refused([folder], tmp_path, names=folder / "f1.png", says="all frames must match")
    _refused([tmp_path / "run_*.png"], tmp_path, names=tmp_path / "run_*.png", says="matches no frame files")
    empty = tmp_path / "empty"
    empty.mkdir()
    _refused([empty], tmp_path, names=empty, says="has no TIFF or PNG frames")


def test_bad_hdf5(tmp_path):
    two = tmp_path / "two.h5"
    with h5py.File(two, "w") as f:
        f.create_dataset("a", data=FRAMES)
        f.create_dataset("b", data=FRAMES)
    _refused([two, "--times", "10s"], tmp_path, names=two, says="has several 3D datasets")
    _refused([f"{two}:/c", "--times", "10s"], tmp_path, names=two, says="has no dataset '/c'")
    cut = tmp_path / "cut.h5"
    cut.write_bytes(SMALL["h5"].read_bytes()[:3000])
    _refused([cut], tmp_path, names=cut, says="is not a readable HDF5 file")


def test_bad_tdms(tmp_path):
    from nptdms import ChannelObject, GroupObject, TdmsWriter

    nosize = tmp_path / "nosize.tdms"
    with TdmsWriter(nosize) as w:
        w.write_segment([GroupObject("frames", properties={"frame_interval_s": 10.0}),
                         ChannelObject("frames", "data", FRAMES.ravel())])
    _refused([nosize], tmp_path, names=nosize, says="needs positive whole 'width' and 'height'")
    cut = tmp_path / "cut.tdms"
    cut.write_bytes(SMALL["tdms"].read_bytes()[: SMALL["tdms"].stat().st_size // 2])
    _refused([cut], tmp_path, names=cut, says="truncated or corrupt")


def test_bad_png_mask(tmp_path):
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((80, 80), np.uint8)).save(empty)
    _refused(["example", "--mask", empty], tmp_path, names=empty, says="is empty")
    broken = tmp_path / "broken.png"
    broken.write_bytes(MASK.read_bytes()[:60])
    _refused(["example", "--mask", broken], tmp_path, names=broken, says="could not be read")
    small = tmp_path / "small.png"
    Image.fromarray(np.full((20, 20), 255, np.uint8)).save(small)
    _refused(["example", "--mask", small], tmp_path, names="(20, 20)", says="mask has shape")


def test_bad_times_csv(tmp_path):
    times = tmp_path / "times.csv"
    times.write_text("time\n0\n10\n10\n" + "".join(f"{20 + k}\n" for k in range(28)))
    _refused(["example", "--times-csv", times], tmp_path, names=times, says="is not increasing")
    times.write_text("frame,value\n0,1\n")
    _refused(["example", "--times-csv", times], tmp_path, names=times, says="has no time column")
    times.write_text("time\n0\n10\n")
    _refused(["example", "--times-csv", times], tmp_path, names=times, says="gives 2 times for 31 frames")
    _refused(["example", "--times", "soon"], tmp_path, names="'soon'", says="is invalid")


# -- property-based: damaged copies of real files → a result or a one-line LithmapError -------------


def _read_and_compute(path, **kw):
    return lm.read_movie(path, lazy=True, chunk_frames=4, **kw).compute()


@damaged_copies(EXAMPLE, max_examples=40)
def test_damaged_tiff_movies_fail_cleanly(path):
    check_reader(lm.read_movie, path, times=10)
    check_reader(_read_and_compute, path, times=10)


@damaged_copies(SMALL["h5"], max_examples=30)
def test_damaged_hdf5_movies_fail_cleanly(path):
    check_reader(lm.read_movie, path, times=10)
    check_reader(_read_and_compute, path, times=10)


@damaged_copies(SMALL["tdms"], max_examples=30)
def test_damaged_tdms_movies_fail_cleanly(path):
    check_reader(lm.read_movie, path, times=10)
    check_reader(_read_and_compute, path, times=10)


@damaged_copies(MASK, max_examples=30)
def test_damaged_png_masks_fail_cleanly(path):
    check_reader(lm.read_mask, path)
    check_reader(lm.read_image, path)


@damaged_copies(SMALL["times"], max_examples=30)
def test_damaged_times_csv_fails_cleanly(path):
    check_reader(lambda p: lm.read_movie(EXAMPLE, times=p), path)


@pytest.mark.parametrize("times", [0, -5, "5 V", float("nan"), [0, 1], [[0, 1]], "x.csv", {"a": 1}])
def test_bad_times_arguments_are_one_line_errors(times):
    with pytest.raises(lm.LithmapError) as err:
        lm.read_movie(EXAMPLE, times=times)
    assert "\n" not in str(err.value) and "times" in str(err.value)
