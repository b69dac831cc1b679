"""The napari viewer of issue 14: `lithmap view`, `lithmap.view_result`, and the napari reader plugin
(npe2 manifest), opened offscreen (QT_QPA_PLATFORM=offscreen) on a contrast result of the example
movie and a simulation of the same particle."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

import lithmap as lm
from lithmap.cli import app
from lithmap.errors import LithmapError
from lithmap.report import viewer as lv

with warnings.catch_warnings():  # napari's dependencies (npe2, app-model) still use pydantic-1 style fields
    warnings.simplefilter("ignore", DeprecationWarning)
    napari = pytest.importorskip("napari", reason='napari is not installed (pip install "lithmap[view]")')
    import npe2  # noqa: F401 - comes with napari; imported here under the same filter

pytestmark = [pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20"),
              pytest.mark.filterwarnings("ignore:System theme detection requires a Qt6 backend:UserWarning")]

MANIFEST = Path(lv.__file__).parent.parent / "napari.yaml"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A contrast result of the first 6 frames of the example movie and a simulation on its mask."""
    d = tmp_path_factory.mktemp("view")
    maps = lm.contrast_movie(lm.read_movie(lm.example_file("example_movie.tif"))[:6])
    sim = lm.simulate(maps["mask"], "Charge at C/3 for 10 minutes", material="nmc811", times="120s")
    return lm.write_result(maps, d / "movie.nc"), lm.write_result(sim, d / "run.nc"), maps, sim


def _answer_gl_queries():
    """Qt's offscreen platform has OpenGL only through an X server (GLX); without one the GL
    string and size queries napari makes when it sets up a layer return None and vispy fails.
    Answer them as a small GL 2 context would (nothing is drawn offscreen either way). Returns
    the function to restore, or None when a real context exists (a DISPLAY, xvfb-run)."""
    from qtpy.QtGui import QOpenGLContext
    from vispy.gloo import gl

    if QOpenGLContext().create():
        return None
    original = gl.glGetParameter

    def get_parameter(pname):
        try:
            value = original(pname)
        except AttributeError:  # glGetString returned None
            value = None
        return value if value else {gl.GL_MAX_TEXTURE_SIZE: 2048, 32883: 256}.get(pname, "")

    gl.glGetParameter = get_parameter
    return original


@pytest.fixture(scope="module")
def offscreen():
    """Qt on its offscreen platform for this module (no window appears, with or without a display)."""
    old = os.environ.get("QT_QPA_PLATFORM")
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from napari.qt import get_qapp

    qapp = get_qapp()
    assert qapp.platformName() == "offscreen"
    original = _answer_gl_queries()
    yield qapp
    if original is not None:
        from vispy.gloo import gl

        gl.glGetParameter = original
    if old is None:
        os.environ.pop("QT_QPA_PLATFORM", None)
    else:
        os.environ["QT_QPA_PLATFORM"] = old


def _summary(layers):
    return [(kw["name"], kind, tuple(np.shape(data)), kw["scale"], kw["translate"]) for data, kw, kind in layers]


