"""Virtual trials of a spatial scenario (docs/trials.md, "Spatial trials"): each patient is one lattice run per arm
with its drawn values and its own seed, so the results do not depend on the executor, the number of workers or the
batch size; a killed trial resumes; a failing run is recorded and the trial goes on.

The scenario is a 12 x 12 site slice for one day (a few tenths of a second per run once compiled).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tmesim import Simulation
from tmesim.errors import SimulationError
from tmesim.spatial.engine import SpatialRun
from tmesim.trials import DaskExecutor, LocalExecutor, load_cohort, open_timeseries, run_trial
from tmesim.trials.sampling import draw_patients, patient_run_seed, to_internal
from tmesim.trials.store import PARTITIONS, TrialStore

SCENARIO = {
    "name": "tiny_spatial_trial", "parameter_set": "mouse_b16_icb_ferroptosis", "scale": "spatial", "days": 1,
    "output_interval_hours": 6, "seed": 0,
    "parameters": {"initial_cd8_per_tumor_cell": 0.2, "initial_macrophages_per_tumor_cell": 0.2},
    "spatial": {"dimensions": 2, "domain_um": [240, 240], "site_um": 20, "dt_minutes": 6,
                "oxygen_dt_minutes": 1, "geometry": {"kind": "spheroid", "radius_um": 60, "immune_margin_um": 40},
                "vessels": {"density": 0.05, "placement": "outside"},
                "snapshot_interval_hours": 6, "checkpoint_interval_hours": 3},
    "arms": [{"name": "control"},
             {"name": "anti-PD-1", "doses": [{"drug": "anti_pd1", "dose": 10, "unit": "mg/kg", "start_day": 0.25}]}],
}
COHORT = {
    "name": "spatial_it", "scenario": "tiny.yaml", "days": 1, "output_interval_hours": 6, "patients": 4, "seed": 3,
    "parameters": {
        "tumor_growth_rate": {"distribution": "lognormal", "median": 0.6, "sigma": 0.3, "unit": "1/day"},
        "ifng_diffusion": {"distribution": "uniform", "low": 990, "high": 6000, "unit": "um**2/min"},
    },
    "endpoints": {"type": "solid", "baseline_day": 0, "assessment_every_days": 0.5},
    "biomarkers": ["tumor_slc7a11"],
    "timeseries": ["tumor_live", "t_cells_cd8"],
}


def write_cohort(folder: Path, name: str = "cohort.yaml", **changes) -> Path:
    (folder / "tiny.yaml").write_text(yaml.safe_dump(SCENARIO, sort_keys=False))
    data = {**COHORT, **changes}
    data = {k: v for k, v in data.items() if v is not None}
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The cohort run once: one worker, every patient in one batch."""
    folder = tmp_path_factory.mktemp("spatial_trial")
    path = write_cohort(folder)
    result = run_trial(load_cohort(path, batch_size=4), folder / "one", LocalExecutor(1), figures=False, report=False)
    return path, folder / "one", result


def test_spatial_patients_do_not_depend_on_workers_or_batches(reference, tmp_path):
    path, one, first = reference
    cohort = load_cohort(path)
    assert cohort.batch_size == 1  # a spatial cohort's default: one patient per task
    run_trial(cohort, tmp_path / "two", LocalExecutor(2), figures=False, report=False)
    assert len(list((tmp_path / "two" / PARTITIONS).glob("*.parquet"))) == 4
    assert (tmp_path / "two" / "patients.parquet").read_bytes() == (one / "patients.parquet").read_bytes()
    p = first.patients
    assert len(p) == 8 and (p["status"] == 0).all()
    # each patient's run seed comes from the trial's seed and its id, the same in both arms
    seeds = [patient_run_seed(3, i) for i in range(4)]
    for arm in cohort.arms:
        sub = p[p["arm"] == arm]
        assert list(sub["run_seed"]) == seeds
        drawn = draw_patients(cohort, range(4))
        np.testing.assert_allclose(sub["param.ifng_diffusion"], drawn["ifng_diffusion"], rtol=1e-12)
    assert len(set(seeds)) == 4
    # patients differ (their draws and seeds), so the comparison above is not of constants
    final = open_timeseries(one)["tumor_live"].isel(time=-1).sel(arm="control").values
    assert len(set(final.tolist())) > 1
    # patient 2 of the trial is the lattice run of its values and seed, run on its own
    values = to_internal(cohort, draw_patients(cohort, [2]))
    alone = Simulation(cohort.scenario, patient_values=values, patient_seeds=[seeds[2]]).run()
    ts = open_timeseries(one)
    np.testing.assert_array_equal(ts["tumor_live"].sel(patient=2).values,
                                  alone["tumor_live"].isel(patient=0).values.astype(np.float32))
    assert alone.attrs["replicate_seeds"] == [str(seeds[2])]


