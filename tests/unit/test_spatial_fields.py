"""The spatial engine's reaction-diffusion solver (tmesim.spatial.fields).

Convergence orders are measured against analytic or semi-discrete exact
solutions; the numpy reference in bench_fields is an independent oracle of
the same scheme. No absolute timings are asserted.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest

from tmesim.errors import InputError, SimulationError
from tmesim.spatial import FieldSolver, FieldSpec, Lattice
from tmesim.spatial.bench_fields import bench_diffusion, reference_step

SPLITTINGS = ("mixed", "sweep", "lie", "strang")


def _orders(dxs, errs):
    return [math.log(errs[i] / errs[i + 1]) / math.log(dxs[i] / dxs[i + 1]) for i in range(len(errs) - 1)]


def _random_sources(rng, F, shape, density):
    def mask():
        return rng.random((F,) + shape) < density
    S = rng.random((F,) + shape) * mask()
    T = rng.random((F,) + shape)
    E = 0.5 * rng.random((F,) + shape) * mask()
    U = 5.0 * rng.random((F,) + shape) * mask()
    return S, T, E, U


def _mixed_specs():
    return [FieldSpec("oxygen", "mmHg", 1e4, 0.1, boundary="dirichlet", boundary_value=2.0, initial_value=1.0),
            FieldSpec("ifng", "ng/mL", 300.0, 0.0, vessel_supply_rate=5.0, vessel_plasma_value=3.0),
            FieldSpec("il10", "ng/mL", 1e3, 0.02, boundary="dirichlet", boundary_value=0.5,
                      dirichlet_faces=("x_max",))]


# ---------------------------------------------------------------- the oracle

@pytest.mark.parametrize("shape", [(40, 37), (9, 70, 11), (1, 12), (66, 3, 130)])
def test_solver_matches_numpy_reference(shape):
    rng = np.random.default_rng(0)
    lat = Lattice(shape, 15.0)
    specs = _mixed_specs()
    F = len(specs)
    worst = 0.0
    for density in (0.002, 1.0):  # sparse sources: most lines take the precomputed path
        vessels = rng.random(shape) < 0.01
        v0 = rng.random((F,) + shape)
        S, T, E, U = _random_sources(rng, F, shape, density)
        for splitting in SPLITTINGS:
            solver = FieldSolver(lat, specs, splitting=splitting, vessels=vessels, values=v0)
            ref = v0.copy()
            for dt, src in ((0.05, (S, T, E, U)), (0.05, (None,) * 4), (2.0, (S, T, None, U))):
                solver.step(dt, *src)
                ref = reference_step(ref, lat, specs, dt, splitting, *src, vessels=vessels)
            worst = max(worst, np.max(np.abs(solver.values - ref)) / np.max(np.abs(ref)))
    assert worst < 1e-12


def test_bench_diffusion_reports_agreement_with_reference():
    out = bench_diffusion((12, 14, 16), n_fields=3, steps=2, dt=0.05, threads=1, reference_steps=2)
    assert out["max_rel_diff"] < 1e-12
    for key in ("solver_updates_per_s", "reference_updates_per_s", "speedup", "solver_ms_per_step"):
        assert out[key] > 0 and math.isfinite(out[key]), key
    assert out["n_voxels"] == 12 * 14 * 16 and out["threads"] == 1


def test_sparse_sources_equal_dense_sources():
    rng = np.random.default_rng(3)
    lat = Lattice((9, 30, 11), 15.0)
    specs = _mixed_specs()[:2]
    F = 2
    vessels = rng.random(lat.shape) < 0.01
    for splitting in SPLITTINGS:
        a = FieldSolver(lat, specs, splitting=splitting, vessels=vessels)
        b = FieldSolver(lat, specs, splitting=splitting, vessels=vessels)
        for step in range(5):
            n = int(rng.integers(1, 60))
            vox = rng.integers(0, lat.n_voxels, n)
            vox[-1] = vox[0]  # two cells in one voxel
            S, T, E, U = (rng.random((F, n)), rng.random((F, n)), rng.random((F, n)), 5 * rng.random((F, n)))
            dense = [a.zeros() for _ in range(4)]
            for arr, vals in zip(dense, (S, S * T, E, U)):
                np.add.at(arr.reshape(F, -1), (slice(None), vox), vals)
            dense[1] = np.divide(dense[1], dense[0], out=np.zeros_like(dense[1]), where=dense[0] > 0)
            if step == 2:
                a.step(0.1, *dense)
            elif step % 2:
                a.step(0.1, S, T, E, U, voxels=np.array(np.unravel_index(vox, lat.shape)).T)
            else:
                a.step(0.1, S, T, E, U, voxels=vox)
            b.step(0.1, *dense)
            np.testing.assert_allclose(a.values, b.values, rtol=1e-13, atol=1e-15)
        a.step(0.1, voxels=np.zeros(0, np.int64))
        b.step(0.1)
        np.testing.assert_allclose(a.values, b.values, rtol=1e-13, atol=1e-15)


def test_vessels_changed_mid_run_act_the_same_for_sparse_and_dense_sources():
    rng = np.random.default_rng(9)
    lat = Lattice((8, 9, 10), 10.0)
    specs = [FieldSpec("oxygen", "mmHg", 100.0, vessel_supply_rate=3.0, vessel_plasma_value=2.0),
             FieldSpec("ifng", "ng/mL", 10.0)]
    a, b = FieldSolver(lat, specs), FieldSolver(lat, specs)
    for step in range(6):
        if step == 2:
            vessels = rng.random(lat.shape) < 0.05
            a.set_vessels(vessels)
            b.set_vessels(vessels)
        if step == 4:
            a.set_vessels(None)
            b.set_vessels(None)
        vox = rng.integers(0, lat.n_voxels, 20)
        uptake = rng.random((2, 20))
        a.step(0.2, uptake=uptake, voxels=vox)
        dense = b.zeros()
        np.add.at(dense.reshape(2, -1), (slice(None), vox), uptake)
        b.step(0.2, uptake=dense)
        np.testing.assert_array_equal(a.values, b.values)
    assert a.snapshot()["vessels"] is None


def test_a_field_that_stays_zero_is_skipped_until_something_feeds_it():
    lat = Lattice((1, 12, 12), 10.0)
    specs = [FieldSpec("oxygen", "mmHg", 100.0, 0.1, boundary="dirichlet", boundary_value=2.0),
             FieldSpec("il12", "pM", 50.0, 0.01), FieldSpec("drug", "mg/L", 50.0, 0.0,
                                                           vessel_supply_rate=1.0, vessel_plasma_value=0.0)]
    vessels = np.zeros(lat.shape, dtype=bool)
    vessels[0, 2, 2] = True
    solver = FieldSolver(lat, specs, vessels=vessels)
    reference = FieldSolver(lat, specs, vessels=vessels)
    vox = np.array([5 * 12 + 5])
    uptake = np.array([[0.2], [0.2], [0.2]])
    solver.advance(1.0, 0.5, uptake=uptake, voxels=vox)
    assert solver._dormant().tolist() == [False, True, True]
    assert not solver.values[1:].any()
    # a source into IL-12, a bolus written into the drug's field, a plasma level: each wakes its field
    export = np.array([[0.0], [3.0], [0.0]])
    solver.advance(1.0, 0.5, export=export, uptake=uptake, voxels=vox)
    assert solver.values[1].max() > 0 and not solver.values[2].any()
    solver.values[2, 0, 6, 6] = 4.0
    assert not solver._dormant()[2]
    solver.advance(1.0, 0.5, uptake=uptake, voxels=vox)
    assert solver.values[2, 0, 6, 7] > 0  # it diffused
    plasma = FieldSolver(lat, [specs[2]], vessels=vessels)
    plasma.set_plasma([1.5])
    plasma.advance(1.0, 0.5)
    assert plasma.values[0, 0, 2, 2] > 0
    # skipping changes nothing: the same steps on a solver whose zero fields are never skipped
    reference._dormant = lambda: np.zeros(3, dtype=bool)
    reference.advance(1.0, 0.5, uptake=uptake, voxels=vox)
    reference.advance(1.0, 0.5, export=export, uptake=uptake, voxels=vox)
    reference.values[2, 0, 6, 6] = 4.0
    reference.advance(1.0, 0.5, uptake=uptake, voxels=vox)
    np.testing.assert_array_equal(solver.values, reference.values)


# ---------------------------------------------------------------- convergence

@pytest.mark.parametrize("orientation", ["x", "y", "z"])
@pytest.mark.parametrize("decay_as", ["decay", "uptake"])
def test_steady_profile_is_second_order_in_space(orientation, decay_as):
    """c = c0 cosh((W - x)/L) / cosh(W/L), L = sqrt(D/k): Dirichlet c0 at x = 0, zero flux at x = W."""
    D, k, c0, W = 1e3, 0.1, 5.0, 800.0
    L = math.sqrt(D / k)
    dxs = [20.0, 10.0, 5.0, 2.5]  # dx/L = 0.2 .. 0.025 (at dx = 40 the order is still 1.77)
    errs = []
    for dx in dxs:
        n = int(round(W / dx))
        shape = {"x": (1, n), "y": (n, 1), "z": (n, 1, 1)}[orientation]
        lat = Lattice(shape, dx)
        spec = FieldSpec("ifng", "ng/mL", D, k if decay_as == "decay" else 0.0, boundary="dirichlet",
                         boundary_value=c0, dirichlet_faces=(f"{orientation}_min",))
        # in 1D "sweep" is backward Euler of the whole operator, whose fixed point is the discrete steady
        # state at any step (Lie's fixed point carries a splitting error at this huge step)
        solver = FieldSolver(lat, [spec], splitting="sweep")
        uptake = None if decay_as == "decay" else np.full((1,) + shape, k)
        for _ in range(3):
            solver.step(1e6, uptake=uptake)
        x = (np.arange(n) + 0.5) * dx
        exact = c0 * np.cosh((W - x) / L) / np.cosh(W / L)
        errs.append(np.max(np.abs(solver.values.ravel() - exact)) / c0)
    orders = _orders(dxs, errs)
    assert errs[-1] < 2e-4
    assert all(1.85 < p < 2.1 for p in orders), orders


@pytest.mark.parametrize("splitting", SPLITTINGS)
def test_single_mode_decay_is_first_order_in_time(splitting):
    """A cosine mode is an eigenvector of the discrete zero-flux Laplacian: its semi-discrete decay is exact."""
    ny, nx, dx, D, decay, uptake, t_end = 16, 24, 10.0, 500.0, 0.05, 0.2, 2.0
    lat = Lattice((ny, nx), dx)
    mode = (np.cos(np.pi * (np.arange(ny) + 0.5) / ny)[:, None] * np.cos(np.pi * (np.arange(nx) + 0.5) / nx)[None, :])
    mu = sum(-(2 * D / dx ** 2) * (1 - math.cos(math.pi / n)) for n in (ny, nx))
    exact = np.exp(-(decay + uptake) * t_end) * (1.0 + 0.5 * np.exp(mu * t_end) * mode)
    errs = []
    ns = [4, 8, 16, 32]
    for n in ns:
        solver = FieldSolver(lat, [FieldSpec("tnf", "ng/mL", D, decay)], splitting=splitting,
                             values=(1.0 + 0.5 * mode)[None])
        for _ in range(n):
            solver.step(t_end / n, uptake=np.full((1, ny, nx), uptake))
        errs.append(np.max(np.abs(solver.values[0] - exact)))
    orders = _orders([1 / n for n in ns], errs)
    assert all(0.9 < p < 1.1 for p in orders), orders


def test_sources_in_the_sweeps_are_most_accurate_and_first_order():
    """Oxygen-like field, patchy uptake (non-commuting): error against a fine-step run, per splitting.

    The field is quasi-steady by t = 1 min, so the error is mostly the
    splitting's fixed-point error, O(dt) (observed order 0.8 between dt =
    0.02 and 0.01, still approaching 1).
    """
    rng = np.random.default_rng(1)
    lat = Lattice((15, 15, 15), 20.0)
    spec = FieldSpec("oxygen", "mmHg", 1e5, 0.1, boundary="dirichlet", boundary_value=38.0, initial_value=38.0)
    z, y, x = np.meshgrid(*(lat.centers(a) - 150.0 for a in range(3)), indexing="ij")
    ball = np.sqrt(x ** 2 + y ** 2 + z ** 2) < 100.0
    uptake = np.where(ball & (rng.random(lat.shape) < 0.7), rng.uniform(2, 12, lat.shape), 0.0)[None]
    t_end = 1.0
    ref = FieldSolver(lat, [spec])
    ref.advance(t_end, 5e-4, uptake=uptake)
    err = {}
    for splitting in SPLITTINGS:
        for dt in (0.02, 0.01):
            s = FieldSolver(lat, [spec], splitting=splitting)
            s.advance(t_end, dt, uptake=uptake)
            err[splitting, dt] = np.linalg.norm(s.values - ref.values) / np.linalg.norm(ref.values)
    # sources inside the sweeps: 2.5x below Lie and Strang here (Strang is not better than Lie on this mesh)
    for dt in (0.02, 0.01):
        assert err["sweep", dt] < 0.5 * min(err["lie", dt], err["strang", dt])
    for splitting in SPLITTINGS:
        order = math.log(err[splitting, 0.02] / err[splitting, 0.01]) / math.log(2)
        assert 0.7 < order < 1.2, (splitting, order)


def test_point_source_3d_approaches_screened_coulomb_profile():
    """Steady point source Q with decay + uptake: c(r) = Q exp(-r/L) / (4 pi D r), L = sqrt(D/(decay + U)).

    Starts from the analytic profile and relaxes to the scheme's steady state
    at dt = 0.01 min. Near the source the 7-point lattice and the split of
    the source over the x, y, z sweeps bias the on-axis values (+4 to +7%
    at r = 4 dx, falling with r); the decay length is checked along axes and
    diagonals together.
    """
    n, dx, D, decay, U, E = 51, 10.0, 1e3, 0.02, 0.13, 50.0
    L = math.sqrt(D / (decay + U))  # 81.6 um
    Q = E * dx ** 3  # amount per minute released in the centre voxel
    lat = Lattice((n, n, n), dx, origin=(-n * dx / 2,) * 3)
    c = n // 2
    zz, yy, xx = np.meshgrid(*(lat.centers(a) for a in range(3)), indexing="ij")
    r = np.sqrt(xx ** 2 + yy ** 2 + zz ** 2)
    analytic = Q * np.exp(-r / L) / (4 * np.pi * D * np.maximum(r, dx / 2))
    solver = FieldSolver(lat, [FieldSpec("ifng", "ng/mL", D, decay)], values=analytic[None])
    uptake = np.full((1,) + lat.shape, U)  # receptor-bearing cells everywhere
    export = np.zeros((1,) + lat.shape)
    export[0, c, c, c] = E
    solver.advance(5.0, 0.01, export=export, uptake=uptake)
    vals = solver.values[0]
    slopes = []
    for d in [(0, 0, 1), (0, 1, 0), (1, 0, 0), (1, 1, 1), (0, 1, 1)]:
        idx = [tuple(c + m * di for di in d) for m in range(1, n // 2)]
        rs = np.array([r[i] for i in idx])
        cs = np.array([vals[i] for i in idx])
        keep = (rs >= 4 * dx) & (rs <= L)
        rel = cs[keep] / (Q * np.exp(-rs[keep] / L) / (4 * np.pi * D * rs[keep])) - 1
        assert np.max(np.abs(rel)) < 0.08, (d, rel)
        far = rs[keep] >= 6 * dx
        assert np.max(np.abs(rel[far])) < 0.045, (d, rel)
        slopes.append(np.polyfit(rs[keep], np.log(cs[keep] * rs[keep]), 1)[0])
    assert -1 / np.mean(slopes) == pytest.approx(L, rel=0.05)


# ---------------------------------------------------------------- conservation and stability

@pytest.mark.parametrize("shape", [(60, 70), (20, 24, 28)])
@pytest.mark.parametrize("splitting", SPLITTINGS)
def test_closed_domain_conserves_mass(shape, splitting):
    rng = np.random.default_rng(2)
    lat = Lattice(shape, 10.0)
    specs = [FieldSpec("a", "ng/mL", 1e5), FieldSpec("b", "ng/mL", 30.0), FieldSpec("c", "ng/mL", 0.0)]
    solver = FieldSolver(lat, specs, splitting=splitting, values=rng.random((3,) + shape) * 10)
    start = solver.total()
    for i in range(100):
        solver.step(0.5 if i % 2 else 6.0)
    np.testing.assert_allclose(solver.total(), start, rtol=1e-12)
    assert np.all(np.isfinite(solver.values))


@pytest.mark.parametrize("splitting", SPLITTINGS)
def test_release_adds_exactly_its_amount(splitting):
    rng = np.random.default_rng(4)
    lat = Lattice((12, 13, 14), 20.0)
    solver = FieldSolver(lat, [FieldSpec("il2", "ng/mL", 2e3)], splitting=splitting)
    export = rng.random((1,) + lat.shape) * (rng.random((1,) + lat.shape) < 0.05)
    dt, steps = 0.3, 40
    for _ in range(steps):
        solver.step(dt, export=export)
    expected = export.sum() * lat.voxel_volume * dt * steps
    assert solver.total()[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dimensions", [2, 3])
@pytest.mark.parametrize("splitting", SPLITTINGS)
def test_vessels_hold_a_closed_domain_at_the_plasma_value(splitting, dimensions):
    """A closed domain supplied only by vessels: the plasma value everywhere is the steady state, at any step.

    Under "mixed" the vessels' source was added before the sweeps and their sink split over them, so a
    field started at the plasma value drifted to 0.94 of it with a spread of 0.17-1.2 (D = 3e4 um^2/min,
    2% vessels, 6-min steps) and a field started at 0 levelled off at 0.84 of it (D = 1e8)."""
    rng = np.random.default_rng(11)
    shape = (30, 30) if dimensions == 2 else (10, 10, 10)
    lat = Lattice(shape, 20.0)
    vessels = rng.random(shape) < 0.02
    vessels.flat[0] = True
    for D in (3e4, 1e8):
        for dt in (6.0, 1.0):
            spec = FieldSpec("drug", "mg/L", D, 0.0, vessel_supply_rate=10.0, vessel_plasma_value=2.0,
                             initial_value=2.0)
            solver = FieldSolver(lat, [spec], splitting=splitting, vessels=vessels)
            for _ in range(10):
                solver.advance(6.0, dt)
            np.testing.assert_allclose(solver.values, 2.0, rtol=1e-9)
            empty = FieldSolver(lat, [FieldSpec("drug", "mg/L", D, 0.0, vessel_supply_rate=10.0,
                                                vessel_plasma_value=2.0)], splitting=splitting, vessels=vessels)
            for _ in range(600):  # Lie exchanges at most a voxel's worth per step: slow to fill at 6 min
                empty.advance(6.0, dt)
            assert empty.values.mean() == pytest.approx(2.0, rel=1e-3)


@pytest.mark.parametrize("splitting", SPLITTINGS)
def test_six_minute_steps_stay_bounded_and_positive(splitting):
    """Oxygen-like field, strong uptake, 6-min steps: the maximum principle holds (0 <= c <= 38)."""
    rng = np.random.default_rng(5)
    lat = Lattice((21, 21, 21), 20.0)
    spec = FieldSpec("oxygen", "mmHg", 1e5, 0.1, boundary="dirichlet", boundary_value=38.0, initial_value=38.0)
    solver = FieldSolver(lat, [spec, FieldSpec("ifng", "ng/mL", 1e3, 0.0)], splitting=splitting)
    for _ in range(20):
        uptake = 50.0 * (rng.random((2,) + lat.shape) < 0.2)
        secretion = 10.0 * (rng.random((2,) + lat.shape) < 0.05)
        solver.step(6.0, secretion, np.full_like(secretion, 2.0), None, uptake)
    assert np.all(np.isfinite(solver.values))
    assert solver.values[0].min() >= 0 and solver.values[0].max() <= 38.0 + 1e-12
    assert solver.values[1].min() >= 0 and solver.values[1].max() <= 2.0 + 1e-12
    assert solver.time == pytest.approx(120.0)


# ---------------------------------------------------------------- biology: uptake shapes the field

def test_uptake_region_depletes_faster_than_elsewhere():
    lat = Lattice((40, 40), 10.0)
    solver = FieldSolver(lat, [FieldSpec("ifng", "ng/mL", 50.0, 0.01, initial_value=1.0)])
    uptake = solver.zeros()
    uptake[0, 5:15, 5:15] = 0.5  # a cluster of receptor-bearing cells
    solver.advance(5.0, 0.5, uptake=uptake)
    inside = solver.values[0, 7:13, 7:13].mean()
    outside = solver.values[0, 25:35, 25:35].mean()
    assert outside == pytest.approx(math.exp(-0.01 * 5.0), rel=1e-3)
    assert inside < 0.3 * outside


def test_ifng_reach_falls_as_uptake_by_surrounding_cells_rises():
    """The 1/e distance from a secreting cell is set by the uptake of the cells around it, not by one decay."""
    n, dx = 121, 10.0
    lat = Lattice((n, n), dx)
    c = n // 2
    reaches = []
    for u in (0.01, 0.1, 1.0):
        solver = FieldSolver(lat, [FieldSpec("ifng", "ng/mL", 1e3, 0.0)])
        export = solver.zeros()
        export[0, c, c] = 10.0
        uptake = np.full_like(export, u)
        uptake[0, c, c] = 0.0
        solver.advance(100.0 / u, 0.5 / u, export=export, uptake=uptake)
        solver.advance(0.2 / u, 0.01 / u, export=export, uptake=uptake)
        profile = solver.values[0, c, c + 1:]
        target = profile[0] / math.e
        j = int(np.argmax(profile < target))
        frac = (profile[j - 1] - target) / (profile[j - 1] - profile[j])
        reaches.append((j - 1 + frac) * dx)
    assert reaches[0] > reaches[1] > reaches[2]
    # screening length sqrt(D/U) shrinks sqrt(10)-fold per decade of uptake
    assert reaches[0] / reaches[1] > 2.0 and reaches[1] / reaches[2] > 2.0


# ---------------------------------------------------------------- determinism

_THREAD_SCRIPT = textwrap.dedent("""
    import hashlib, numpy as np
    from tmesim.spatial import FieldSolver, FieldSpec, Lattice
    rng = np.random.default_rng(11)
    lat = Lattice((23, 31, 37), 20.0)
    specs = [FieldSpec("oxygen", "mmHg", 1e5, 0.1, boundary="dirichlet", boundary_value=38.0, initial_value=38.0),
             FieldSpec("ifng", "ng/mL", 1e3, 0.0, vessel_supply_rate=2.0, vessel_plasma_value=1.0)]
    h = hashlib.sha256()
    for splitting in ("sweep", "lie", "strang"):
        s = FieldSolver(lat, specs, splitting=splitting, vessels=rng.random(lat.shape) < 0.01)
        for i in range(6):
            n = 3000
            vox = rng.integers(0, lat.n_voxels, n)
            src = rng.random((4, 2, n))
            if i % 2:
                s.step(0.37, src[0], src[1], src[2], 10 * src[3], voxels=vox)
            else:
                U = s.zeros(); np.add.at(U.reshape(2, -1), (slice(None), vox), 10 * src[3])
                s.step(2.0, uptake=U)
        h.update(s.values.tobytes())
        h.update(np.float64(s.total().sum()).tobytes())
    print(h.hexdigest())
