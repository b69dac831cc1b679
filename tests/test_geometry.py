"""2D cross-sections agree with their 1D equivalents; masks give the image's own grid."""

import numpy as np
import pytest

import lithmap as lm

STEEP = lm.TabulatedDiffusivity([0.8, 1.0], [1e-16, 1e-18])
TIMES = [0, 300, 600, 1200, 1800]


@pytest.fixture(scope="module")
def cylinder():
    return lm.simulate(lm.Cylinder(1e-6), "Charge at C/3 for 30 minutes", diffusivity=STEEP, theta0=0.97,
                       times=TIMES, mesh_options={"surface_spacing": 2e-9, "growth": 1.04})


@pytest.fixture(scope="module")
def disc():
    return lm.simulate(lm.Disc(1e-6, pixel_size=25e-9), "Charge at C/3 for 30 minutes", diffusivity=STEEP, theta0=0.97,
                       times=TIMES)


def test_disc_2d_agrees_with_1d_cylinder(disc, cylinder):
    np.testing.assert_allclose(disc.theta_mean.values, cylinder.theta_mean.values, atol=1e-9)
    np.testing.assert_allclose(disc.theta_surface.values, cylinder.theta_surface.values, atol=2e-3)
    np.testing.assert_allclose(disc.theta_centre.values, cylinder.theta_centre.values, atol=2e-3)
    # the whole field: every pixel against the radial profile at its radius
    X, Y = np.meshgrid(disc.x.values, disc.y.values)
    inside = disc["mask"].values.astype(bool)
    rr = np.hypot(X, Y)[inside]
    for i in range(1, len(TIMES)):
        radial = np.interp(rr, cylinder.r.values, cylinder.theta.values[i])
        assert np.abs(disc.theta.values[i][inside] - radial).max() < 0.02
        assert np.abs(disc.theta.values[i][inside] - radial).mean() < 2e-3


def test_mask_of_a_circle_agrees_with_the_disc(disc):
    px = 25e-9
    n = 96
    yy, xx = (np.mgrid[0:n, 0:n] - (n - 1) / 2) * px
    mask = np.hypot(xx, yy) <= 1e-6
    shape = lm.from_mask(mask, px)
    assert shape.size == pytest.approx(1e-6, rel=0.01)  # equivalent radius from the smoothed outline
    ds = lm.simulate(shape, "Charge at C/3 for 30 minutes", diffusivity=STEEP, theta0=0.97, times=TIMES)
    assert ds.theta.shape == (len(TIMES), n, n)  # the image's own pixel grid
    assert np.isnan(ds.theta.values[1][~mask]).all() and np.isfinite(ds.theta.values[1][mask]).all()
    np.testing.assert_allclose(ds.theta_mean.values, disc.theta_mean.values, atol=2e-3)
    np.testing.assert_allclose(ds.theta_surface.values, disc.theta_surface.values, atol=5e-3)
    np.testing.assert_allclose(ds.theta_centre.values, disc.theta_centre.values, atol=5e-3)


def test_mask_errors_name_the_problem():
    with pytest.raises(lm.LithmapError, match="empty"):
        lm.from_mask(np.zeros((10, 10), bool), 50e-9)
    two = np.zeros((20, 20), bool)
    two[2:6, 2:6] = two[12:18, 12:18] = True
    with pytest.raises(lm.LithmapError, match="2 separate parts"):
        lm.from_mask(two, 50e-9)
    ring = np.zeros((20, 20), bool)
    ring[3:17, 3:17] = True
    ring[9:11, 9:11] = False
    with pytest.raises(lm.LithmapError, match="hole"):
        lm.from_mask(ring, 50e-9)


def test_ellipse_and_polygon_conserve_and_report_on_grid():
    e = lm.simulate(lm.Ellipse(1e-6, 0.6e-6, angle=0.3), "Charge at 1C for 5 minutes", diffusivity=1e-16, theta0=0.9,
                    mesh_options={"surface_spacing": 20e-9})
    area = np.pi * 1e-6 * 0.6e-6
    assert e.theta.dims == ("time", "y", "x")
    assert e.theta_mean.values[-1] == pytest.approx(0.9 - 5 / 60, abs=1e-10)
    sq = lm.Polygon([[0, 0], [1e-6, 0], [1e-6, 1e-6], [0, 1e-6]])
    p = lm.simulate(sq, "Charge at 1C for 5 minutes", diffusivity=1e-16, theta0=0.9,
                    mesh_options={"surface_spacing": 20e-9})
    assert p.theta_mean.values[-1] == pytest.approx(0.9 - 5 / 60, abs=1e-10)
    assert area > 0