def test_layers_of_a_contrast_result_and_a_simulation(results):
    movie, run, maps, sim = results
    layers = lv.result_layers(movie)
    by_name = {kw["name"]: (data, kw, kind) for data, kw, kind in layers}
    assert list(by_name) == ["movie: intensity (counts)", "movie: total contrast", "movie: mask", "movie: ring"]
    data, kw, kind = by_name["movie: total contrast"]
    assert kind == "image" and data.shape == maps.total_contrast.shape and kw["axis_labels"] == ("time", "y", "x")
    assert kw["scale"] == (120.0, 0.05, 0.05) and kw["units"] == ("second", "micrometer", "micrometer")
    lo, hi = kw["contrast_limits"]
    inside = maps.total_contrast.values[:, maps.mask.values > 0]
    assert lo == -hi and 0.5 * np.abs(inside).max() < hi <= np.abs(inside).max() and kw["colormap"] == "RdBu_r"
    assert kw["visible"] and not by_name["movie: intensity (counts)"][1]["visible"]  # the contrast is shown
    data, kw, kind = by_name["movie: mask"]
    assert kind == "labels" and data.shape == (80, 80) and int(data.sum()) == int(maps.mask.sum())
    ring, kw, _ = by_name["movie: ring"]  # -1 outside, rings 0-4: shifted to 0 background, 1-5
    assert ring.min() == 0 and ring.max() == 5 and list(kw["features"]["ring"]) == [-1, 0, 1, 2, 3, 4]

    (theta, kw, kind), (_, mkw, mkind) = lv.result_layers(run)
    assert (kw["name"], kind, mkw["name"], mkind) == ("run: theta", "image", "run: mask", "labels")
    assert theta.shape == sim.theta.shape and kw["contrast_limits"] == (0.0, 1.0) and kw["colormap"] == "viridis"
    # the simulation on the movie's own outline overlays it: the same µm grid, the same seconds
    assert kw["scale"] == by_name["movie: total contrast"][1]["scale"]
    assert kw["translate"] == by_name["movie: total contrast"][1]["translate"]
    # a Dataset (no file): no prefix; ``name`` gives one
    assert [k["name"] for _, k, _ in lv.result_layers(sim)] == ["theta", "mask"]
    assert [k["name"] for _, k, _ in lv.result_layers(sim, name="C/3")] == ["C/3: theta", "C/3: mask"]


def test_viewer_opens_offscreen_with_the_layers(results, offscreen):
    movie, run, maps, sim = results
    viewer = lv.view_result(movie, run, show=False)
    try:
        names = [layer.name for layer in viewer.layers]
        assert names == ["movie: intensity (counts)", "movie: total contrast", "run: theta",
                         "movie: mask", "movie: ring", "run: mask"]  # images, then the labels on top
        contrast, theta = viewer.layers["movie: total contrast"], viewer.layers["run: theta"]
        assert isinstance(contrast, napari.layers.Image) and isinstance(theta, napari.layers.Image)
        assert all(isinstance(viewer.layers[n], napari.layers.Labels) for n in names[3:])
        assert contrast.data.shape == (6, 80, 80) and viewer.layers["movie: mask"].data.shape == (80, 80)
        assert np.allclose(contrast.scale, [120, 0.05, 0.05]) and np.allclose(theta.scale, [120, 0.05, 0.05])
        lo, hi = contrast.contrast_limits
        assert lo == pytest.approx(-hi) and hi > 0 and contrast.colormap.name == "RdBu_r"
        assert tuple(theta.contrast_limits) == (0.0, 1.0)
        # time is a slider (the first axis, not displayed) over the frames, in seconds
        assert viewer.dims.ndim == 3 and viewer.dims.displayed == (1, 2) and viewer.dims.nsteps[0] == 6
        assert tuple(viewer.dims.axis_labels) == ("time", "y", "x")
        assert viewer.dims.range[0].stop == pytest.approx(600.0) and viewer.dims.range[0].step == pytest.approx(120)
        # the layers overlay in world coordinates (s, µm): both read the same pixel at the same point
        y, x = np.argwhere(maps.mask.values > 0)[17]
        point = (240.0, float(maps.y[y]) * 1e6, float(maps.x[x]) * 1e6)
        assert contrast.get_value(point, world=True) == pytest.approx(float(maps.total_contrast[2, y, x]))
        assert theta.get_value(point, world=True) == pytest.approx(float(sim.theta[2, y, x]))
        viewer.dims.set_point(0, 480.0)
        assert viewer.dims.current_step[0] == 4
    finally:
        viewer.close()


