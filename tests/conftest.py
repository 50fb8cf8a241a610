"""Shared fixtures: a small synthetic engine output that follows the contract in docs/architecture.md.

Values are chosen so summaries have closed forms (per patient ``p`` = 0, 1, ...,
time ``t`` in days from 0 to 10):

* ``tumor_live`` = (1 + p) * (1e6 + slope * t), slope 1e5 cells/day in
  ``control`` and -5e4 cells/day in ``anti-PD-1`` (linear, so the trapezoid
  AUC is exact: 1.5e7 and 7.5e6 cell*days for p = 0);
* cumulative deaths grow linearly from 0;
* non-Treg T cells (``t_cells`` by lineage and state, as the results
  contract has them) total 2000 at the last time point, 300 of them
  terminally exhausted (fraction 0.15); ``treg`` and ``cd8_pd1_expression``
  must not count.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import xarray as xr

ARMS = ("control", "anti-PD-1")
TUMOR_SLOPES_CELLS_PER_DAY = {"control": 1e5, "anti-PD-1": -5e4}
TIME_DAYS = np.linspace(0.0, 10.0, 11)

# T cell pool (lineage, state) -> count (cells) as a function of time (days)
_T_CELLS = {
    ("cd8", "effector"): lambda t: 600,
    ("cd8", "progenitor_exhausted"): lambda t: 200,
    ("cd8", "terminal_exhausted"): lambda t: 10 * t,
    ("cd8", "anergic"): lambda t: 50,
    ("cd8", "senescent"): lambda t: 50,
    ("cd4", "effector"): lambda t: 300,
    ("cd4", "progenitor_exhausted"): lambda t: 100,
    ("cd4", "terminal_exhausted"): lambda t: 100,
    ("car_cd8", "effector"): lambda t: 400,
    ("car_cd8", "terminal_exhausted"): lambda t: 100,
}
# name -> (group, units, long_name, value as a function of time in days)
_OTHER = {
    "treg": ("t_cells", "cell", "regulatory T cells", lambda t: 1000),
    "cd8_pd1_expression": ("t_cells", "1", "mean PD-1 expression of CD8 T cells", lambda t: 0.5),
    "tumor_slc7a11": ("tumor_ferroptosis", "1", "tumour SLC7A11 expression", lambda t: 1 - 0.05 * t),
    "tumor_gsh": ("tumor_ferroptosis", "mM", "tumour glutathione", lambda t: 5 - 0.2 * t),
    "tumor_lipid_peroxide": ("tumor_ferroptosis", "1", "tumour lipid peroxides", lambda t: 0.1 + 0.05 * t),
    "tumor_cystine_uptake": ("tumor_ferroptosis", "fmol/cell/h", "tumour cystine uptake", lambda t: 2 - 0.1 * t),
    "tumor_gpx4_activity": ("tumor_ferroptosis", "1", "tumour GPX4 activity", lambda t: 1 - 0.03 * t),
    "t_cell_proteasome_activity": ("exhaustion_axis", "1", "T cell proteasome activity", lambda t: 1 + 0.1 * t),
    "t_cell_free_heme": ("exhaustion_axis", "uM", "T cell free haem", lambda t: 0.2 + 0.02 * t),
    "t_cell_nuclear_heme": ("exhaustion_axis", "uM", "T cell nuclear haem", lambda t: 0.05 + 0.01 * t),
    "t_cell_bach2": ("exhaustion_axis", "1", "T cell BACH2 activity", lambda t: 1 - 0.05 * t),
    "macrophage_m1": ("innate", "cell", "M1-like macrophages", lambda t: 300),
    "macrophage_m2": ("innate", "cell", "M2-like macrophages", lambda t: 700),
    "ifng": ("cytokines", "ng/mL", "IFN-gamma", lambda t: 0.1 * t),
    "il10": ("cytokines", "ng/mL", "IL-10", lambda t: 0.05),
    "tgfb": ("cytokines", "ng/mL", "TGF-beta", lambda t: 0.2),
}
_DEATHS_CELLS_PER_DAY = {"deaths_killing": 1e4, "deaths_ferroptosis": 2e3, "deaths_necrosis": 1e3}


def _variable(values: np.ndarray, group: str, units: str, long_name: str) -> xr.Variable:
    return xr.Variable(("arm", "patient", "time"), values, {"units": units, "long_name": long_name, "group": group})


def build_run_dataset(n_patients: int = 1, arms: tuple[str, ...] = ARMS) -> xr.Dataset:
    """Synthetic engine output on (arm, patient, time); see the module docstring for its values."""
    t = TIME_DAYS
    shape = (len(arms), n_patients, t.size)
    patient_scale = (1.0 + np.arange(n_patients))[None, :, None]

    def per_arm(curve: Callable[[str], np.ndarray]) -> np.ndarray:
        return np.stack([np.broadcast_to(curve(arm), (n_patients, t.size)) for arm in arms]).astype(float)

    tumor = per_arm(lambda arm: 1e6 + TUMOR_SLOPES_CELLS_PER_DAY[arm] * t) * patient_scale
    variables = {"tumor_live": _variable(tumor, "tumor", "cell", "live tumour cells")}
    for name, rate in _DEATHS_CELLS_PER_DAY.items():
        long_name = f"cumulative tumour deaths by {name.removeprefix('deaths_')}"
        variables[name] = _variable(per_arm(lambda arm, r=rate: r * t), "deaths", "cell", long_name)
    for name, (group, units, long_name, curve) in _OTHER.items():
        variables[name] = _variable(per_arm(lambda arm, c=curve: c(t)), group, units, long_name)
    assert all(v.shape == shape for v in variables.values())
    pools = list(_T_CELLS)
    variables["t_cells"] = xr.Variable(("arm", "patient", "time", "t_pool"),
                                       np.stack([per_arm(lambda arm, c=c: c(t)) for c in _T_CELLS.values()], axis=-1),
                                       {"units": "cell", "long_name": "T cells by lineage and state", "group": "t_cells"})
    variables["solver_status"] = xr.Variable(("arm", "patient"), np.zeros(shape[:2], dtype=np.int32))
    variables["solver_message"] = xr.Variable(("arm", "patient"), np.full(shape[:2], "ok"))
    coords = {
        "arm": list(arms),
        "patient": np.arange(n_patients),
        "time": ("time", t, {"units": "day", "long_name": "time"}),
        "t_pool": ("t_pool", [f"{lin}_{st}" for lin, st in pools]),
        "lineage": ("t_pool", [lin for lin, _ in pools]),
        "state": ("t_pool", [st for _, st in pools]),
    }
    attrs = {
        "scenario": "name: synthetic\n",
        "parameters": '{"tumor_growth_rate": {"value": 0.1, "unit": "1/min", "source": "assumption: test"}}',
        "seed": 7,
        "tmesim_version": "0.0.0",
        "created": "2024-01-01T00:00:00",
        "engine": "wellmixed",
    }
    return xr.Dataset(variables, coords=coords, attrs=attrs)


@pytest.fixture(scope="session")
def make_run_dataset() -> Callable[..., xr.Dataset]:
    """Factory fixture: ``make_run_dataset(n_patients=1, arms=ARMS)`` -> synthetic engine output."""
    return build_run_dataset


@pytest.fixture
def run_dataset() -> xr.Dataset:
    """Synthetic engine output with two arms and one patient."""
    return build_run_dataset()


@pytest.fixture
def cohort_dataset() -> xr.Dataset:
    """Synthetic engine output with two arms and three patients (tumour burden scaled by 1, 2, 3)."""
    return build_run_dataset(n_patients=3)


@pytest.fixture
def tmesim(monkeypatch):
    """``tmesim(*argv)`` runs the CLI in-process through ``cli.main`` and returns its exit code."""
    def invoke(*argv) -> int:
        monkeypatch.setenv("COLUMNS", "200")
        monkeypatch.setattr("sys.argv", ["tmesim", *map(str, argv)])
        try:
            from tmesim.cli import main

            main()
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 1
        return 0
    return invoke


@pytest.fixture(scope="session")
def digests_by_thread_count() -> Callable[[str], list[str]]:
    """``digests_by_thread_count(script)`` runs ``script`` in a fresh interpreter with NUMBA_NUM_THREADS 1
    and then 2 and returns what each printed (stripped): a script that prints a hash of its results shows
    whether they depend on the thread count."""
    import os
    import subprocess
    import sys

    def run(script: str) -> list[str]:
        out = []
        for threads in (1, 2):
            env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
            done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                  timeout=300)
            assert done.returncode == 0, done.stderr
            out.append(done.stdout.strip())
        return out
    return run
