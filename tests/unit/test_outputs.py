"""Run directories: contents, netCDF round trip, refusal of non-empty targets, atomicity."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tmesim.analysis import write_analysis
from tmesim.errors import InputError
from tmesim.io import outputs

SCENARIO_YAML = "name: synthetic\narms:\n  - name: control\n"


@pytest.fixture(scope="module")
def written_run(tmp_path_factory, make_run_dataset):
    """One run directory written from the synthetic dataset, plus the dataset (with dict attributes)."""
    ds = make_run_dataset()
    ds.attrs["provenance"] = {"citations": ["Wang2019"], "knobs": {"stat1_loss": False}}
    ds["tumor_live"].attrs["bounds"] = {"min": 0}
    out_dir = tmp_path_factory.mktemp("runs") / "synthetic-20240101-000000"
    return outputs.write_run(ds, SCENARIO_YAML, out_dir, extra=lambda folder: write_analysis(ds, folder)), ds


def test_run_directory_holds_every_output(written_run):
    out_dir, _ = written_run
    assert sorted(p.name for p in out_dir.iterdir()) == ["figures", "scenario.yaml", "summary.csv", "timeseries.nc"]
    assert (out_dir / "scenario.yaml").read_text() == SCENARIO_YAML
    figures = sorted((out_dir / "figures").glob("*.png"))
    assert figures and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in figures)
    assert not list(out_dir.parent.glob("*.partial-*"))


def test_summary_csv_has_one_row_per_arm(written_run):
    out_dir, _ = written_run
    table = pd.read_csv(out_dir / "summary.csv", index_col="arm")
    assert list(table.index) == ["control", "anti-PD-1"]
    assert table.loc["control", "tumor_auc_cell_days"] == pytest.approx(1.5e7)


def test_timeseries_round_trip_with_dict_attrs_as_json(written_run):
    out_dir, ds = written_run
    with xr.open_dataset(out_dir / "timeseries.nc", engine="netcdf4") as back:
        np.testing.assert_array_equal(back["tumor_live"].values, ds["tumor_live"].values)
        assert list(back["arm"].values) == ["control", "anti-PD-1"]
        assert back["tumor_live"].attrs["units"] == "cell"
        assert json.loads(back.attrs["provenance"]) == ds.attrs["provenance"]
        assert json.loads(back["tumor_live"].attrs["bounds"]) == {"min": 0}
        assert back.attrs["seed"] == 7
    # the caller's dataset is not modified
    assert isinstance(ds.attrs["provenance"], dict)
    assert isinstance(ds["tumor_live"].attrs["bounds"], dict)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "text"),
        (3, 3),
        (2.5, 2.5),
        (["a", "b"], ["a", "b"]),
        ([1, 2.0], [1, 2.0]),
        (True, "true"),
        (None, "null"),
        ({"a": [1, {"b": 2}]}, '{"a": [1, {"b": 2}]}'),
        ([1, "a"], '[1, "a"]'),
        ([], "[]"),
    ],
)
def test_netcdf_attr(value, expected):
    assert outputs.netcdf_attr(value) == expected


def test_refuses_non_empty_directory(run_dataset, tmp_path):
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("precious")
    with pytest.raises(InputError, match="not empty"):
        outputs.write_run(run_dataset, SCENARIO_YAML, out_dir)
    assert [p.name for p in out_dir.iterdir()] == ["keep.txt"]


def test_refuses_a_file(run_dataset, tmp_path):
    target = tmp_path / "run"
    target.write_text("")
    with pytest.raises(InputError, match="not a directory"):
        outputs.write_run(run_dataset, SCENARIO_YAML, target)


def test_failure_leaves_no_directory(run_dataset, tmp_path):
    def broken_figures(folder):
        (Path(folder) / "figures").mkdir()
        (Path(folder) / "figures" / "half.png").write_bytes(b"")
        raise RuntimeError("disk full")

    out_dir = tmp_path / "runs" / "run"
    with pytest.raises(RuntimeError, match="disk full"):
        outputs.write_run(run_dataset, SCENARIO_YAML, out_dir, extra=broken_figures)
    assert not out_dir.exists()
    assert list((tmp_path / "runs").iterdir()) == []


def test_existing_empty_directory_is_filled(run_dataset, tmp_path):
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    assert outputs.write_run(run_dataset, SCENARIO_YAML, out_dir) == out_dir
    assert sorted(p.name for p in out_dir.iterdir()) == ["scenario.yaml", "timeseries.nc"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_default_run_dir():
    stamp = datetime(2024, 3, 5, 14, 7, 9)
    assert outputs.default_run_dir("b16_icb_ferroptosis", stamp) == Path("runs/b16_icb_ferroptosis-20240305-140709")
    assert outputs.default_run_dir("my run/1", stamp) == Path("runs/my_run_1-20240305-140709")


def test_io_imports_nothing_above_it():
    """io/ reads and writes files: the analysis, engines and reproduce packages are above it."""
    import ast

    for path in Path(outputs.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("tmesim.analysis", "tmesim.wellmixed", "tmesim.reproduce",
                                                   "tmesim.simulation")), (path.name, node.module)
