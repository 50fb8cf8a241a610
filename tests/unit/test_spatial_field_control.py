"""Error-controlled field sub-stepping (``FieldSolver.advance(..., rtol=)``).

The controller doubles each field's sub-step count until the n and 2n solutions of the call agree to the
tolerance and takes their Richardson extrapolation; these tests hold it to the tolerance against a fine
reference on a point source switched on at t = 0 with decay and uptake, check the extrapolation's second
order, its determinism (threads, a restored hint) and its input checks.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest

from tmesim.errors import InputError
from tmesim.spatial import FieldSolver, FieldSpec, Lattice

N = 41
DX = 20.0


def _point_source(rtol_specs=None):
    """A 2D 41 x 41 lattice (20 um), one cytokine-like field (D = 6,000 um^2/min, decay 0.002/min) taken up
    at 0.01/min everywhere, and an oxygen-like stiff field (D = 1e5, decay 0.1, Dirichlet 38 mmHg, uptake
    10/min in a 7 x 7 patch); the centre voxel releases 1 unit/min of the first from t = 0."""
    lat = Lattice((N, N), DX)
    specs = [FieldSpec("ifng", "pM", 6000.0, 0.002),
             FieldSpec("oxygen", "mmHg", 1e5, 0.1, boundary="dirichlet", boundary_value=38.0, initial_value=38.0)]
    export = np.zeros((2, N, N))
    export[0, N // 2, N // 2] = 1.0
    uptake = np.zeros((2, N, N))
    uptake[0] = 0.01
    uptake[1, N // 2 - 3:N // 2 + 4, N // 2 - 3:N // 2 + 4] = 10.0
    return lat, specs, dict(export=export, uptake=uptake)


def _rel_l2(a, ref):
    return np.linalg.norm((a - ref).reshape(len(a), -1), axis=1) / np.linalg.norm(ref.reshape(len(ref), -1), axis=1)


def _reference(lat, specs, src, values, duration, n=4096):
    """Richardson extrapolation of n/2 and n fixed sub-steps: second order, far below the tolerances."""
    out = []
    for m in (n // 2, n):
        s = FieldSolver(lat, specs, values=values)
        s.advance(duration, duration / m, **src)
        out.append(s.values.copy())
    return 2.0 * out[1] - out[0]


@pytest.mark.parametrize("rtol", [1e-2, 1e-3])
def test_controller_meets_its_tolerance_on_a_point_source_switched_on(rtol):
    lat, specs, src = _point_source()
    solver = FieldSolver(lat, specs)
    for step in range(3):   # the transient right after the source starts, then two more cell steps
        start = solver.values.copy()
        solver.advance(6.0, 6.0, rtol=rtol, **src)
        err = _rel_l2(solver.values, _reference(lat, specs, src, start, 6.0))
        assert (err <= rtol).all(), (step, err, solver.last_substeps)
        assert (solver.values >= 0).all()
    # the fixed 1-min step misses 1% in the first cell step (docs/spatial-fields.md: ~6%)
    fixed = FieldSolver(lat, specs)
    fixed.advance(6.0, 1.0, **src)
    assert _rel_l2(fixed.values, _reference(lat, specs, src, np.stack([np.zeros((N, N)), np.full((N, N), 38.0)]),
                                            6.0))[0] > 0.01


def test_controller_takes_fewer_substeps_once_quasi_steady():
    lat, specs, src = _point_source()
    solver = FieldSolver(lat, specs)
    solver.advance(6.0, 6.0, rtol=0.01, **src)
    first = solver.last_substeps.copy()
    for _ in range(40):
        solver.advance(6.0, 6.0, rtol=0.01, **src)
    assert solver.last_substeps[0] < first[0], (first, solver.last_substeps)


def test_richardson_extrapolation_of_the_scheme_is_second_order():
    """A cosine mode with uniform uptake: the scheme is first order, and 2 c_2n - c_n second order."""
    lat = Lattice((1, 64), 10.0)
    x = (np.arange(64) + 0.5) * 10.0
    c0 = (1.0 + 0.5 * np.cos(2 * math.pi * x / 640.0))[None, None, :]
    spec = [FieldSpec("a", "uM", 2000.0, 0.05)]
    lam = 2000.0 * (2 - 2 * math.cos(2 * math.pi / 64)) / 100.0   # the mode's discrete Laplacian eigenvalue
    t = 2.0
    exact = 1.0 * math.exp(-(0.05 + 0.2) * t) + 0.5 * math.exp(-(0.05 + 0.2 + lam) * t) * np.cos(
        2 * math.pi * x / 640.0)

    def run(n):
        s = FieldSolver(lat, spec, values=c0)
        s.advance(t, t / n, uptake=np.full((1, 1, 64), 0.2))
        return s.values[0, 0]

    ns = [4, 8, 16, 32, 64]
    be = {n: run(n) for n in ns}
    e1 = [np.abs(be[n] - exact).max() for n in ns[1:]]
    e2 = [np.abs(2 * be[n] - be[n // 2] - exact).max() for n in ns[1:]]
    order1 = [math.log2(e1[i] / e1[i + 1]) for i in range(len(e1) - 1)]
    order2 = [math.log2(e2[i] / e2[i + 1]) for i in range(len(e2) - 1)]
    assert all(0.9 < o < 1.1 for o in order1), order1
    assert all(o > 1.8 for o in order2[1:]), order2


_THREAD_SCRIPT = textwrap.dedent("""
    import hashlib, numpy as np
    from tmesim.spatial import FieldSolver, FieldSpec, Lattice
    rng = np.random.default_rng(5)
    lat = Lattice((19, 23, 29), 20.0)
    specs = [FieldSpec("oxygen", "mmHg", 1e5, 0.1, boundary="dirichlet", boundary_value=38.0, initial_value=38.0),
             FieldSpec("ifng", "pM", 6e3, 0.002), FieldSpec("il2", "pM", 6e3, 0.01)]
    s = FieldSolver(lat, specs)
    h = hashlib.sha256()
    for i in range(4):
        vox = rng.integers(0, lat.n_voxels, 800)
        src = rng.random((2, 3, 800))
        s.advance(6.0, 6.0, export=src[0] * (rng.random((3, 800)) < 0.1), uptake=10 * src[1], voxels=vox,
                  rtol=0.01)
        h.update(s.values.tobytes()); h.update(s.last_substeps.tobytes())
    print(h.hexdigest())
