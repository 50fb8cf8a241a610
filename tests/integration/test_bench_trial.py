"""``tmesim bench trial`` on a small configuration: every phase measured, the outputs of every run identical."""

from __future__ import annotations

import pytest

from tmesim.bench import bench_trial


def test_bench_trial_small():
    result = bench_trial(n_patients=30, days=12, batch_size=10, dask=False)
    for key in ("engine_s", "trial_1_worker_s", "trial_2_workers_s"):
        assert result[key] > 0
    assert result["trial_vs_engine"] == pytest.approx(result["trial_2_workers_s"] / result["engine_s"])
    assert result["scaling_1_to_2_workers"] == pytest.approx(result["trial_1_worker_s"] / result["trial_2_workers_s"])
    assert result["identical_outputs"] is True
    assert result["trial_2_workers_timings"]["engine_s_in_workers"] > 0
    assert "dask_overhead" not in result


@pytest.mark.slow
def test_bench_trial_full_size():
    result = bench_trial()
    assert result["n_patients"] == 10_000 and result["identical_outputs"] is True