@pytest.mark.parametrize("kind", ["star", "neck"])
def test_polygon_mesh_of_concave_outlines_stays_inside(kind):
    """Layers are kept by the side of the nearest boundary sample, not a point-in-polygon test:
    on a five-armed star and on a mask with a three-pixel neck every node lies in the outline,
    no triangle straddles it, and the mesh area is the polygon's."""
    from matplotlib.path import Path

    from lithmap.physics.geometry import MaskShape
    from lithmap.physics.mesh import polygon_mesh

    if kind == "star":
        th = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        r = 1e-6 * (1 + 0.4 * np.cos(5 * th))
        outline = np.c_[r * np.cos(th), r * np.sin(th)]
    else:
        m = np.zeros((60, 60), bool)
        m[5:55, 5:25] = True
        m[20:23, 25:50] = True  # a 150 nm neck to a round lobe
        yy, xx = np.mgrid[:60, :60]
        m |= (xx - 45) ** 2 + (yy - 15) ** 2 < 81
        outline = MaskShape(m, pixel_size=50e-9).boundary
    mesh = polygon_mesh(outline, surface_spacing=10e-9, max_spacing=50e-9, growth=1.17)
    path = Path(np.vstack([outline, outline[:1]]))
    on_or_in = path.contains_points(mesh.points, radius=1e-12) | path.contains_points(mesh.points, radius=-1e-12)
    assert on_or_in.all()
    # graded: offset layers lie along the whole outline (not just the outline and a core lattice)
    from scipy.spatial import cKDTree

    depth = cKDTree(mesh.points[mesh.boundary > 0]).query(mesh.points)[0]
    n_outline = int((mesh.boundary > 0).sum())
    assert ((depth > 5e-9) & (depth < 15e-9)).sum() > 0.6 * n_outline  # the first layer
    assert ((depth > 15e-9) & (depth < 30e-9)).sum() > 0.6 * n_outline  # the second
    centroids = mesh.points[mesh.triangles].mean(axis=1)
    assert path.contains_points(centroids).all()
    x, y = outline[:, 0], outline[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    assert mesh.volume.sum() == pytest.approx(area, rel=2e-3)


def test_few_point_triangle_search_agrees_with_matplotlibs_trifinder():
    """interpolation_matrix finds the triangles of a few points by testing every triangle (cheaper
    than building a trifinder): on a mask mesh, points inside, on vertices and outside get a
    triangle that contains them (or -1) exactly where matplotlib's trifinder says so, and the
    interpolated values agree."""
    from matplotlib.tri import Triangulation

    from lithmap.physics.geometry import MaskShape
    from lithmap.physics.mesh import _containing_triangle, interpolation_matrix

    m = np.zeros((40, 40), bool)
    yy, xx = np.mgrid[:40, :40]
    m[(xx - 20) ** 2 + (yy - 20) ** 2 < 150] = True
    m[18:22, 30:38] = True
    mesh = MaskShape(m, pixel_size=50e-9).mesh()
    rng = np.random.default_rng(0)
    lo, hi = mesh.points.min(axis=0), mesh.points.max(axis=0)
    xy = np.vstack([lo + rng.random((60, 2)) * (hi - lo), mesh.points[:10], hi + 1e-7])
    mine = _containing_triangle(mesh, xy)
    theirs = Triangulation(mesh.points[:, 0], mesh.points[:, 1], mesh.triangles).get_trifinder()(xy[:, 0], xy[:, 1])
    np.testing.assert_array_equal(mine >= 0, theirs >= 0)
    assert (mine >= 0).sum() > 20 and (mine < 0).sum() > 5
    # each found triangle contains its point (vertices: any triangle sharing them)
    t = mesh.triangles[mine[mine >= 0]]
    p = xy[mine >= 0]
    a, b, c = (mesh.points[t[:, k]] for k in range(3))
    cross = lambda u, v: u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]  # noqa: E731
    area = cross(b - a, c - a)
    l1, l2 = cross(p - a, c - a) / area, cross(b - a, p - a) / area
    assert np.all((l1 >= -1e-9) & (l2 >= -1e-9) & (1 - l1 - l2 >= -1e-9))
    # the matrix from either search interpolates a linear field exactly inside
    f = mesh.points @ np.array([2e6, -1e6]) + 0.5
    P = interpolation_matrix(mesh, xy)
    inside = mine >= 0
    np.testing.assert_allclose((P @ f)[inside], (xy @ np.array([2e6, -1e6]) + 0.5)[inside], atol=1e-9)