def test_a_spatial_trial_of_pure_replicates_differs_only_by_seed(tmp_path):
    """No distributions: patients differ by their seeds alone, and another trial seed gives other runs."""
    path = write_cohort(tmp_path, parameters=None, biomarkers=None)
    a = run_trial(load_cohort(path, patients=3), tmp_path / "a", LocalExecutor(2), figures=False, report=False)
    b = run_trial(load_cohort(path, patients=3, seed=4), tmp_path / "b", LocalExecutor(2), figures=False,
                  report=False)
    assert not any(c.startswith("param.") for c in a.patients)
    ta, tb = open_timeseries(tmp_path / "a"), open_timeseries(tmp_path / "b")
    assert len({tuple(row) for row in ta["tumor_live"].sel(arm="control").values.tolist()}) == 3
    assert not np.array_equal(ta["tumor_live"].values, tb["tumor_live"].values)
    assert set(a.patients["run_seed"]).isdisjoint(b.patients["run_seed"])


def test_a_dask_cluster_gives_the_local_spatial_results(reference, tmp_path):
    """A real scheduler and two single-threaded worker processes on localhost."""
    path, one, _ = reference
    dask = run_trial(load_cohort(path, batch_size=3), tmp_path / "dask", DaskExecutor(n_workers=2), figures=False,
                     report=False)
    assert (dask.patients["status"] == 0).all()
    assert (tmp_path / "dask" / "patients.parquet").read_bytes() == (one / "patients.parquet").read_bytes()


def test_a_killed_spatial_trial_resumes_to_the_uninterrupted_result(reference, tmp_path):
    path, one, _ = reference
    out = tmp_path / "killed"
    args = [sys.executable, "-m", "tmesim.cli", "trial", str(path), "--out", str(out), "--workers", "1", "--quiet"]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    parts = out / PARTITIONS
    while time.monotonic() < deadline:
        if parts.is_dir() and len(list(parts.glob("part-*.parquet"))) >= 1:
            break
        if proc.poll() is not None:
            pytest.fail(f"the trial ended before it could be killed: {proc.stderr.read().decode()}")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its worker process
    proc.wait(timeout=30)
    recorded = TrialStore(out, load_cohort(path)).finished_patients()
    assert 0 < recorded.size < 4
    assert not (out / "patients.parquet").exists()
    resumed = run_trial(load_cohort(path, batch_size=2), out, LocalExecutor(2), figures=False, report=False)
    assert resumed.n_skipped == recorded.size and resumed.n_run == 4 - recorded.size
    assert (out / "patients.parquet").read_bytes() == (one / "patients.parquet").read_bytes()


def test_a_failing_spatial_run_is_recorded_and_the_trial_goes_on(reference, tmp_path, monkeypatch):
    """A run that stops (as a non-finite field stops one) keeps its status and message; the others are unchanged.
    The worker processes are forked after the patch, so they run the patched step."""
    path, one, first = reference
    bad_seed = patient_run_seed(3, 1)
    step = SpatialRun.step

    def failing_step(self):
        if self.seed == bad_seed and self.step_index == 40:
            raise SimulationError("field ifng is not finite at (x, y) = (10, 10) um (test)")
        step(self)

    monkeypatch.setattr(SpatialRun, "step", failing_step)
    result = run_trial(load_cohort(path), tmp_path / "failing", LocalExecutor(2), figures=False, report=False)
    p = result.patients
    failed = p[p["status"] != 0]
    assert list(failed["patient"]) == [1, 1]  # both arms: they share the patient's seed
    assert failed["message"].str.contains("not finite").all()
    assert failed["recist"].isna().all() and failed["best_change_pct"].isna().all()
    assert (failed["solver_steps"] == 40).all()
    ok = p[p["status"] == 0].reset_index(drop=True)
    expected = first.patients[first.patients["patient"] != 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(ok, expected)
    assert result.arms.set_index("arm")["failed"].sum() == 2
