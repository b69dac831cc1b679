"""Reading image stacks: TIFF/OME-TIFF, frame folders, HDF5, TDMS; frame times; lazy reads."""

import pickle
import re

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from lithmap.errors import LithmapError
from lithmap.io import movies
from lithmap.io.movies import (
    _frame_times,
    _natural_key,
    _open_stack,
    _read_times_csv,
)

PIXEL = 50e-9
DT = 10.0


@pytest.fixture(scope="module")
def movie():
    rng = np.random.default_rng(7)
    return rng.integers(0, 60000, size=(6, 32, 40), dtype=np.uint16)


def named(path):
    """A regex matching the path as the error messages quote it."""
    return re.escape(repr(str(path)))


def both(path, **kw):
    """Eager and lazy reads of the same source; checks they agree and returns the eager one."""
    eager, meta = _open_stack(path, **kw)
    lazy, lmeta = _open_stack(path, lazy=True, chunk_frames=4, **kw)
    assert isinstance(eager, np.ndarray) and hasattr(lazy, "dask")
    assert lazy.chunks[0] == ((4, 2) if eager.shape[0] == 6 else (eager.shape[0],))
    np.testing.assert_array_equal(lazy.compute(), eager)
    assert lazy.dtype == eager.dtype and set(meta) == set(lmeta)
    return eager, meta


# -- TIFF -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_tiff_with_lithmap_metadata(tmp_path, movie, compression):
    p = tmp_path / "m.tif"
    times = [3.0, 13.0, 23.0, 33.0, 43.0, 53.0]
    tifffile.imwrite(p, movie, compression=compression, metadata={
        "axes": "TYX", "frame_interval_s": DT, "pixel_size_m": PIXEL, "times_s": times,
        "start_time": "2024-05-01T10:00:00"})
    stack, meta = both(p)
    np.testing.assert_array_equal(stack, movie)
    assert meta["format"] == "tiff" and meta["source"] == str(p)
    assert meta["frame_interval_s"] == DT and meta["pixel_size_m"] == PIXEL
    np.testing.assert_array_equal(meta["times_s"], times)
    assert meta["start_time"] == "2024-05-01T10:00:00"


def test_tiff_size1_axes_and_big_endian(tmp_path, movie):
    p = tmp_path / "m.tif"
    tifffile.imwrite(p, movie[:, None], byteorder=">", metadata={"axes": "TCYX"})
    stack, meta = both(p)
    np.testing.assert_array_equal(stack, movie)
    assert "frame_interval_s" not in meta and "times_s" not in meta


def test_ome_tiff_times_and_pixel_size(tmp_path, movie):
    p = tmp_path / "m.ome.tif"
    delta = [1.5, 3.5, 5.5, 7.5, 9.5, 11.5]
    tifffile.imwrite(p, movie, compression="zlib", metadata={
        "axes": "TYX", "AcquisitionDate": "2024-05-01T10:00:00", "PhysicalSizeX": 50, "PhysicalSizeXUnit": "nm",
        "TimeIncrement": 2000.0, "TimeIncrementUnit": "ms",
        "Plane": {"DeltaT": delta, "DeltaTUnit": ["s"] * 6}})
    stack, meta = both(p)
    np.testing.assert_array_equal(stack, movie)
    assert meta["format"] == "ome-tiff"
    assert meta["frame_interval_s"] == pytest.approx(2.0) and meta["pixel_size_m"] == pytest.approx(PIXEL)
    np.testing.assert_allclose(meta["times_s"], delta)
    assert meta["start_time"] == "2024-05-01T10:00:00"
    q = tmp_path / "um.ome.tif"  # OME's default units: µm and s
    tifffile.imwrite(q, movie, metadata={"axes": "TYX", "PhysicalSizeX": 0.05, "TimeIncrement": DT})
    _, meta = both(q)
    assert meta["pixel_size_m"] == pytest.approx(PIXEL) and meta["frame_interval_s"] == DT and "times_s" not in meta


def test_imagej_tiff(tmp_path, movie):
    p = tmp_path / "ij.tif"
    tifffile.imwrite(p, movie, imagej=True, resolution=(1 / 0.05, 1 / 0.05),
                     metadata={"axes": "TYX", "finterval": DT, "unit": "um"})
    stack, meta = both(p)
    np.testing.assert_array_equal(stack, movie)
    assert meta["frame_interval_s"] == DT and meta["pixel_size_m"] == pytest.approx(PIXEL)


