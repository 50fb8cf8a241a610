"""Per-arm summary table: closed-form values of the synthetic run in conftest.py."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tmesim.analysis.summary import summarize, terminal_exhaustion_fraction
from tmesim.results import t_pools
from tmesim.errors import InputError

EXPECTED_COLUMNS = [
    "tumor_final_cells",
    "tumor_min_cells",
    "tumor_auc_cell_days",
    "tumor_change_pct",
    "deaths_killing_cells",
    "deaths_ferroptosis_cells",
    "deaths_necrosis_cells",
    "terminal_exhaustion_fraction",
    "n_patients",
    "n_failed",
]


def test_one_row_per_arm_in_scenario_order(run_dataset):
    table = summarize(run_dataset)
    assert table.index.name == "arm"
    assert list(table.index) == ["control", "anti-PD-1"]
    assert list(table.columns) == EXPECTED_COLUMNS


def test_tumor_metrics_of_linear_curves(run_dataset):
    table = summarize(run_dataset)
    # control: 1e6 -> 2e6 cells over 10 days; anti-PD-1: 1e6 -> 5e5 cells
    assert table.loc["control", "tumor_final_cells"] == pytest.approx(2e6)
    assert table.loc["control", "tumor_min_cells"] == pytest.approx(1e6)
    assert table.loc["control", "tumor_auc_cell_days"] == pytest.approx(1.5e7)
    assert table.loc["control", "tumor_change_pct"] == pytest.approx(100.0)
    assert table.loc["anti-PD-1", "tumor_min_cells"] == pytest.approx(5e5)
    assert table.loc["anti-PD-1", "tumor_auc_cell_days"] == pytest.approx(7.5e6)
    assert table.loc["anti-PD-1", "tumor_change_pct"] == pytest.approx(-50.0)


def test_deaths_are_final_cumulative_values(run_dataset):
    table = summarize(run_dataset)
    row = table.loc["control"]
    assert row["deaths_killing_cells"] == pytest.approx(1e5)
    assert row["deaths_ferroptosis_cells"] == pytest.approx(2e4)
    assert row["deaths_necrosis_cells"] == pytest.approx(1e4)


def test_terminal_fraction_counts_endogenous_and_car_but_not_treg(run_dataset):
    pools = t_pools(run_dataset)
    assert "treg" not in pools and "cd8_pd1_expression" not in pools
    assert t_pools(run_dataset, lineage="car_cd8", state="terminal_exhausted") == ["car_cd8_terminal_exhausted"]
    # final: terminal 100 (CD8) + 100 (CD4) + 100 (CAR CD8) of 2000 non-Treg T cells
    assert summarize(run_dataset).loc["control", "terminal_exhaustion_fraction"] == pytest.approx(0.15)
    fraction = terminal_exhaustion_fraction(run_dataset)
    assert fraction.dims == ("arm", "patient", "time")
    assert float(fraction.isel(arm=0, patient=0, time=0)) == pytest.approx(200 / 1900)


def test_terminal_fraction_is_nan_without_t_cells(run_dataset):
    run_dataset["t_cells"] = run_dataset["t_cells"] * 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = summarize(run_dataset)
    assert np.isnan(table["terminal_exhaustion_fraction"]).all()


def test_terminal_fraction_is_nan_without_t_cell_variables(run_dataset):
    ds = run_dataset.drop_vars(["t_cells", "t_pool", "lineage", "state"])
    assert np.isnan(summarize(ds)["terminal_exhaustion_fraction"]).all()


def test_median_across_patients(cohort_dataset):
    table = summarize(cohort_dataset)
    # patients scale the tumour by 1, 2, 3: the median is patient 1 (scale 2)
    assert table.loc["control", "tumor_final_cells"] == pytest.approx(4e6)
    assert table.loc["control", "tumor_auc_cell_days"] == pytest.approx(3e7)
    assert table.loc["anti-PD-1", "tumor_change_pct"] == pytest.approx(-50.0)
    assert table["n_patients"].tolist() == [3, 3]
    assert table["n_failed"].tolist() == [0, 0]


def test_failed_patients_are_counted_and_left_out_of_medians(cohort_dataset):
    cohort_dataset["solver_status"][0, 2] = 1
    cohort_dataset["tumor_live"][0, 2, 5:] = np.nan
    table = summarize(cohort_dataset)
    assert table["n_failed"].tolist() == [1, 0]
    # control: median of patients 0 and 1 (final 2e6 and 4e6)
    assert table.loc["control", "tumor_final_cells"] == pytest.approx(3e6)
    assert table.loc["anti-PD-1", "tumor_final_cells"] == pytest.approx(1e6)


def test_missing_tumor_variable_is_an_input_error(run_dataset):
    with pytest.raises(InputError, match="tumor_live"):
        summarize(run_dataset.drop_vars("tumor_live"))