def test_reader_plugin_returns_the_same_layers(results, offscreen):
    from npe2 import PluginManager, PluginManifest

    movie, run, _, _ = results
    for path in (movie, run):
        reader = lv.napari_get_reader(str(path))
        assert callable(reader)
        assert _summary(reader(str(path))) == _summary(lv.result_layers(path))
    assert _summary(lv.napari_get_reader([str(movie), str(run)])([str(movie), str(run)])) == \
        _summary(lv.result_layers(movie) + lv.result_layers(run))

    manifest = PluginManifest.from_file(MANIFEST)  # validates the npe2 schema
    (reader_contribution,) = manifest.contributions.readers
    assert set(reader_contribution.filename_patterns) == {"*.nc", "*.zarr"}
    (command,) = [c for c in manifest.contributions.commands if c.id == reader_contribution.command]
    assert command.python_name == "lithmap.report.viewer:napari_get_reader"

    # napari itself opens the files through the manifest (found through the package's entry point
    # when installed with it, else registered here for the test)
    pm = PluginManager.instance()
    pm.discover()
    try:
        pm.get_manifest("lithmap")
        registered = False
    except KeyError:
        pm.register(manifest)
        registered = True
    viewer = napari.Viewer(show=False)
    try:
        viewer.open(str(movie), plugin="lithmap")
        assert [layer.name for layer in viewer.layers] == [kw["name"] for _, kw, _ in lv.result_layers(movie)]
        assert isinstance(viewer.layers["movie: mask"], napari.layers.Labels)
    finally:
        viewer.close()
        if registered:
            pm.unregister("lithmap")


def test_reader_declines_what_is_not_a_result(tmp_path, results):
    table = tmp_path / "table.nc"
    xr.Dataset({"theta_mean": ("time", [0.97, 0.9])}).to_netcdf(table, engine="h5netcdf")
    broken = tmp_path / "broken.nc"
    broken.write_bytes(Path(results[0]).read_bytes()[:400])
    (tmp_path / "notes.txt").write_text("not a result")
    for p in (table, broken, tmp_path / "notes.txt", tmp_path / "missing.nc"):
        assert lv.napari_get_reader(str(p)) is None, p
    assert lv.napari_get_reader([str(results[0]), str(table)]) is None
    with pytest.raises(LithmapError, match="has no maps to view"):
        lv.result_layers(table)
    with pytest.raises(LithmapError, match="not a readable NetCDF"):
        lv.result_layers(broken)


def test_zarr_movie_is_read_lazily(tmp_path, results):
    maps = results[2]
    store = lm.write_result(maps, tmp_path / "movie.zarr")
    layers = lv.napari_get_reader(str(store))(str(store))
    data, kw, _ = layers[1]
    assert kw["name"] == "movie: total contrast" and type(data).__module__.startswith("dask")
    assert np.allclose(np.asarray(data[3]), maps.total_contrast.values[3])


def test_radial_results_become_sections():
    r = np.linspace(0, 2e-6, 41)
    theta = 0.5 + 0.4 * (r / 2e-6) ** 2 * np.array([[0.0], [1.0]])  # (time, r): flat, then rising to the surface
    hoop = (("time", "r"), 1e8 * theta - 5e7, {"units": "Pa"})
    sphere = xr.Dataset({"theta": (("time", "r"), theta), "hoop_stress": hoop},
                        coords={"time": ("time", [0.0, 60.0], {"units": "s"}), "r": ("r", r, {"units": "m"})})
    (data, kw, _), (stress, skw, _) = lv.result_layers(sphere)
    assert kw["name"] == "theta, central section" and data.shape == (2, lv.SECTION_PIXELS, lv.SECTION_PIXELS)
    c = lv.SECTION_PIXELS // 2
    assert data[1, c, c] == pytest.approx(0.5) and data[1, c, -1] == pytest.approx(0.9, abs=1e-6)
    assert data[1, c, c + 50] == pytest.approx(0.5 + 0.4 * 0.25, abs=1e-3)  # half the radius
    assert np.isnan(data[1, 0, 0])  # the corner lies outside the sphere
    assert kw["scale"][1:] == (0.02, 0.02) and kw["translate"][1:] == (-2.0, -2.0)
    assert skw["name"] == "hoop stress (MPa), central section" and np.nanmax(stress) == pytest.approx(40, rel=1e-3)
    assert skw["colormap"] == "RdBu_r" and skw["contrast_limits"][0] == -skw["contrast_limits"][1]

    z, rr = np.linspace(-1e-6, 1e-6, 5), np.linspace(0, 1e-6, 3)
    meridian = xr.Dataset({"theta": (("time", "z", "r"), np.arange(30.0).reshape(2, 5, 3) / 30)},
                          coords={"z": ("z", z, {"units": "m"}), "r": ("r", rr, {"units": "m"})})
    data, kw, _ = lv.result_layers(meridian)[0]
    assert kw["name"] == "theta, meridian section" and kw["axis_labels"] == ("time", "z", "x")
    assert data.shape == (2, 5, 5) and np.array_equal(data[:, :, 2:], meridian.theta.values)
    assert np.array_equal(data[:, :, :2], meridian.theta.values[:, :, :0:-1])  # mirrored about the axis