def test_plain_tiff_records_nothing(tmp_path, movie):
    p = tmp_path / "plain.tif"
    with tifffile.TiffWriter(p) as w:
        for frame in movie:
            w.write(frame, photometric="minisblack", metadata=None)
    stack, meta = both(p)
    np.testing.assert_array_equal(stack, movie)
    assert set(meta) == {"source", "format"}


def test_example_movie_still_reads():
    from pathlib import Path

    import lithmap

    ex = Path(lithmap.__file__).parent / "data" / "example_movie.tif"
    stack, meta = _open_stack(ex)
    np.testing.assert_array_equal(stack, tifffile.imread(ex))
    assert meta["frame_interval_s"] == 120.0 and meta["pixel_size_m"] > 0
    lazy, _ = _open_stack(ex, lazy=True)
    np.testing.assert_array_equal(lazy[3:5, 10:20].compute(), stack[3:5, 10:20])


# -- folders and patterns -----------------------------------------------------------------------


def test_natural_key():
    names = ["frame_10.png", "frame_2.png", "Frame_1.png", "frame_2b.png", "frame_1.png"]
    assert sorted(names, key=_natural_key) == ["Frame_1.png", "frame_1.png", "frame_2.png", "frame_2b.png",
                                              "frame_10.png"]


def test_folder_of_png_frames_in_natural_order(tmp_path, movie):
    numbers = [1, 2, 3, 9, 10, 11]  # plain sorting would put 10 and 11 before 2
    for k, n in enumerate(numbers):
        Image.fromarray(movie[k]).save(tmp_path / f"frame_{n}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    stack, meta = both(tmp_path)
    np.testing.assert_array_equal(stack, movie)
    assert meta["format"] == "frames" and [p.rsplit("/", 1)[-1] for p in meta["files"]] == \
        [f"frame_{n}.png" for n in numbers]
    pattern = str(tmp_path / "frame_*.png")
    stack2, meta2 = both(pattern)
    np.testing.assert_array_equal(stack2, movie)
    assert meta2["source"] == pattern and meta2["files"] == meta["files"]


def test_folder_of_tiff_frames_takes_the_pixel_size_of_the_first(tmp_path, movie):
    for k in range(6):
        tifffile.imwrite(tmp_path / f"t{k}.tif", movie[k], metadata={"pixel_size_m": PIXEL})
    stack, meta = both(tmp_path)
    np.testing.assert_array_equal(stack, movie)
    assert meta["pixel_size_m"] == PIXEL


def test_lazy_folder_reads_nothing_until_computed(tmp_path, movie, monkeypatch):
    for k in range(6):
        Image.fromarray(movie[k]).save(tmp_path / f"f{k}.png")
    calls = []
    real = movies._read_image_file
    monkeypatch.setattr(movies, "_read_image_file", lambda f: calls.append(f) or real(f))
    lazy, _ = _open_stack(tmp_path, lazy=True, chunk_frames=2)
    assert calls == []
    np.testing.assert_array_equal(lazy[2:4].compute(), movie[2:4])
    assert len(calls) == 2


def test_frame_folder_errors(tmp_path, movie):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(LithmapError, match=named(empty) + " has no TIFF or PNG frames"):
        _open_stack(empty)
    with pytest.raises(LithmapError, match="matches no frame files"):
        _open_stack(str(tmp_path / "nothing_*.png"))
    odd = tmp_path / "odd"
    odd.mkdir()
    for k in range(4):
        Image.fromarray(movie[k] if k != 2 else movie[k, :16]).save(odd / f"f{k}.png")
    Image.fromarray(movie[0, :10]).save(odd / "f3.png")
    for lazy in (False, True):
        with pytest.raises(LithmapError, match=named(odd / "f2.png") + r".*shape \(16, 40\)"):
            _open_stack(odd, lazy=lazy)
    colour = tmp_path / "colour"
    colour.mkdir()
    for k in range(2):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(colour / f"c{k}.png")
    with pytest.raises(LithmapError, match=named(colour / "c0.png") + ".*colour"):
        _open_stack(colour)


# -- HDF5 ---------------------------------------------------------------------------------------


def test_hdf5_dataset_path_attrs_and_time(tmp_path, movie):
    p = tmp_path / "scan.h5"
    with h5py.File(p, "w") as f:
        f.attrs["pixel_size_m"] = PIXEL  # found on a parent group
        g = f.create_group("entry/data")
        d = g.create_dataset("frames", data=movie, chunks=(1, 32, 40), compression="gzip")
        d.attrs["frame_interval_s"] = DT
        d.attrs["start_time"] = "2024-05-01T10:00:00"
        t = g.create_dataset("time", data=np.arange(6) * 10.0 + 3)
        t.attrs["units"] = "s"
        f.create_dataset("dark", data=movie[0])  # a 2D dataset is no candidate when a 3D one exists
    for spec in (f"{p}:/entry/data/frames", f"{p}:entry/data/frames", str(p)):
        stack, meta = both(spec)
        np.testing.assert_array_equal(stack, movie)
        assert meta["format"] == "hdf5" and meta["dataset"] == "/entry/data/frames" and meta["source"] == spec
        assert meta["frame_interval_s"] == DT and meta["pixel_size_m"] == PIXEL
        assert meta["start_time"] == "2024-05-01T10:00:00"
        np.testing.assert_array_equal(meta["times_s"], np.arange(6) * 10.0 + 3)
    lazy, _ = _open_stack(f"{p}:/entry/data/frames", lazy=True, chunk_frames=4)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(lazy)).compute(), movie)  # picklable for workers


