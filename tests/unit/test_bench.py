"""Smoke test of the well-mixed benchmark (`tmesim bench wellmixed`).

Runs a tiny configuration and checks the shape of the result only: throughputs
are positive, the batched engine beats solve_ivp one patient at a time, and no
row failed. Absolute times depend on the machine and its load and are never
asserted.
"""

from __future__ import annotations

import math

import pytest

from tmesim.bench import bench_wellmixed, benchmark_scenario


def test_benchmark_scenario_is_one_year_long_arm():
    scn = benchmark_scenario(7, 365)
    assert scn.cohort.size == 7 and scn.days == 365 and scn.output_interval_hours == 24
    assert len(scn.arms) == 1
    pd1 = next(d for d in scn.arms[0].doses if d.drug == "anti_pd1")
    assert pd1.days()[-1] <= 365 < pd1.days()[-1] + pd1.every_days


def test_bench_wellmixed_small():
    # one engine thread: the ratio is then per core, which stays meaningful
    # when other tests share the machine (pytest -n 2); a year, because the
    # per-dose restarts of solve_ivp are part of what is compared
    result = bench_wellmixed(n_patients=24, days=365, n_reference=1, threads=1)
    assert result["n_patients"] == 24 and result["days"] == 365
    assert result["threads"] == 1
    assert result["reference_patients"] == 1
    for key in ("wall_s", "patient_days_per_s", "reference_patient_days_per_s", "reference_median_patient_s",
                "speedup_at_median"):
        assert result[key] > 0 and math.isfinite(result[key]), key
    assert result["speedup_vs_solve_ivp"] > 1
    # one reference patient: its median is its time, so both ratios agree
    assert result["reference_max_patient_s"] == result["reference_median_patient_s"]
    assert result["speedup_at_median"] == pytest.approx(result["speedup_vs_solve_ivp"], rel=0.05)
    assert result["n_failed"] == 0
    assert result["reference_failed"] == 0
    assert result["reference_max_rel_diff_tumor"] < 0.05
    assert isinstance(result["threading_layer"], str)


def test_bench_cli_passes_options_and_writes_json(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from tmesim import bench, cli

    seen = {}

    def fake(**kwargs):
        seen.update(kwargs)
        return {"wall_s": 1.0, "rtol": kwargs["solver"].rtol}

    monkeypatch.setattr(bench, "bench_wellmixed", fake)
    out = CliRunner().invoke(cli.app, ["bench", "wellmixed", "--patients", "5", "--threads", "1", "--rtol", "1e-3",
                                       "--jac-every", "10", "--method", "ros2", "--reference", "2", "--json", str(tmp_path / "b.json")])
    assert out.exit_code == 0, out.output
    assert seen["n_patients"] == 5 and seen["threads"] == 1 and seen["n_reference"] == 2
    from tmesim.simulation import SolverOptions

    assert seen["solver"] == SolverOptions(method="ros2", rtol=1e-3, jacobian_every=10)
    assert json.loads((tmp_path / "b.json").read_text())["rtol"] == 1e-3


def test_bench_cli_rejects_bad_numbers():
    from typer.testing import CliRunner

    from tmesim import cli
    from tmesim.errors import InputError

    for args in (["--patients", "0"], ["--rtol", "-1"], ["--days", "nan"], ["--threads", "0"], ["--method", "rk4"]):
        out = CliRunner().invoke(cli.app, ["bench", "wellmixed", *args])
        assert isinstance(out.exception, InputError), args