def test_maps_split_by_standard_and_clusters_as_labels():
    y, x = np.arange(3) * 1e-7, np.arange(4) * 1e-7
    w = np.random.default_rng(0).dirichlet([1, 1, 1], size=(3, 4))
    cluster = np.array([[-1, 0, 0, 1]] * 3)
    ds = xr.Dataset({"weights": (("y", "x", "standard"), w), "mean_valence": (("y", "x"), w @ [2.0, 3.0, 4.0])},
                    coords={"y": ("y", y, {"units": "m"}), "x": ("x", x, {"units": "m"}),
                            "standard": ["MnO", "Mn2O3", "MnO2"], "cluster": (("y", "x"), cluster)})
    layers = {kw["name"]: (data, kw, kind) for data, kw, kind in lv.result_layers(ds)}
    assert list(layers) == ["weights MnO", "weights Mn2O3", "weights MnO2", "mean valence", "cluster"]
    assert np.array_equal(layers["weights Mn2O3"][0], w[..., 1])
    assert layers["weights MnO"][1]["contrast_limits"] == (0, 1)
    assert layers["mean valence"][1]["visible"] and not layers["weights MnO"][1]["visible"]
    labels, kw, kind = layers["cluster"]
    assert kind == "labels" and np.array_equal(labels, cluster + 1) and kw["metadata"]["label_offset"] == 1


def test_importing_the_viewer_does_not_import_napari():
    code = "import sys, lithmap, lithmap.report.viewer, lithmap.cli; print('napari' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_napari_and_missing_display_are_one_line(results, monkeypatch):
    monkeypatch.setitem(sys.modules, "napari", None)  # import napari now raises ImportError
    with pytest.raises(LithmapError, match=r'pip install "lithmap\[view\]"') as err:
        lv.view_result(results[1], show=False)
    assert "\n" not in str(err.value)
    monkeypatch.delitem(sys.modules, "napari")
    monkeypatch.setattr(sys, "platform", "linux")
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(LithmapError, match="no display"):
        lv.view_result(results[1])
    with pytest.raises(LithmapError, match="no result to view"):
        lv.view_result()


def test_cli_view(results, offscreen, monkeypatch, tmp_path):
    runner = CliRunner()
    shown = []
    monkeypatch.setattr(napari, "run", lambda *a, **k: shown.append(True))  # the event loop returns at once
    res = runner.invoke(app, ["view", str(results[0]), str(results[1])])
    assert res.exit_code == 0, res.output
    assert shown == [True] and "6 layers" in res.output
    napari.current_viewer().close()

    res = runner.invoke(app, ["view", str(tmp_path / "missing.nc")])
    assert res.exit_code == 2 and res.output.strip().splitlines() == [
        f"error: result file {str(tmp_path / 'missing.nc')!r} does not exist"]
    table = tmp_path / "table.nc"
    xr.Dataset({"theta_mean": ("time", [0.97, 0.9])}).to_netcdf(table, engine="h5netcdf")
    res = runner.invoke(app, ["view", str(table)])
    assert res.exit_code == 2 and "has no maps to view" in res.output and len(res.output.strip().splitlines()) == 1