def test_netcdf_time_coordinate_in_ms(tmp_path, movie):
    import xarray as xr

    p = tmp_path / "m.nc"
    ds = xr.Dataset({"intensity": (("time", "y", "x"), movie)}, coords={"time": np.arange(6) * 500.0})
    ds.time.attrs["units"] = "ms"
    ds.to_netcdf(p, engine="h5netcdf")
    stack, meta = both(f"{p}:/intensity")
    np.testing.assert_array_equal(stack, movie)
    np.testing.assert_allclose(meta["times_s"], np.arange(6) * 0.5)


def test_hdf5_errors(tmp_path, movie):
    p = tmp_path / "two.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("a", data=movie)
        f.create_dataset("b/c", data=movie)
    with pytest.raises(LithmapError, match=named(p) + r" has no dataset '/nope' \(3D datasets: /a, /b/c\)"):
        _open_stack(f"{p}:/nope")
    with pytest.raises(LithmapError, match="'/b' in HDF5 file " + named(p) + " is a group"):
        _open_stack(f"{p}:/b")
    with pytest.raises(LithmapError, match=named(p) + " has several 3D datasets"):
        _open_stack(p)
    with pytest.raises(LithmapError, match=named(tmp_path / "missing.h5") + " does not exist"):
        _open_stack(f"{tmp_path / 'missing.h5'}:/a")
    single = tmp_path / "one.h5"
    with h5py.File(single, "w") as f:
        f.create_dataset("img", data=movie[0])
    with pytest.raises(LithmapError, match="is a single image"):
        _open_stack(single)
    img, _ = _open_stack(single, require_stack=False)
    np.testing.assert_array_equal(img, movie[0])
    tif = tmp_path / "m.tif"
    tifffile.imwrite(tif, movie)
    with pytest.raises(LithmapError, match=named(tif) + " is not an HDF5 file"):
        _open_stack(f"{tif}:/data")
    cut = tmp_path / "cut.h5"
    cut.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    for lazy in (False, True):
        with pytest.raises(LithmapError, match=named(cut) + " is not a readable HDF5 file"):
            _open_stack(cut, lazy=lazy)


# -- TDMS ---------------------------------------------------------------------------------------

PROPS = {"width": 40, "height": 32, "frame_interval_s": DT, "pixel_size_m": PIXEL}


def write_tdms(path, movie, *, flat, props=PROPS, times=None, segments=1):
    from nptdms import ChannelObject, GroupObject, TdmsWriter

    with TdmsWriter(path) as w:
        w.write_segment([GroupObject("frames", properties=props)])
        for part in np.array_split(np.arange(len(movie)), segments):
            if flat:
                w.write_segment([ChannelObject("frames", "data", movie[part].ravel())])
            else:
                w.write_segment([ChannelObject("frames", f"frame_{k}", movie[k].ravel()) for k in part])
        if times is not None:
            w.write_segment([ChannelObject("frames", "time_s", np.asarray(times, float))])


@pytest.mark.parametrize("flat,segments", [(True, 1), (True, 3), (False, 1)])
def test_tdms_layouts(tmp_path, movie, flat, segments):
    p = tmp_path / "m.tdms"
    write_tdms(p, movie, flat=flat, times=np.arange(6) * DT + 1.0, segments=segments)
    stack, meta = both(p)
    np.testing.assert_array_equal(stack, movie)
    assert meta["format"] == "tdms" and meta["group"] == "frames"
    assert meta["frame_interval_s"] == DT and meta["pixel_size_m"] == PIXEL
    np.testing.assert_array_equal(meta["times_s"], np.arange(6) * DT + 1.0)


