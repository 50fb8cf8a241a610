"""The unsplit implicit field scheme (``FieldSolver(..., scheme="implicit")``, ``spatial.field_scheme``).

Each sub-step solves ``(I (1 + h lambda) + h K - h D L) c_new = c + h G`` by GMRES preconditioned with one LOD
step. These tests hold it to a sparse direct solve of the same system, to a fine-step reference (below the
LOD scheme's error at the same step), to first order in time, to mass conservation, to thread-count
invariance, and check the configuration's error line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve
from test_spatial_field_control import _point_source, _reference, _rel_l2

from tmesim.errors import InputError
from tmesim.spatial import FieldSolver, FieldSpec, Lattice


def _laplacian_1d(n, lo_dirichlet, hi_dirichlet):
    """Cell-centred 1D Laplacian (times dx^2): zero flux, or a Dirichlet face through the ghost 2 c_b - c."""
    main = np.full(n, -2.0)
    main[0] = -1.0 - (2.0 if lo_dirichlet else 0.0)
    main[-1] = -1.0 - (2.0 if hi_dirichlet else 0.0)
    if n == 1:
        main[0] = -(2.0 if lo_dirichlet else 0.0) - (2.0 if hi_dirichlet else 0.0)
    return sp.diags([np.ones(n - 1), main, np.ones(n - 1)], [-1, 0, 1], format="csr")


def _direct(shape, dx, spec, faces, c, h, K, G):
    """Independent assembly of the unsplit backward-Euler system, solved by spsolve (array order z, y, x)."""
    n = int(np.prod(shape))
    shape3 = (1,) * (3 - len(shape)) + tuple(shape)
    names = ("z", "y", "x")
    L = sp.csr_matrix((n, n))
    rhs_b = np.zeros(shape3)
    for a, name in enumerate(names):
        lo, hi = f"{name}_min" in faces, f"{name}_max" in faces
        eye = [sp.identity(m, format="csr") for m in shape3]
        eye[a] = _laplacian_1d(shape3[a], lo, hi)
        L = L + sp.kron(sp.kron(eye[0], eye[1]), eye[2], format="csr")
        sl = [slice(None)] * 3
        if lo:
            sl[a] = 0
            rhs_b[tuple(sl)] += 2.0 * spec.boundary_value
        if hi:
            sl[a] = shape3[a] - 1
            rhs_b[tuple(sl)] += 2.0 * spec.boundary_value
    r = h * spec.diffusion / dx ** 2
    A = sp.identity(n) * (1.0 + h * spec.decay) + sp.diags(h * K.reshape(-1)) - r * L
    b = c.reshape(-1) + h * G.reshape(-1) + r * rhs_b.reshape(-1)
    return spsolve(A.tocsc(), b).reshape(shape)


@pytest.mark.parametrize("shape", [(24, 20), (9, 11, 10)])
def test_implicit_step_matches_a_direct_solve_of_the_unsplit_system(shape):
    rng = np.random.default_rng(3)
    dx = 20.0
    lat = Lattice(shape, dx)
    faces = ("x_min", "y_max") if len(shape) == 2 else ("x_min", "z_max")
    spec = FieldSpec("ifng", "pM", 6000.0, 0.002, boundary="dirichlet", boundary_value=2.0,
                     dirichlet_faces=faces, vessel_supply_rate=5.0, vessel_plasma_value=3.0, initial_value=0.5)
    vessels = np.zeros(shape, bool)
    vessels[(1,) * len(shape)] = True
    uptake = np.where(rng.random(shape) < 0.3, rng.uniform(0.0, 20.0, shape), 0.0)   # patchy uptake
    export = np.zeros(shape)
    export[tuple(s // 2 for s in shape)] = 4.0                                          # a point source
    secretion = np.zeros(shape)
    secretion[(2,) * len(shape)] = 0.7
    target = np.full(shape, 6.0)
    c0 = rng.uniform(0.0, 1.0, shape)
    h = 0.8
    s = FieldSolver(lat, [spec], vessels=vessels, values=c0[None], scheme="implicit")
    s.krylov_rtol = 1e-11
    s.step(h, secretion=secretion[None], target=target[None], export=export[None], uptake=uptake[None])
    K = secretion + uptake + 5.0 * vessels
    G = secretion * target + export + 5.0 * 3.0 * vessels
    ref = _direct(shape, dx, spec, faces, c0, h, K, G)
    assert np.abs(s.values[0] - ref).max() <= 1e-8 * np.abs(ref).max()
    assert s.krylov_iterations[0] > 0
    # the LOD scheme differs from the unsplit solution by its splitting error, far above 1e-8
    lod = FieldSolver(lat, [spec], vessels=vessels, values=c0[None])
    lod.step(h, secretion=secretion[None], target=target[None], export=export[None], uptake=uptake[None])
    assert np.abs(lod.values[0] - ref).max() > 1e-4 * np.abs(ref).max()


def test_implicit_beats_the_lod_scheme_at_the_same_step_on_a_point_source():
    lat, specs, src = _point_source()
    ref = _reference(lat, specs, src, np.stack([np.zeros((41, 41)), np.full((41, 41), 38.0)]), 6.0)
    errs = {}
    for scheme in ("lod", "implicit"):
        s = FieldSolver(lat, specs, scheme=scheme)
        s.advance(6.0, 1.0, **src)
        errs[scheme] = _rel_l2(s.values, ref)
    # measured at 6 sub-steps: cytokine 2.9e-2 implicit against 1.3e-1 LOD, oxygen 6.0e-5 against 7.5e-2
    assert errs["implicit"][0] < 0.3 * errs["lod"][0], errs
    assert errs["implicit"][0] < 0.04, errs
    assert errs["implicit"][1] < 0.01 * errs["lod"][1], errs


def test_implicit_scheme_is_first_order_in_time():
    lat, specs, src = _point_source()
    start = np.stack([np.zeros((41, 41)), np.full((41, 41), 38.0)])
    ref = _reference(lat, specs, src, start, 6.0)
    err = []
    for n in (6, 12, 24):
        s = FieldSolver(lat, specs, scheme="implicit")
        s.advance(6.0, 6.0 / n, **src)
        err.append(_rel_l2(s.values, ref)[0])
    orders = np.log2(np.array(err[:-1]) / np.array(err[1:]))
    assert np.all((orders > 0.8) & (orders < 1.2)), (err, orders)


@pytest.mark.parametrize("shape", [(30, 30), (12, 13, 14)])
def test_implicit_scheme_conserves_mass_in_a_closed_box(shape):
    rng = np.random.default_rng(5)
    lat = Lattice(shape, 20.0)
    spec = FieldSpec("ifng", "pM", 6000.0)
    c0 = rng.uniform(0.0, 1.0, (1,) + shape)
    s = FieldSolver(lat, [spec], values=c0, scheme="implicit")
    s.krylov_rtol = 1e-12
    m0 = s.total()[0]
    for _ in range(10):
        s.step(1.0)
    assert abs(s.total()[0] - m0) <= 1e-10 * m0
    assert s.values.std() < 0.3 * c0.std()   # it did diffuse


_RUN = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    from test_spatial_field_control import _point_source
    from tmesim.spatial import FieldSolver, Lattice, FieldSpec
    lat, specs, src = _point_source()
    s = FieldSolver(lat, specs, scheme="implicit")
    for _ in range(3):
        s.advance(6.0, 2.0, **src)
    s.advance(6.0, 6.0, rtol=0.01, **src)
    lat3 = Lattice((20, 21, 22), 20.0)
    e = np.zeros((1, 20, 21, 22)); e[0, 10, 10, 10] = 1.0
    s3 = FieldSolver(lat3, [FieldSpec("ifng", "pM", 6000.0, 0.002)], scheme="implicit")
    s3.advance(6.0, 1.0, export=e, uptake=np.full_like(e, 0.01))
    np.savez(sys.argv[1], a=s.values, b=s3.values, i=np.concatenate([s.krylov_iterations, s3.krylov_iterations]))
""")


