"""Virtual trials end to end: local processes, a real Dask cluster, resume after SIGKILL, the report, failures."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tmesim.analysis.report import REPORT_TABLES
from tmesim.trials import DaskExecutor, LocalExecutor, load_cohort, open_timeseries, run_trial
from tmesim.trials.store import PARTITIONS, TrialStore

COHORT = {
    "name": "it_cohort",
    "description": "integration test cohort",
    "scenario": "b16_icb_ferroptosis",
    "arms": ["anti-PD-1", "anti-PD-1 + IKE"],
    "days": 16,
    "output_interval_hours": 24,
    "patients": 24,
    "seed": 5,
    "parameters": {
        "tumor_slc7a11_overexpression": {"distribution": "uniform", "low": 1.0, "high": 3.0},
        "recruit_m1_fraction": {"distribution": "normal", "mean": 0.3, "sd": 0.1, "bounds": [0.05, 0.6]},
        "initial_m1_fraction": {"distribution": "normal", "mean": 0.3, "sd": 0.1, "bounds": [0.05, 0.6]},
        "tumor_growth_rate": {"distribution": "lognormal", "median": 0.45, "sigma": 0.2, "unit": "1/day"},
    },
    "correlations": [{"between": ["recruit_m1_fraction", "initial_m1_fraction"], "rho": 0.6}],
    "endpoints": {"type": "solid", "assessment_every_days": 2, "death_above_cells": 1e8},
    "biomarkers": ["tumor_slc7a11"],
}


def write_cohort(tmp_path: Path, name: str = "cohort.yaml", **changes) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({**COHORT, **changes}, sort_keys=False))
    return path


def tmesim(*args, cwd: Path, timeout: float = 300, **popen):
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "tmesim.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, **popen)


def test_trial_writes_every_output_and_does_not_depend_on_workers_or_batches(tmp_path):
    path = write_cohort(tmp_path)
    one = run_trial(load_cohort(path, batch_size=24), tmp_path / "one", LocalExecutor(1))
    two = run_trial(load_cohort(path, batch_size=5), tmp_path / "two", LocalExecutor(2))
    for folder in (tmp_path / "one", tmp_path / "two"):
        for name in ("patients.parquet", "arms.csv", "report.html", "trial.json", "cohort.yaml",
                     "figures/survival.png", "figures/waterfall.png", "figures/spider.png", "figures/swimmer.png",
                     "figures/biomarkers.png"):
            assert (folder / name).is_file(), name
    assert len(list((tmp_path / "two" / PARTITIONS).glob("*.parquet"))) == 5
    # identical patients, whatever the batch size and the number of workers
    assert (tmp_path / "one" / "patients.parquet").read_bytes() == (tmp_path / "two" / "patients.parquet").read_bytes()
    pd.testing.assert_frame_equal(one.arms, two.arms)
    p = one.patients
    assert len(p) == 48 and list(p["arm"][:2]) == ["anti-PD-1", "anti-PD-1 + IKE"]
    assert (p["status"] == 0).all()
    assert {"param.tumor_growth_rate", "baseline.tumor_slc7a11", "recist", "pfs_days", "best_change_pct"} <= set(p)
    # the engine ran each patient with the drawn values (converted back to the cohort's units), in both arms
    draws = load_cohort(path)
    from tmesim.trials.sampling import draw_patients

    drawn = draw_patients(draws, range(24))
    for arm in draws.arms:
        sub = p[p["arm"] == arm]
        np.testing.assert_allclose(sub["param.tumor_growth_rate"], drawn["tumor_growth_rate"], rtol=1e-12)
    # time series per patient, on the same ids
    ts = open_timeseries(tmp_path / "two")
    assert ts.sizes["patient"] == 24 and list(ts["patient"].values) == list(range(24))
    assert "tumor_live" in ts and ts["tumor_live"].dtype == np.float32
    np.testing.assert_allclose(ts["tumor_live"].sel(arm="anti-PD-1").isel(time=6).values,
                               p[p["arm"] == "anti-PD-1"]["baseline_cells"].to_numpy(), rtol=1e-6)


class _ReportParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.images, self.sections, self.links = [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append(a.get("id"))
        elif tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "section":
            self.sections.append(a.get("id"))
        for key in ("src", "href"):
            if key in a and not str(a[key]).startswith(("data:", "#")):
                self.links.append(a[key])


def test_report_is_self_contained_with_every_figure_and_table(tmp_path):
    out = tmp_path / "trial"
    run_trial(load_cohort(write_cohort(tmp_path), batch_size=12), out, LocalExecutor(2))
    parser = _ReportParser()
    text = (out / "report.html").read_text()
    parser.feed(text)
    assert set(REPORT_TABLES) <= set(parser.tables)
    figures = sorted((out / "figures").glob("*.png"))
    assert len(parser.images) == len(figures) == 5
    for src in parser.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert parser.links == []  # nothing to fetch
    for needle in ("tumor_slc7a11_overexpression", "Gaussian copula", "fitted", "b16_icb_ferroptosis"):
        assert needle in text


def test_failed_integrations_are_recorded_and_the_trial_goes_on(tmp_path):
    out = tmp_path / "trial"
    # a step budget per output chunk too small for most patients (their step counts vary with their parameters)
    result = run_trial(load_cohort(write_cohort(tmp_path, solver={"max_steps": 60}), batch_size=8), out,
                       LocalExecutor(2))
    p = result.patients
    failed = p[p["status"] != 0]
    assert len(failed) > 0
    assert failed["message"].str.contains("too many steps").all()
    assert failed["recist"].isna().all() and failed["pfs_days"].isna().all()
    arms = result.arms.set_index("arm")
    assert arms["failed"].sum() == len(failed)
    assert (arms["evaluable"] == arms["patients"] - arms["failed"]).all()
    assert "too many steps" in (out / "report.html").read_text()


def test_resume_after_sigkill_loses_no_patient(tmp_path):
    path = write_cohort(tmp_path, patients=80)
    out = tmp_path / "killed"
    args = [sys.executable, "-m", "tmesim.cli", "trial", str(path), "--out", str(out), "--workers", "1",
            "--batch-size", "4", "--quiet"]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    parts = out / PARTITIONS
    while time.monotonic() < deadline:
        if parts.is_dir() and len(list(parts.glob("part-*.parquet"))) >= 3:
            break
        if proc.poll() is not None:
            pytest.fail(f"the trial ended before it could be killed: {proc.stderr.read().decode()}")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its worker processes
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    recorded = TrialStore(out, load_cohort(path)).finished_patients()
    assert 0 < recorded.size < 80
    assert not (out / "patients.parquet").exists() and not (out / "report.html").exists()
    again = tmesim("trial", str(path), "--out", str(out), "--workers", "2", "--batch-size", "7", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"{recorded.size} already recorded" in " ".join(again.stdout.split())
    fresh = run_trial(load_cohort(path, batch_size=80), tmp_path / "fresh", LocalExecutor(1))
    resumed = pd.read_parquet(out / "patients.parquet")
    assert len(resumed) == 160 and resumed["patient"].nunique() == 80
    pd.testing.assert_frame_equal(resumed, fresh.patients)


def test_an_output_folder_of_another_trial_is_refused(tmp_path):
    out = tmp_path / "trial"
    run_trial(load_cohort(write_cohort(tmp_path, patients=4), batch_size=4), out, LocalExecutor(1))
    res = tmesim("trial", str(write_cohort(tmp_path, patients=4, seed=6)), "--out", str(out), cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --out:") and "seed 5 -> 6" in lines[0]


def test_dask_cluster_gives_the_local_executors_results(tmp_path):
    """A real scheduler and two worker processes on localhost, 200 patients."""
    path = write_cohort(tmp_path, patients=200)
    local = run_trial(load_cohort(path, batch_size=50), tmp_path / "local", LocalExecutor(2), figures=False,
                      report=False)
    executor = DaskExecutor(n_workers=2)
    dask = run_trial(load_cohort(path, batch_size=37), tmp_path / "dask", executor, figures=False, report=False)
    assert len(dask.patients) == 400 and (dask.patients["status"] == 0).all()
    pd.testing.assert_frame_equal(dask.patients, local.patients)
    assert (tmp_path / "dask" / "patients.parquet").read_bytes() == (tmp_path / "local" / "patients.parquet").read_bytes()


def test_a_local_dask_cluster_runs_without_the_profiler_and_leaves_the_callers_config_alone():
    """``--dask-local``'s workers get LOCAL_CLUSTER_CONFIG (no 10-ms stack sampling); the caller's config is restored."""
    import dask

    from tmesim.trials.executors import LOCAL_CLUSTER_CONFIG

    before = dask.config.get("distributed.worker.profile.enabled")
    with DaskExecutor(n_workers=1) as executor:
        seen = executor.client.run(lambda: (dask.config.get("distributed.worker.profile.enabled"),
                                            dask.config.get("distributed.admin.tick.interval")))
    assert list(seen.values()) == [(False, LOCAL_CLUSTER_CONFIG["distributed.admin.tick.interval"])]
    assert dask.config.get("distributed.worker.profile.enabled") == before
