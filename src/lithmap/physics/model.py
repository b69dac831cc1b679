"""The model: what the particle equations are, for a batch of runs, with no notion of time steps.

For every run's mesh (vertex-centred finite volumes, :mod:`lithmap.physics.mesh`) the state is
the node lithium fraction θ and the semi-discrete equation is

    V dθ/dt = g(θ) = −Σ_edges w·α·D(θ_face)·(θ_i − θ_j) − b·j(θ_surface)

This module gives the pieces a time integrator needs and nothing else:

- :meth:`ParticleModel.residual` — g(θ) and the flux derivatives the Jacobian is built from;
- :meth:`ParticleModel.jacobian` / :meth:`ParticleModel.assemble` — V + dh·(∂L/∂θ + b·dj/dθ);
- :meth:`ParticleModel.controls` / :meth:`ParticleModel.surface_flux` — the boundary flux j
  (m/s, + = delithiation): imposed by a current step, zero at rest, Butler–Volmer in a voltage
  hold;
- :meth:`ParticleModel.observables` — per-run voltage (V) and C-rate.

What the experiment imposes (which step each run is in) arrives as a :class:`BoundaryControl`;
how time advances is :mod:`lithmap.physics.solver`'s business.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from ..errors import LithmapError
from . import _kernels
from .materials import FARADAY, GAS_CONSTANT, Material
from .mesh import Mesh
from .protocol import StepKind

CURRENT = StepKind.CURRENT.code
VOLTAGE = StepKind.VOLTAGE.code


class BatchMesh:
    """The meshes of all runs concatenated into one block-diagonal graph, with the index maps
    (node → run, boundary nodes per run) and the operator pieces that never change."""

    def __init__(self, meshes: list[Mesh]):
        self.meshes = meshes
        self.chain = all(m.is_chain for m in meshes)
        sizes = np.array([m.n for m in meshes])
        self.offset = np.concatenate([[0], np.cumsum(sizes)])
        self.n = int(self.offset[-1])
        self.nrun = len(meshes)
        self.run_of_node = np.repeat(np.arange(self.nrun), sizes)
        self.volume = np.concatenate([m.volume for m in meshes])
        self.boundary = np.concatenate([m.boundary for m in meshes])
        self.edges = np.vstack([m.edges + o for m, o in zip(meshes, self.offset[:-1])])
        self.weight = np.concatenate([m.weight for m in meshes])
        self.edge_run = self.run_of_node[self.edges[:, 0]]
        self.bnodes = np.flatnonzero(self.boundary > 0)
        self.brun = self.run_of_node[self.bnodes]
        self.bweight = self.boundary[self.bnodes]
        self.b_offset = np.searchsorted(self.bnodes, self.offset[:-1])
        self.vol_run = np.add.reduceat(self.volume, self.offset[:-1])
        self.bnd_run = np.add.reduceat(self.bweight, self.b_offset)
        if self.chain:
            a = self.edges[:, 0]
            if not np.all(self.edges[:, 1] == a + 1):
                raise ValueError("radial meshes must have edges (i, i+1)")
            self.chain_pos = a
        else:
            self._pattern()

    def _pattern(self):
        """CSR sparsity of V + edge couplings, with the map from entries to CSR slots."""
        n, a, b = self.n, self.edges[:, 0], self.edges[:, 1]
        rows = np.concatenate([np.arange(n), a, a, b, b])
        cols = np.concatenate([np.arange(n), a, b, a, b])
        key = rows.astype(np.int64) * n + cols
        ukey, inv = np.unique(key, return_inverse=True)
        self.csr_indices = (ukey % n).astype(np.int32)
        self.csr_indptr = np.searchsorted(ukey // n, np.arange(n + 1)).astype(np.int32)
        self.slot_inv = inv
        self.nnz = ukey.size

    def per_run_max(self, x: np.ndarray) -> np.ndarray:
        """Largest value of a node array within each run."""
        if self.nrun == 1:
            return np.array([x.max()])
        return np.maximum.reduceat(x, self.offset[:-1])


@dataclasses.dataclass(frozen=True)
class BoundaryControl:
    """What the experiment imposes at each boundary node (one entry per boundary node).

    flux : m/s imposed by a current step (0 at rest and in holds).
    voltage : the step's value at the node: V in a hold (meaningless elsewhere).
    hold : True where the node's run is in a voltage hold (Butler–Volmer decides the flux).
    """

    flux: np.ndarray
    voltage: np.ndarray
    hold: np.ndarray
    any_hold: bool


class ParticleModel:
    """The discretised particle equations of a batch of runs (see the module docstring).

    Parameters
    ----------
    meshes : list of Mesh
        One mesh per run.
    material : Material
        D(θ), and for voltages and holds the OCV, exchange current density and c_max.
    alpha : float or array
        Scale factor on D, one for all runs or one per run.
    """

    def __init__(self, meshes, material: Material, alpha):
        self.mesh = b = BatchMesh(meshes)
        self.material = material
        R = b.nrun
        self.alpha = np.broadcast_to(np.asarray(alpha, dtype=float), (R,)).copy()
        if not np.all(np.isfinite(self.alpha) & (self.alpha > 0)):
            bad = self.alpha[~(np.isfinite(self.alpha) & (self.alpha > 0))][0]
            raise LithmapError(f"alpha={float(bad)!r} is invalid; expected a positive finite scale factor")
        self.alpha = self.alpha * material.migration_factor  # the migration closure scales D
        self.alpha_node = self.alpha[b.run_of_node]
        self.alpha_edge = self.alpha[b.edge_run]
        self.frac = material.capacity_fraction
        # j (m/s) per unit C-rate: total boundary flux empties frac of θ per hour at 1C
        self.rate_to_j = self.frac * b.vol_run / (b.bnd_run * 3600.0)
        self.has_voltage = material.ocv is not None
        self.has_kinetics = material.exchange_current is not None and material.c_max is not None
        self._table = None
        if _kernels.HAVE_NUMBA and hasattr(material.diffusivity, "table"):
            self._table = material.diffusivity.table()
            self._wa = np.ascontiguousarray(b.weight * self.alpha_edge)
            self._ea = np.ascontiguousarray(b.edges[:, 0])
            self._eb = np.ascontiguousarray(b.edges[:, 1])
        self.kT = GAS_CONSTANT * material.temperature / FARADAY  # RT/F, V
        self.bv_current = material.current_distribution == "butler-volmer"

    # ------------------------------------------------------------------ boundary
    def controls(self, kind: np.ndarray, value: np.ndarray) -> BoundaryControl:
        """The boundary control of steps of ``kind`` (codes of :class:`StepKind`, one per run)
        with ``value`` (C-rate or V, one per run)."""
        r = self.mesh.brun
        k = kind[r]
        val = value[r]
        cv = k == VOLTAGE
        return BoundaryControl(np.where(k == CURRENT, val * self.rate_to_j[r], 0.0), val, cv, bool(cv.any()))

    def surface_flux(self, y, ctl: BoundaryControl):
        """Boundary flux j (m/s, + = delithiation) at the boundary nodes and dj/dθ.

        In a voltage hold, symmetric Butler–Volmer: j = 2·j0(θ)/(F·c_max)·sinh((V − U(θ))/(2RT/F)).
        """
        j = ctl.flux.copy()
        dj = np.zeros_like(j)
        if self.bv_current:
            self._distribute(y, ctl, j)
        if ctl.any_hold:
            cv = ctl.hold
            th = y[self.mesh.bnodes[cv]]
            U, dU = self.material.ocv.evaluate(th)
            j0, dj0 = self.material.exchange_current.evaluate(th)
            held = ctl.voltage[cv]
            if self.material.counter_exchange_current is not None:
                held = self._particle_potential(cv, U, j0, held)
            x = (held - U) / (2 * self.kT)
            x = np.clip(x, -300, 300)
            sh, ch = np.sinh(x), np.cosh(x)
            scale = 2.0 / (FARADAY * self.material.c_max)
            j[cv] = scale * j0 * sh
            dj[cv] = scale * (dj0 * sh - j0 * ch * dU / (2 * self.kT))
        return j, dj

    def _bv_sums(self, V, runs, w_b, U, a):
        """Per run, Σ b·a·sinh(x) and its derivative in V, Σ b·a·cosh(x)/(2RT/F), at the particle
        potential V (per run), x = (V − U)/(2RT/F): the Butler–Volmer total of one particle."""
        x = np.clip((V[runs] - U) / (2 * self.kT), -300, 300)
        n = self.mesh.nrun
        return (np.bincount(runs, weights=w_b * a * np.sinh(x), minlength=n),
                np.bincount(runs, weights=w_b * a * np.cosh(x), minlength=n) / (2 * self.kT))

    def _particle_potential(self, cv, U, j0, held):
        """In a hold with a lithium-metal counter electrode the held value is the cell voltage
        V_p + η_Li(i): the particle potential V_p per run solves V_p + 2RT/F·asinh(i/(2·i0_Li)) =
        V_hold, i = F·c_max·Σ b·j(V_p) / Σ b (Newton, vectorised over runs); returned per node."""
        b = self.mesh
        runs, w_b = b.brun[cv], b.bweight[cv]
        a = 2.0 * np.maximum(j0, 1e-300)  # A/m² per unit sinh
        i0_li = self.material.counter_exchange_current
        area = np.bincount(runs, weights=w_b, minlength=b.nrun)
        area = np.where(area > 0, area, 1.0)
        target = np.zeros(b.nrun)
        target[runs] = held  # one held value per run
        Vp = target.copy()
        for _ in range(50):
            i, di = (v / area for v in self._bv_sums(Vp, runs, w_b, U, a))
            eta = 2 * self.kT * np.arcsinh(i / (2 * i0_li))
            f = Vp + eta - target
            fp = 1.0 + 2 * self.kT * di / (2 * i0_li * np.sqrt(1.0 + (i / (2 * i0_li)) ** 2))
            step = f / fp
            Vp -= step
            if np.all(np.abs(step) < 1e-13):
                break
        return Vp[runs]

    def _distribute(self, y, ctl: BoundaryControl, j):
        """Current steps of a ``current_distribution="butler-volmer"`` material, in place: the flux
        j_i = 2·j0(θ_i)/(F·c_max)·sinh((V − U(θ_i))/(2RT/F)) at one particle potential V per run,
        V found (Newton, vectorised over runs) so that Σ b_i·j_i is the imposed total; j is then
        scaled onto that total exactly. Its dj/dθ is left at 0: the true dj/dθ at fixed total current is
        a diagonal plus a rank-one coupling through V whose column sums vanish (the total cannot
        change); its diagonal alone would not, and each Newton correction would then move
        lithium that no flux carried. Without it Newton converges more slowly (2.4x the time of a
        uniform flux on a finely meshed ellipse) and lithium is conserved to round-off; the
        lagged coupling is safe while b·|dj/dθ| is small next to the diffusion conductance of a
        surface cell (4e-3 of it for lrtmo), and may stall Newton for a large j0 on a very fine
        mesh. At rest (zero total) there is no flux: the local exchange between surface points
        through the shared particle potential is not modelled."""
        b = self.mesh
        cc = (~ctl.hold) & (ctl.flux != 0)
        if not cc.any():
            return
        nodes, runs, w_b = b.bnodes[cc], b.brun[cc], b.bweight[cc]
        th = y[nodes]
        U, _ = self.material.ocv.evaluate(th)
        j0, _ = self.material.exchange_current.evaluate(th)
        a = 2.0 / (FARADAY * self.material.c_max) * np.maximum(j0, 1e-300)
        target = np.bincount(runs, weights=w_b * ctl.flux[cc], minlength=b.nrun)
        sw = np.bincount(runs, weights=w_b, minlength=b.nrun)
        sa = np.bincount(runs, weights=w_b * a, minlength=b.nrun)
        has = sw > 0
        V = np.zeros(b.nrun)
        V[has] = (np.bincount(runs, weights=w_b * U, minlength=b.nrun)[has] / sw[has]
                  + 2 * self.kT * np.arcsinh(target[has] / sa[has]))
        for _ in range(50):
            f, fp = self._bv_sums(V, runs, w_b, U, a)
            f = f - target
            step = np.where(has, f / np.where(fp > 0, fp, 1.0), 0.0)
            V -= step
            if np.all(np.abs(step) < 1e-13):
                break
        jj = a * np.sinh(np.clip((V[runs] - U) / (2 * self.kT), -300, 300))
        total = np.bincount(runs, weights=w_b * jj, minlength=b.nrun)
        jj *= np.where(total != 0, target / np.where(total != 0, total, 1.0), 1.0)[runs]
        j[cc] = jj

    # ------------------------------------------------------------------ residual and Jacobian
    def _edge_flux(self, y):
        """Edge fluxes φ = w α D(θ_face)(θ_a − θ_b) and their derivatives."""
        b = self.mesh
        a, bb = b.edges[:, 0], b.edges[:, 1]
        ya, yb = y[a], y[bb]
        D, dD = self.material.diffusivity.evaluate(0.5 * (ya + yb))
        w = b.weight * self.alpha_edge
        diff = ya - yb
        phi = w * D * diff
        pa = w * (D + 0.5 * dD * diff)
        pb = w * (-D + 0.5 * dD * diff)
        return phi, pa, pb

    def residual(self, y, ctl: BoundaryControl):
        """g(θ) (the right-hand side V dθ/dt) and ``parts = (pa, pb, j, dj)``, the edge-flux
        derivatives and boundary flux the Jacobian and the flux integral are built from."""
        b = self.mesh
        if self._table is not None:
            g, pa, pb = _kernels.edge_g(y, self._wa, self._ea, self._eb, *self._table)
        else:
            phi, pa, pb = self._edge_flux(y)
            g = -np.bincount(b.edges[:, 0], weights=phi, minlength=b.n)
            g += np.bincount(b.edges[:, 1], weights=phi, minlength=b.n)
        j, dj = self.surface_flux(y, ctl)
        g[b.bnodes] -= b.bweight * j
        return g, (pa, pb, j, dj)

    def _own(self, dh_node, parts):
        """The node terms V + dh·b·dj of the Jacobian (also its column sums)."""
        b = self.mesh
        own = b.volume.copy()
        own[b.bnodes] += dh_node[b.bnodes] * b.bweight * parts[3]
        return own

    def jacobian(self, dh_node, parts):
        """J = V + dh·(∂L/∂θ + b·dj) (the Jacobian of V·θ − dh·g): ``("tri", dl, d, du)`` for
        radial meshes, ``("sparse", dh_node, parts, column sums)`` in 2D (assembled on demand by
        :meth:`assemble`)."""
        b = self.mesh
        pa, pb, _, _ = parts
        own = self._own(dh_node, parts)
        if b.chain and _kernels.HAVE_NUMBA:
            return ("tri",) + _kernels.chain_jacobian(own, dh_node, pa, pb, b.chain_pos)
        if b.chain:
            dh_edge = dh_node[b.edges[:, 0]]
            diag = own.copy()
            np.add.at(diag, b.edges[:, 0], dh_edge * pa)
            np.add.at(diag, b.edges[:, 1], -dh_edge * pb)
            du = np.zeros(b.n - 1)
            dl = np.zeros(b.n - 1)
            du[b.chain_pos] = dh_edge * pb
            dl[b.chain_pos] = -dh_edge * pa
            return ("tri", dl, diag, du)
        return ("sparse", dh_node, parts, own)

    def assemble(self, dh_node, parts):
        """The sparse Jacobian V + dh·(∂L/∂θ + b·dj) in CSR, on the fixed sparsity pattern."""
        b = self.mesh
        pa, pb, _, _ = parts
        own = self._own(dh_node, parts)
        dh_edge = dh_node[b.edges[:, 0]]
        data = np.concatenate([own, dh_edge * pa, dh_edge * pb, -dh_edge * pa, -dh_edge * pb])
        vals = np.bincount(b.slot_inv, weights=data, minlength=b.nnz)
        return sp.csr_matrix((vals, b.csr_indices, b.csr_indptr), shape=(b.n, b.n))

    # ------------------------------------------------------------------ observables
    def flux_per_volume(self, j):
        """Run totals of the boundary flux j divided by the run's volume (dθ_mean/dt, 1/s)."""
        b = self.mesh
        return np.bincount(b.brun, weights=b.bweight * j, minlength=b.nrun) / b.vol_run

    def observables(self, y, ctl: BoundaryControl):
        """Per-run voltage (V; NaN without an OCV) and C-rate (+ = charge).

        The voltage is the boundary average of the OCV plus the Butler–Volmer overpotential
        (the held voltage in a hold)."""
        b = self.mesh
        j, _ = self.surface_flux(y, ctl)
        flux = np.bincount(b.brun, weights=b.bweight * j, minlength=b.nrun)
        c_rate = flux * 3600.0 / (self.frac * b.vol_run)
        V = self._voltage(y[b.bnodes], j, b.bweight, b.brun, b.nrun, ctl.hold, ctl.voltage)
        return V, c_rate

    def sample_voltage(self, r: int, theta, j):
        """The voltage of run ``r`` at samples of its node values ``theta`` (samples × nodes)
        under a uniform surface flux ``j`` (m/s, one per sample, no hold)."""
        b = self.mesh
        theta = np.asarray(theta)
        K = theta.shape[0]
        if not self.has_voltage:
            return np.full(K, np.nan)
        nodes = b.bnodes[b.b_offset[r]: b.b_offset[r + 1] if r + 1 < b.nrun else None] - b.offset[r]
        w = np.tile(b.boundary[b.offset[r] + nodes], K)
        group = np.repeat(np.arange(K), nodes.size)
        jj = np.repeat(np.asarray(j, dtype=float), nodes.size)
        off = np.zeros(jj.size, bool)
        return self._voltage(theta[:, nodes].ravel(), jj, w, group, K, off, np.zeros(jj.size))

    def _voltage(self, th, j, w, group, ngroup, hold, held):
        """Voltage per group (a run, or a sample) from the surface θ ``th``, flux ``j`` and weights
        ``w`` of its boundary nodes: the weighted mean of OCV + Butler–Volmer overpotential (the
        held value in a hold), plus the lithium-metal counter electrode's overpotential."""
        if not self.has_voltage:
            return np.full(ngroup, np.nan)
        U, _ = self.material.ocv.evaluate(th)
        if self.has_kinetics:
            j0, _ = self.material.exchange_current.evaluate(th)
            i = FARADAY * self.material.c_max * j
            eta = 2 * self.kT * np.arcsinh(i / (2 * np.maximum(j0, 1e-300)))
        else:
            eta = np.zeros_like(U)
        local = np.where(hold, held, U + eta)
        area = np.bincount(group, weights=w, minlength=ngroup)
        V = np.bincount(group, weights=w * local, minlength=ngroup) / area
        i0_li = self.material.counter_exchange_current
        if i0_li is not None:  # the lithium-metal counter electrode (symmetric BV, electrolyte at C_ref)
            held_any = np.bincount(group, weights=hold.astype(float), minlength=ngroup) > 0
            flux = np.bincount(group, weights=w * j, minlength=ngroup)
            i_mean = FARADAY * self.material.c_max * flux / area if self.has_kinetics else 0.0 * flux
            V = np.where(held_any, V, V + 2 * self.kT * np.arcsinh(i_mean / (2 * i0_li)))
        return V
