"""Run directories: contents, netCDF round trip, refusal of non-empty targets, atomicity."""

from __future__ import annotations

import json
import os
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
    assert not list(out_dir.parent.glob("*.partial-*")) and not list(out_dir.parent.glob(".*.partial-*"))


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


# ------------------------------------------------------------------ crash safety
def test_partial_folder_is_hidden_from_a_glob_of_finished_runs(run_dataset, tmp_path):
    seen = {}

    def look(folder):
        seen["tmp"] = Path(folder)
        seen["glob"] = sorted(tmp_path.glob("*/timeseries.nc")) + sorted(tmp_path.glob("*"))
        assert (Path(folder) / "timeseries.nc").exists()

    outputs.write_run(run_dataset, SCENARIO_YAML, tmp_path / "run", extra=look)
    assert seen["tmp"].parent.name.startswith(".run.partial-") and seen["tmp"].name == "run"
    # while it was being written, nothing looked like a run to pathlib's glob (which shows hidden folders)
    assert [p.name for p in seen["glob"]] == [seen["tmp"].parent.name]


def test_leftovers_of_dead_processes_are_removed(run_dataset, tmp_path, monkeypatch):
    dead, alive = 999_999_999, os.getppid()
    for name in (f".old.partial-{dead}-0", f"older.partial-{dead}", f".busy.partial-{alive}-3"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "timeseries.nc").write_bytes(b"cut short")
    (tmp_path / "kept.partial-notapid").mkdir()
    outputs.write_run(run_dataset, SCENARIO_YAML, tmp_path / "run")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".busy.partial-{alive}-3", "kept.partial-notapid", "run"]


def test_two_runs_in_the_same_second_both_finish(run_dataset, tmp_path):
    name = tmp_path / "runs" / "flagship-20240101-000000"
    first = outputs.StagedDir(name, unique=True)
    second = outputs.StagedDir(name, unique=True)  # started together: both staged before either ends
    for staged in (first, second):
        (staged.tmp / "timeseries.nc").write_bytes(b"x")
    assert first.commit() == name
    assert second.commit() == name.with_name(name.name + "-2")
    third = outputs.write_run(run_dataset, SCENARIO_YAML, outputs.StagedDir(name, unique=True))
    assert third == name.with_name(name.name + "-3")
    assert sorted(p.name for p in name.parent.iterdir()) == [name.name, name.name + "-2", name.name + "-3"]


def test_an_explicit_folder_filled_meanwhile_keeps_the_work(tmp_path):
    target = tmp_path / "out"
    staged = outputs.StagedDir(target)
    (staged.tmp / "a.txt").write_text("mine")
    target.mkdir()
    (target / "theirs.txt").write_text("theirs")
    with pytest.warns(RuntimeWarning, match="filled by another process"):
        final = staged.commit()
    assert final == tmp_path / "out-2" and (final / "a.txt").read_text() == "mine"
    assert [p.name for p in target.iterdir()] == ["theirs.txt"]


def test_unwritable_parent_fails_before_any_work(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="is a file"):
        outputs.StagedDir(tmp_path / "file" / "run")
    with pytest.raises(InputError, match="is a file"):
        outputs.check_output_dir(tmp_path / "file" / "deeper" / "run")


@pytest.mark.parametrize("bad", ["dir", "file/x.json"])
def test_output_file_checks(tmp_path, bad):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError):
        outputs.check_output_file(tmp_path / bad, "--json")
    outputs.check_output_file(tmp_path / "new" / "r.json", "--json")
    assert list((tmp_path / "new").iterdir()) == []


def test_write_text_atomic(tmp_path):
    path = outputs.write_text_atomic(tmp_path / "a" / "r.json", "[]\n")
    assert path.read_text() == "[]\n" and sorted(p.name for p in path.parent.iterdir()) == ["r.json"]


# ------------------------------------------------------------------ netCDF conventions
def test_netcdf_has_cf_global_attributes_and_no_fill_value_on_coordinates(written_run):
    import netCDF4

    out_dir, ds = written_run
    with netCDF4.Dataset(out_dir / "timeseries.nc") as nc:
        assert nc.getncattr("Conventions") == "CF-1.10"
        assert nc.getncattr("source") == "tmesim 0.0.0 (wellmixed engine)"
        assert nc.getncattr("title") == "tmesim run"
        assert nc.getncattr("history") == "simulated by tmesim 0.0.0, wellmixed engine, seed 7"
        for name in ("time", "patient", "arm"):
            assert "_FillValue" not in nc.variables[name].ncattrs(), name
    # the caller's attributes win over the defaults
    assert outputs.cf_attributes(ds.assign_attrs(title="mine"))["title"] == "mine"


def test_the_results_contract_carries_cf_attributes():
    from tmesim.results import assemble
    import inspect

    source = inspect.getsource(assemble)
    for key in ("Conventions", "title", "source", "history"):
        assert f"{key}=" in source