""")


def test_controlled_results_are_bit_identical_for_one_and_two_threads(digests_by_thread_count):
    one, two = digests_by_thread_count(_THREAD_SCRIPT)
    assert len(one) == 64 and one == two


def test_a_solver_restored_with_values_and_hint_continues_bit_identically():
    lat, specs, src = _point_source()
    whole = FieldSolver(lat, specs)
    for _ in range(4):
        whole.advance(6.0, 6.0, rtol=0.01, **src)
    part = FieldSolver(lat, specs)
    for _ in range(2):
        part.advance(6.0, 6.0, rtol=0.01, **src)
    resumed = FieldSolver(lat, specs, values=part.values.copy(), time=part.time)
    resumed.substep_hint[:] = part.substep_hint
    for _ in range(2):
        resumed.advance(6.0, 6.0, rtol=0.01, **src)
    assert np.array_equal(resumed.values, whole.values)
    assert np.array_equal(resumed.last_substeps, whole.last_substeps)


@pytest.mark.parametrize("kw, where", [(dict(rtol=0.0), "field_rtol"), (dict(rtol=1.0), "field_rtol"),
                                       (dict(rtol=float("nan")), "field_rtol"), (dict(rtol="x"), "field_rtol"),
                                       (dict(rtol=0.01, atol=-1.0), "field_atol")])
def test_bad_tolerances_are_input_errors(kw, where):
    lat, specs, src = _point_source()
    solver = FieldSolver(lat, specs)
    with pytest.raises(InputError) as err:
        solver.advance(6.0, 6.0, **kw, **src)
    assert where in str(err.value)
    assert solver.time == 0.0