def test_implicit_scheme_is_bit_identical_for_one_and_two_threads(tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    out = {}
    for threads in (1, 2):
        env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
        dump = tmp_path / f"t{threads}.npz"
        subprocess.run([sys.executable, "-c", _RUN, str(dump), here], check=True, env=env)
        with np.load(dump) as data:
            out[threads] = {k: data[k] for k in data.files}
    for k in out[1]:
        np.testing.assert_array_equal(out[1][k], out[2][k], err_msg=k)
    assert out[1]["i"].min() > 0


def test_bad_field_scheme_is_refused_naming_the_setting(tmp_path):
    from test_spatial_engine import spatial_scenario

    from tmesim import load_scenario

    with pytest.raises(InputError) as err:
        load_scenario(spatial_scenario(tmp_path / "s.yaml", field_scheme="krylov"))
    assert err.value.field == "spatial.field_scheme"
    assert "'lod' or 'implicit'" in str(err.value) and "\n" not in str(err.value)
    lat, specs, _ = _point_source()
    with pytest.raises(InputError, match="spatial.field_scheme"):
        FieldSolver(lat, specs, scheme="krylov")


def test_engine_run_under_the_implicit_scheme_resumes_bit_identically(tmp_path):
    """``spatial.field_scheme: implicit`` reaches the engine's solver, and a run killed after a checkpoint and
    resumed ends as the uninterrupted one (the scheme carries nothing between cell steps)."""
    from test_spatial_engine import (
        _Killed,
        _KilledAfter,
        spatial_scenario,
        timeseries_equal,
    )

    from tmesim import Simulation
    from tmesim.spatial.outputs import Recorder

    path = spatial_scenario(tmp_path / "s.yaml", days=0.25, field_scheme="implicit")
    whole = Simulation(path).run(recorder=Recorder(tmp_path / "whole", pictures=False))
    folder = tmp_path / "killed"
    with pytest.raises(_Killed):
        Simulation(path).run(recorder=_KilledAfter(folder, 1))
    resumed = Simulation(path).run(recorder=Recorder(folder, pictures=False))
    timeseries_equal(resumed, whole.copy())
    lod = Simulation(spatial_scenario(tmp_path / "l.yaml", days=0.25)).run()
    differs = [v for v in whole.data_vars if whole[v].dtype.kind == "f" and not np.array_equal(
        whole[v].values, lod[v].values, equal_nan=True)]
    assert differs, "the implicit run should not be the LOD run"
