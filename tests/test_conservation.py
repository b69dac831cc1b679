"""Lithium is conserved: θ_mean(t) + (integrated surface flux) = θ0 to round-off, in every step
type, in 1D and 2D. The flux integral is accumulated by the engine separately from the field."""

import numpy as np
import pytest

import lithmap as lm

STEEP = lm.TabulatedDiffusivity([0.8, 1.0], [1e-16, 1e-18])

CASES = {
    "sphere-cc-rest": (lm.Sphere(2e-6), "Charge at 1C for 20 minutes then Rest for 30 minutes then Discharge at C/2 "
                       "for 5 minutes", dict(diffusivity=STEEP)),
    "sphere-cccv-nmc811": (lm.Sphere(2e-6), "Charge at C/2 until 4.2 V then Discharge at 1C until 3.0 V then Hold at "
                           "3.0 V until C/50", dict(material="nmc811")),
    "disc-cc-rest": (lm.Disc(0.5e-6), "Charge at 1C for 10 minutes then Rest for 10 minutes", dict(diffusivity=STEEP)),
    "ellipse-cv-nmc811": (lm.Ellipse(0.6e-6, 0.4e-6), "Charge at 1C for 10 minutes then Hold at 3.9 V for 10 minutes",
                          dict(material="nmc811")),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_lithium_conserved(case):
    shape, protocol, kw = CASES[case]
    mesh_options = None if "sphere" in case else {"surface_spacing": 20e-9}
    ds = lm.simulate(shape, protocol, theta0=0.97, mesh_options=mesh_options, **kw)
    drift = ds.theta_mean.values + ds.delithiated.values - 0.97
    assert np.abs(drift).max() <= 1e-10 * 0.97
    # and the field itself stays physical
    assert np.nanmin(ds.theta.values) >= -1e-9 and np.nanmax(ds.theta.values) <= 1 + 1e-9