def test_tdms_errors(tmp_path, movie):
    p = tmp_path / "nosize.tdms"
    write_tdms(p, movie, flat=True, props={"frame_interval_s": DT})
    with pytest.raises(LithmapError, match=named(p) + " needs positive whole 'width' and 'height'"):
        _open_stack(p)
    p = tmp_path / "odd.tdms"
    write_tdms(p, movie, flat=True, props={**PROPS, "width": 41})
    with pytest.raises(LithmapError, match=named(p) + " holds 7680 values, not a whole number of 32x41 frames"):
        _open_stack(p)
    good = tmp_path / "good.tdms"
    write_tdms(good, movie, flat=True)
    data = good.read_bytes()
    for n in (len(data) // 2, len(data) - 2 * 32 * 40 * 2):  # mid-frame, and on a frame boundary
        cut = tmp_path / f"cut{n}.tdms"
        cut.write_bytes(data[:n])
        for lazy in (False, True):
            with pytest.raises(LithmapError, match=named(cut) + " is truncated or corrupt"):
                _open_stack(cut, lazy=lazy)


# -- bad input ----------------------------------------------------------------------------------


def test_missing_empty_and_unknown_files(tmp_path):
    with pytest.raises(LithmapError, match=named(tmp_path / "nope.tif") + " does not exist"):
        _open_stack(tmp_path / "nope.tif")
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    with pytest.raises(LithmapError, match=named(empty) + " is an empty file"):
        _open_stack(empty)
    text = tmp_path / "movie.tif"
    text.write_text("hello, I am not a TIFF")
    with pytest.raises(LithmapError, match=named(text) + " is not a TIFF, PNG, HDF5 or TDMS file"):
        _open_stack(text)
    with pytest.raises(LithmapError, match="chunk_frames=0"):
        _open_stack(text, chunk_frames=0)


@pytest.mark.parametrize("kind", ["plain", "zlib", "ome"])
def test_truncated_tiff_is_a_clear_error(tmp_path, movie, kind, caplog):
    p = tmp_path / "full.tif"
    kw = {"plain": {"metadata": {"axes": "TYX"}}, "zlib": {"compression": "zlib", "metadata": {"axes": "TYX"}},
          "ome": {"metadata": {"axes": "TYX", "TimeIncrement": DT}}}[kind]
    tifffile.imwrite(tmp_path / ("full.ome.tif" if kind == "ome" else "full.tif"), movie, **kw)
    if kind == "ome":
        p = tmp_path / "full.ome.tif"
    data = p.read_bytes()
    for n in (12, 300, len(data) // 2, len(data) - 40):
        cut = tmp_path / f"cut{n}.tif"
        cut.write_bytes(data[:n])
        for lazy in (False, True):
            with pytest.raises(LithmapError, match=named(cut)) as err:
                stack, _ = _open_stack(cut, lazy=lazy)
                np.asarray(stack)
            assert "\n" not in str(err.value) and re.search("truncated|corrupt|not a readable", str(err.value))
    assert not [r for r in caplog.records if r.name == "tifffile"]  # no tifffile log noise


def test_single_image_needs_frames_unless_allowed(tmp_path, movie):
    for p, write in ((tmp_path / "one.tif", lambda p: tifffile.imwrite(p, movie[0])),
                     (tmp_path / "one.png", lambda p: Image.fromarray(movie[0]).save(p))):
        write(p)
        for lazy in (False, True):
            with pytest.raises(LithmapError, match=named(p) + re.escape(
                    " is a single image (y, x); a movie needs frames (time, y, x)")):
                _open_stack(p, lazy=lazy)
            img, _ = _open_stack(p, lazy=lazy, require_stack=False)
            np.testing.assert_array_equal(np.asarray(img), movie[0])


def test_colour_and_multichannel_tiffs_are_refused(tmp_path):
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((3, 16, 16, 3), np.uint8), photometric="rgb")
    with pytest.raises(LithmapError, match=named(rgb) + " is a colour image"):
        _open_stack(rgb)
    ch = tmp_path / "ch.tif"
    tifffile.imwrite(ch, np.zeros((3, 2, 16, 16), np.uint16), metadata={"axes": "TCYX"})
    with pytest.raises(LithmapError, match=named(ch) + " has 2 channels"):
        _open_stack(ch)


# -- frame times --------------------------------------------------------------------------------


def test_read_frame_times_seconds_and_iso(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("frame,time_s\n0,5.0\n1,15.0\n2,25.5\n")
    t, extra = _read_times_csv(p)
    np.testing.assert_array_equal(t, [5.0, 15.0, 25.5]) and not extra
    p.write_text("# exported\nframe;Timestamp\n0;2024-05-01T10:00:00\n1;2024-05-01T10:00:30.5\n"
                 "2;2024-05-01 10:02:00\n")
    t, extra = _read_times_csv(p)
    np.testing.assert_allclose(t, [0.0, 30.5, 120.0])
    assert extra == {"start_time": "2024-05-01T10:00:00"}
    p.write_text("time (ms)\n0\n250\n500\n")
    np.testing.assert_allclose(_read_times_csv(p)[0], [0, 0.25, 0.5])
    p.write_text("0\n10\n20\n")  # one column, no header
    np.testing.assert_array_equal(_read_times_csv(p)[0], [0, 10, 20])


def test_read_frame_times_errors(tmp_path):
    p = tmp_path / "t.csv"
    with pytest.raises(LithmapError, match=named(p) + " does not exist"):
        _read_times_csv(p)
    p.write_text("time\n0\n10\n10\n30\n")
    with pytest.raises(LithmapError, match=named(p) + r" is not increasing: time 2 \(line 4\)"):
        _read_times_csv(p)
    p.write_text("frame,value\n0,1\n")
    with pytest.raises(LithmapError, match=named(p) + " has no time column"):
        _read_times_csv(p)
    p.write_text("time\n0\nsoon\n")
    with pytest.raises(LithmapError, match=named(p) + " line 3: 'soon' is not a finite time"):
        _read_times_csv(p)
    p.write_text("timestamp\n2024-05-01T10:00:00\nlater\n")
    with pytest.raises(LithmapError, match=named(p) + " line 3: 'later' is not a time in seconds or an ISO date-time"):
        _read_times_csv(p)


def test_frame_times_precedence_and_checks(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("time\n1\n2\n4\n")
    meta = {"source": "m.tif", "times_s": np.array([0.0, 5.0, 7.0]), "frame_interval_s": 10.0}
    np.testing.assert_array_equal(_frame_times(meta, 3, csv)[0], [1, 2, 4])  # a given CSV first
    np.testing.assert_array_equal(_frame_times(meta, 3, str(csv))[0], [1, 2, 4])
    np.testing.assert_array_equal(_frame_times(meta, 3, 3.0)[0], [0, 3, 6])  # or a given interval
    np.testing.assert_array_equal(_frame_times(meta, 3, "3 s")[0], [0, 3, 6])
    np.testing.assert_array_equal(_frame_times(meta, 3, [1.0, 2.0, 3.5])[0], [1, 2, 3.5])  # or given times
    np.testing.assert_array_equal(_frame_times(meta, 3)[0], [0, 5, 7])  # then the file's times
    np.testing.assert_array_equal(_frame_times({"frame_interval_s": 10.0}, 3)[0], [0, 10, 20])  # then its interval
    with pytest.raises(LithmapError, match=named(csv) + " gives 3 times for 4 frames"):
        _frame_times(meta, 4, csv)
    with pytest.raises(LithmapError, match="'m.tif' is not increasing: time 2"):
        _frame_times({**meta, "times_s": np.array([0.0, 5.0, 5.0])}, 3)
    with pytest.raises(LithmapError, match="times=-1"):
        _frame_times(meta, 3, -1)
    with pytest.raises(LithmapError, match="times='soon' is invalid"):
        _frame_times(meta, 3, "soon")
    with pytest.raises(LithmapError, match="times is not increasing"):
        _frame_times(meta, 3, [0, 2, 1])
    with pytest.raises(LithmapError, match="'m.tif' records no frame times"):
        _frame_times({"source": "m.tif"}, 3)


def test_lazy_uncompressed_tiff_is_memory_mapped(tmp_path, movie):
    p = tmp_path / "m.tif"
    tifffile.imwrite(p, movie, metadata={"axes": "TYX"})
    src = movies._open_source(p)
    lazy = src.to_dask(2)
    np.testing.assert_array_equal(lazy[1:3].compute(), movie[1:3])
    assert isinstance(src._handle, np.memmap)