""")


def test_results_are_bit_identical_for_one_and_two_threads(digests_by_thread_count):
    one, two = digests_by_thread_count(_THREAD_SCRIPT)
    assert len(one) == 64 and one == two


# ---------------------------------------------------------------- helpers

def test_total_mean_sample_and_snapshot():
    lat = Lattice((4, 5, 6), 10.0, origin=(0.0, -25.0, 100.0))
    vals = np.arange(2 * 120, dtype=float).reshape(2, 4, 5, 6)
    solver = FieldSolver(lat, [FieldSpec("a", "mM", 1.0), FieldSpec("b", "nM", 1.0)], values=vals, time=3.0)
    np.testing.assert_allclose(solver.total(), vals.reshape(2, -1).sum(axis=1) * 1000.0)
    np.testing.assert_allclose(solver.mean(), vals.reshape(2, -1).mean(axis=1))
    idx = np.array([[0, 0, 0], [3, 4, 5], [1, 2, 3]])
    np.testing.assert_array_equal(solver.sample(idx), vals[:, idx[:, 0], idx[:, 1], idx[:, 2]])
    snap = solver.snapshot()
    assert snap["names"] == ["a", "b"] and snap["units"] == ["mM", "nM"] and snap["time_min"] == 3.0
    assert snap["dims"] == ("field", "z", "y", "x")
    np.testing.assert_allclose(snap["coords_um"]["x"], 100.0 + 5.0 + 10.0 * np.arange(6))
    np.testing.assert_allclose(snap["coords_um"]["y"], -20.0 + 10.0 * np.arange(5))
    snap["values"][:] = -1.0  # a copy: the solver is untouched
    assert solver.values.min() == 0.0
    assert snap["specs"][1]["name"] == "b" and snap["vessels"] is None
    assert solver.field_index("b") == 1
    with pytest.raises(InputError, match="unknown field"):
        solver.field_index("c")


def test_gradient_central_differences_with_boundary_ghosts():
    lat = Lattice((5, 8), 10.0)
    x = lat.centers("x")
    y = lat.centers("y")
    vals = np.stack([np.broadcast_to(5.0 + 0.3 * x[None, :] - 0.1 * y[:, None], lat.shape)] * 2)
    specs = [FieldSpec("zf", "1", 1.0), FieldSpec("dir", "1", 1.0, boundary="dirichlet", boundary_value=2.0)]
    solver = FieldSolver(lat, specs, values=vals)
    idx = np.array([[2, 3], [0, 0], [4, 7]])
    g = solver.gradient(idx)
    assert g.shape == (2, 3, 2)
    np.testing.assert_allclose(g[:, 0, :], [[-0.1, 0.3], [-0.1, 0.3]])  # interior: exact for a linear field
    # zero flux: the ghost repeats the edge voxel, so the edge gradient is half the one-sided difference
    np.testing.assert_allclose(g[0, 1], [-0.1 / 2, 0.3 / 2])
    # Dirichlet 2 at the faces: ghost 2*2 - c
    c00 = vals[1, 0, 0]
    np.testing.assert_allclose(g[1, 1], [(vals[1, 1, 0] - (4 - c00)) / 20, (vals[1, 0, 1] - (4 - c00)) / 20])


def test_lattice_positions_and_voxels_round_trip():
    lat = Lattice((7, 8, 9), 20.0, origin=(-70.0, -80.0, -90.0))
    idx = np.array([[0, 0, 0], [6, 7, 8], [3, 2, 1]])
    np.testing.assert_array_equal(lat.voxel_of(lat.position(idx)), idx)
    np.testing.assert_allclose(lat.position([3, 4, 4]), [0.0, 10.0, 0.0])
    assert lat.voxel_volume == 8000.0 and lat.n_voxels == 504 and lat.axes == ("z", "y", "x")
    assert lat.describe_position((0, 0, 0)) == "x=-80 um, y=-70 um, z=-60 um"
    np.testing.assert_array_equal(lat.voxel_of([[1e9, -1e9, 0.0]]), [[6, 0, 4]])


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs, field, problem", [
    ({"diffusion": -1.0}, "fields.ifng.diffusion", "must be >= 0, got -1"),
    ({"diffusion": float("nan")}, "fields.ifng.diffusion", "must be finite"),
    ({"diffusion": 1.0, "decay": -0.1}, "fields.ifng.decay", "must be >= 0"),
    ({"diffusion": 1.0, "decay": float("inf")}, "fields.ifng.decay", "must be finite"),
    ({"diffusion": 1.0, "vessel_supply_rate": -2.0}, "fields.ifng.vessel_supply_rate", "must be >= 0"),
    ({"diffusion": 1.0, "boundary": "periodic"}, "fields.ifng.boundary", "must be one of"),
    ({"diffusion": 1.0, "boundary": "dirichlet", "boundary_value": -3.0}, "fields.ifng.boundary_value", ">= 0"),
    ({"diffusion": 1.0, "dirichlet_faces": ("x_min",)}, "fields.ifng.dirichlet_faces", "zero_flux"),
    ({"diffusion": 1.0, "boundary": "dirichlet", "dirichlet_faces": ("w_min",)}, "fields.ifng.dirichlet_faces",
     "unknown face"),
    ({"diffusion": "fast"}, "fields.ifng.diffusion", "must be a number"),
])
def test_field_spec_validates_itself(kwargs, field, problem):
    with pytest.raises(InputError) as err:
        FieldSpec("ifng", "ng/mL", **kwargs)
    assert err.value.field == field
    assert problem in err.value.problem
    assert err.value.fix


def test_field_spec_names_and_units_are_checked():
    with pytest.raises(InputError, match="identifier"):
        FieldSpec("IFN gamma", "ng/mL", 1.0)
    with pytest.raises(InputError) as err:
        FieldSpec("ifng", "", 1.0)
    assert err.value.field == "fields.ifng.unit"


@pytest.mark.parametrize("shape, dx, field", [
    ((0, 10), 10.0, "lattice.shape"),
    ((10,), 10.0, "lattice.shape"),
    ((2, 3, 4, 5), 10.0, "lattice.shape"),
    ((10, -3), 10.0, "lattice.shape"),
    ((10, 2.5), 10.0, "lattice.shape"),
    ((10, 10), 0.0, "lattice.dx"),
    ((10, 10), -5.0, "lattice.dx"),
    ((10, 10), float("nan"), "lattice.dx"),
])
def test_lattice_that_does_not_fit_is_rejected(shape, dx, field):
    with pytest.raises(InputError) as err:
        Lattice(shape, dx)
    assert err.value.field == field


def test_lattice_too_large_for_memory_is_an_input_error():
    lat = Lattice((100_000, 100_000, 1_000), 1.0)  # 1e13 voxels: no allocation is attempted
    with pytest.raises(InputError) as err:
        FieldSolver(lat, [FieldSpec("ifng", "ng/mL", 1.0)])
    assert err.value.field == "lattice.shape" and "GiB" in err.value.problem


def test_solver_rejects_inconsistent_set_up():
    lat = Lattice((10, 10), 10.0)
    with pytest.raises(InputError, match="duplicate"):
        FieldSolver(lat, [FieldSpec("a", "1", 1.0), FieldSpec("a", "1", 2.0)])
    with pytest.raises(InputError) as err:
        FieldSolver(lat, [FieldSpec("ifng", "1", 1.0, boundary="dirichlet", dirichlet_faces=("z_min",))])
    assert err.value.field == "fields.ifng.dirichlet_faces" and "2D" in err.value.problem
    with pytest.raises(InputError) as err:
        FieldSolver(Lattice((1, 10), 10.0), [FieldSpec("ifng", "1", 1.0, boundary="dirichlet",
                                                       dirichlet_faces=("y_max",))])
    assert "one voxel long" in err.value.problem
    with pytest.raises(InputError, match="splitting"):
        FieldSolver(lat, [FieldSpec("a", "1", 1.0)], splitting="adi")
    with pytest.raises(InputError) as err:
        FieldSolver(lat, [FieldSpec("a", "1", 1.0)], values=-np.ones((1, 10, 10)))
    assert err.value.field == "fields.a.values"
    with pytest.raises(InputError, match="shape"):
        FieldSolver(lat, [FieldSpec("a", "1", 1.0)], vessels=np.zeros((3, 3), bool))


def test_bad_sources_and_steps_are_input_errors():
    lat = Lattice((6, 7, 8), 10.0)
    solver = FieldSolver(lat, [FieldSpec("oxygen", "mmHg", 1.0), FieldSpec("ifng", "ng/mL", 1.0)])
    with pytest.raises(InputError) as err:
        solver.step(0.1, uptake=np.zeros((2, 6, 7)))
    assert err.value.field == "sources.uptake"
    uptake = solver.zeros()
    uptake[1, 2, 3, 4] = -1.0
    with pytest.raises(InputError) as err:
        solver.step(0.1, uptake=uptake)
    assert err.value.field == "sources.uptake[ifng]"
    assert "(2, 3, 4)" in err.value.problem and "x=45 um, y=35 um, z=25 um" in err.value.problem
    with pytest.raises(InputError) as err:
        solver.step(0.1, export=np.array([[1.0], [np.nan]]), voxels=np.array([5]))
    assert err.value.field == "sources.export[ifng]"
    with pytest.raises(InputError, match="together"):
        solver.step(0.1, secretion=solver.zeros())
    with pytest.raises(InputError) as err:
        solver.step(0.1, uptake=np.ones((2, 1)), voxels=np.array([lat.n_voxels]))
    assert err.value.field == "sources.voxels"
    for dt in (0.0, -1.0, float("nan")):
        with pytest.raises(InputError) as err:
            solver.step(dt)
        assert err.value.field == "dt"
    assert solver.time == 0.0


@pytest.mark.parametrize("splitting", SPLITTINGS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -5.0])
@pytest.mark.parametrize("shape", [(6, 7, 8), (6, 7, 1)])
def test_value_written_into_a_field_is_caught_where_it_was(splitting, bad, shape):
    """A NaN spreads along every line an implicit sweep touches: the check at the first read names its voxel."""
    lat = Lattice(shape, 10.0, origin=(0.0, 0.0, 1000.0))
    solver = FieldSolver(lat, [FieldSpec("oxygen", "mmHg", 1.0, initial_value=1.0),
                               FieldSpec("ifng", "ng/mL", 0.5, initial_value=1.0)], splitting=splitting)
    solver.step(0.5)
    where = (2, 3, shape[2] // 2)
    solver.values[(1,) + where] = bad
    with pytest.raises(SimulationError) as err:
        solver.step(0.25)
    msg = str(err.value)
    assert "field 'ifng'" in msg and "t = 0.5 min" in msg
    assert ("non-finite" if not np.isfinite(bad) else "negative") in msg
    assert f"voxel {where}" in msg
    assert lat.describe_position(where) in msg and " um" in msg
    assert solver.time == 0.5


@pytest.mark.parametrize("splitting", SPLITTINGS)
def test_field_overflowing_in_a_step_is_a_simulation_error(splitting):
    lat = Lattice((5, 6, 7), 10.0)
    solver = FieldSolver(lat, [FieldSpec("oxygen", "mmHg", 1.0), FieldSpec("ifng", "ng/mL", 0.5)],
                         splitting=splitting, values=np.full((2, 5, 6, 7), 1.5e308))
    export = solver.zeros()
    export[1] = 1e308
    with pytest.raises(SimulationError) as err:
        solver.step(1.0, export=export)
    msg = str(err.value)
    assert "field 'ifng' became non-finite" in msg and "t = 1 min" in msg and "voxel (" in msg
    assert solver.time == 0.0


def test_point_source_spreads_alike_along_every_axis():
    """The default splitting spreads one secreting cell's output alike along x and y at a cell-sized step
    (6 min), where D dt / dx^2 >> 1; "sweep" leaves a streak along the last axis swept."""
    lat = Lattice((30, 30), 20.0)
    spec = FieldSpec("ifng", "pM", 6000.0, 0.01)
    profiles = {}
    for splitting in ("default", "sweep"):
        fs = FieldSolver(lat, [spec]) if splitting == "default" else FieldSolver(lat, [spec], splitting="sweep")
        for _ in range(100):
            E = np.zeros((1, 30, 30))
            E[0, 15, 15] = 10.0
            fs.step(6.0, export=E, uptake=np.full((1, 30, 30), 0.05))
        v = fs.values[0]
        profiles[splitting] = (v[15, 16:19], v[16:19, 15])
    x, y = profiles["default"]
    np.testing.assert_allclose(x, y, rtol=1e-10)
    x, y = profiles["sweep"]
    assert (y > 3 * x).all()  # the documented streak of "sweep"


def _tumour_disc_oxygen(splitting, dt, dt_max_oxygen=None):
    """A 2D disc of tumour cells (uptake 10/min, PhysiCell's default) in a 1 mm square fed at its faces."""
    n = 50
    lat = Lattice((n, n), 20.0)
    yy, xx = np.mgrid[:n, :n]
    disc = np.hypot(yy - n / 2 + 0.5, xx - n / 2 + 0.5) * 20.0 < 300.0
    uptake = np.where(disc, 10.0, 0.0)[None]
    spec = FieldSpec("oxygen", "mmHg", 1e5, 0.1, boundary="dirichlet", boundary_value=38.0, initial_value=38.0,
                     dt_max=dt_max_oxygen)
    solver = FieldSolver(lat, [spec], splitting=splitting)
    solver.advance(30.0, dt, uptake=uptake)
    return solver.values[0]


def test_default_splitting_keeps_a_stiff_sink_at_a_long_step():
    """At a 1-min step (D dt/dx^2 = 250, U dt = 10) Lie's source step lets the uptake act at U/(1 + U dt):
    the disc stays oxygenated. "mixed" keeps the sink inside the sweeps and is 5x closer to a fine-step run."""
    ref = _tumour_disc_oxygen("lie", 0.002)
    assert ref[25, 25] < 5.0  # the disc's core is hypoxic
    err = {s: np.linalg.norm(_tumour_disc_oxygen(s, 1.0) - ref) / np.linalg.norm(ref) for s in ("mixed", "lie")}
    assert err["mixed"] < 0.2 * err["lie"]
    assert _tumour_disc_oxygen("lie", 1.0)[25, 25] > 20.0
    assert _tumour_disc_oxygen("mixed", 1.0)[25, 25] < 5.0


def test_a_field_with_its_own_step_takes_it_and_leaves_the_others_alone():
    lat = Lattice((20, 24), 20.0)
    rng = np.random.default_rng(11)
    uptake = np.where(rng.random((2,) + lat.shape) < 0.3, 10.0, 0.0)
    base = dict(boundary="dirichlet", boundary_value=38.0, initial_value=38.0)
    fast = FieldSolver(lat, [FieldSpec("oxygen", "mmHg", 1e5, 0.1, dt_max=0.1, **base),
                             FieldSpec("glucose", "mM", 1.2e4, 0.0, **base)])
    assert fast.advance(6.0, 1.0, uptake=uptake) == 60
    assert fast.time == pytest.approx(6.0)
    # each field equals a solver that steps it alone at its own step
    for f, (dt, spec) in enumerate([(0.1, FieldSpec("oxygen", "mmHg", 1e5, 0.1, **base)),
                                    (1.0, FieldSpec("glucose", "mM", 1.2e4, 0.0, **base))]):
        alone = FieldSolver(lat, [spec])
        alone.advance(6.0, dt, uptake=uptake[f:f + 1])
        np.testing.assert_array_equal(fast.values[f], alone.values[0])


@pytest.mark.parametrize("dt_max", [0.0, -1.0, float("nan"), "short"])
def test_field_step_must_be_a_positive_number(dt_max):
    with pytest.raises(InputError) as err:
        FieldSpec("oxygen", "mmHg", 1e5, dt_max=dt_max)
    assert err.value.field == "fields.oxygen.dt_max"
