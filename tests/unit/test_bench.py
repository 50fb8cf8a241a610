"""Smoke test of the well-mixed benchmark (`tmesim bench wellmixed`).

Runs a tiny configuration and checks the shape of the result only: throughputs
are positive, the batched engine beats solve_ivp one patient at a time, and no
row failed. Absolute times depend on the machine and its load and are never
asserted.
"""

from __future__ import annotations

import math

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
    for key in ("wall_s", "patient_days_per_s", "reference_patient_days_per_s"):
        assert result[key] > 0 and math.isfinite(result[key]), key
    assert result["speedup_vs_solve_ivp"] > 1
    assert result["n_failed"] == 0
    assert result["reference_failed"] == 0
    assert result["reference_max_rel_diff_tumor"] < 0.05
    assert isinstance(result["threading_layer"], str)
