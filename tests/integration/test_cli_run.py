"""The ``tmesim`` command line, run as a subprocess (``python -m tmesim.cli``)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr
import yaml

from tmesim.params import list_parameter_sets, load_parameter_set
from tmesim.scenario import list_scenarios, load_scenario

FLAGSHIP = "b16_icb_ferroptosis"


def tmesim(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    # a wide terminal so rich tables do not fold or truncate names
    env = dict(os.environ, COLUMNS="250", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "tmesim.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _scenario_yaml(tmp_path: Path, data_or_text, name: str = "scn.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data_or_text if isinstance(data_or_text, str) else yaml.safe_dump(data_or_text, sort_keys=False))
    return path


def _small_scenario(**arm_extra) -> dict:
    arm = {"name": "treated", "doses": [{"drug": "anti_pd1", "dose": 10, "unit": "mg/kg", "start_day": 1}]}
    arm.update(arm_extra)
    return {"name": "cli_test", "days": 2, "arms": [{"name": "control"}, arm]}


# ------------------------------------------------------------------ success
def test_run_writes_a_complete_run_directory(tmp_path):
    """One flagship run (5 days), checked in full: kept in one test so that
    parallel workers do not each repeat it."""
    out = tmp_path / "run1"
    res = tmesim("run", "--out", str(out), "--days", "5", cwd=tmp_path, timeout=300)
    expected_arms = [a.name for a in load_scenario(FLAGSHIP).arms]

    # exit status and the printed summary
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert str(out) in res.stdout
    for arm in expected_arms:
        assert arm in res.stdout

    # the files
    for name in ("timeseries.nc", "summary.csv", "scenario.yaml"):
        assert (out / name).is_file(), name
        assert (out / name).stat().st_size > 0, name
    assert list((out / "figures").glob("*.png")), "no figures written"
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []

    # the time series
    with xr.open_dataset(out / "timeseries.nc") as ds:
        assert [str(a) for a in ds.arm.values] == expected_arms
        assert set(ds.tumor_live.dims) == {"arm", "patient", "time"}
        assert float(ds.time.max()) == pytest.approx(5.0)
        assert float(ds.time.min()) == 0.0
        assert (ds.solver_status.values == 0).all()
        assert ds.attrs["engine"] == "wellmixed"
        assert (ds.tumor_live.values > 0).all()

    # the summary: one row per arm, in scenario order
    rows = list(csv.DictReader((out / "summary.csv").open()))
    first_col = next(iter(rows[0]))
    assert [r[first_col] for r in rows] == expected_arms

    # the resolved scenario reruns, with the --days override applied
    scn = load_scenario(out / "scenario.yaml")
    assert scn.days == 5
    assert [a.name for a in scn.arms] == expected_arms


def test_quiet_run_of_a_yaml_with_set(tmp_path):
    path = _scenario_yaml(tmp_path, _small_scenario())
    out = tmp_path / "quiet"
    res = tmesim("run", str(path), "--out", str(out), "--quiet", "--set", "tumor_growth_rate=0.3 1/day",
                 "--seed", "4", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(out)
    scn = load_scenario(out / "scenario.yaml")
    assert scn.seed == 4
    assert scn.base_parameters["tumor_growth_rate"] == pytest.approx(0.3 / 1440.0)
    with xr.open_dataset(out / "timeseries.nc") as ds:
        assert [str(a) for a in ds.arm.values] == ["control", "treated"]


# ------------------------------------------------------------------ listings
def test_params_lists_every_parameter(tmp_path):
    res = tmesim("params", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    for name in ("tumor_growth_rate", "gsh_turnover_rate", "bach2_time_constant"):
        assert name in res.stdout


def test_params_csv_matches_loader(tmp_path):
    res = tmesim("params", "--csv", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    ps = load_parameter_set()
    assert [r["name"] for r in rows] == [r.name for r in ps.records()]
    for row in rows:
        assert float(row["value"]) == pytest.approx(ps[row["name"]], rel=1e-12)
        assert row["unit"] == ps.by_name[row["name"]].unit
        assert row["note"] == ps.by_name[row["name"]].note
    assert any(row["note"] for row in rows)


def test_params_table_shows_a_derivation(tmp_path):
    res = tmesim("params", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "derivation:" in res.stdout


def test_params_list_names_sets(tmp_path):
    res = tmesim("params", "--list", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    for name, _ in list_parameter_sets():
        assert name in res.stdout


def test_scenarios_lists_names(tmp_path):
    res = tmesim("scenarios", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    for name, _ in list_scenarios():
        assert name in res.stdout


# ------------------------------------------------------------------ failures
def _assert_input_error(res: subprocess.CompletedProcess, *must_contain: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error:"), lines[0]
    for text in must_contain:
        assert text in lines[0], (text, lines[0])
    return lines[0]


BAD_ARGS = {
    "unknown scenario": (["b16_icb_ferroptsis"], ("b16_icb_ferroptsis", FLAGSHIP)),
    "missing yaml": (["does_not_exist.yaml"], ("does_not_exist.yaml",)),
    "unknown parameter": (["--set", "nonexistent_param=1"], ("nonexistent_param",)),
    "retired parameter": (["--set", "gpx4_max_rate=0.04"], ("gpx4_max_rate", "retired", "gpx4_capacity_margin")),
    "negative rate": (["--set", "tumor_growth_rate=-1"], ("tumor_growth_rate",)),
    "resting ferroptosis hazard no power gives": (["--set", "tumor_ferroptosis_resting_hazard=0 1/day"],
                                                  ("tumor_ferroptosis_resting_hazard", "Hill power", "at most")),
    "not a number": (["--set", "tumor_growth_rate=abc"], ("tumor_growth_rate", "abc")),
    "wrong unit": (["--set", "tumor_growth_rate=1 mM"], ("tumor_growth_rate", "mM")),
    "set without =": (["--set", "tumor_growth_rate"], ("--set",)),
    "negative days": (["--days", "-1"], ("days",)),
    "unknown option": (["--bogus"], ("--bogus", "run --help")),
    "days not a number": (["--days", "abc"], ("--days",)),
}


@pytest.mark.parametrize("case", list(BAD_ARGS))
def test_bad_arguments_exit_2_with_one_line(tmp_path, case):
    args, must_contain = BAD_ARGS[case]
    out = tmp_path / "out"
    res = tmesim("run", *args, "--out", str(out), cwd=tmp_path)
    _assert_input_error(res, *must_contain)
    assert not out.exists()
    assert not (tmp_path / "runs").exists()


def test_unknown_command_exits_2_with_one_line(tmp_path):
    _assert_input_error(tmesim("frobnicate", cwd=tmp_path), "frobnicate")


BAD_FILES = {
    "unknown key": (dict(_small_scenario(), dayz=3), ("dayz", "'days'")),
    "malformed yaml": ("name: x\ndays: 2\narms: [{name: control}\n", ("malformed YAML",)),
    "negative dose": (_small_scenario(doses=[{"drug": "anti_pd1", "dose": -10, "start_day": 1}]),
                      ("arms[1].doses[0].dose",)),
    "unknown drug": (_small_scenario(doses=[{"drug": "anti_pd_1", "dose": 10, "start_day": 1}]),
                     ("anti_pd_1", "anti_pd1")),
    "duplicate arms": (dict(_small_scenario(), arms=[{"name": "a"}, {"name": "a"}]), ("unique",)),
    # validated only once the engine compiles the arms, still before anything is written
    "arm parameter typo": (_small_scenario(parameters={"tumor_growth_rat": 1}), ("tumor_growth_rate",)),
    "dose unit": (_small_scenario(doses=[{"drug": "anti_pd1", "dose": 10, "unit": "mM", "start_day": 1}]),
                  ("arms[1].doses[0].unit",)),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_scenario_files_exit_2_with_one_line(tmp_path, case):
    content, must_contain = BAD_FILES[case]
    path = _scenario_yaml(tmp_path, content)
    out = tmp_path / "out"
    res = tmesim("run", str(path), "--out", str(out), cwd=tmp_path)
    _assert_input_error(res, *must_contain)
    assert not out.exists()


def test_unknown_parameter_set_for_params(tmp_path):
    _assert_input_error(tmesim("params", "no_such_set", cwd=tmp_path), "no_such_set")


def test_existing_non_empty_out_dir_is_refused(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    path = _scenario_yaml(tmp_path, _small_scenario())
    _assert_input_error(tmesim("run", str(path), "--out", str(out), "--quiet", cwd=tmp_path), "taken")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_usage_error_exits_2_without_traceback(tmp_path):
    res = tmesim("run", "--days", "abc", cwd=tmp_path)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr


def test_non_empty_output_dir_is_refused_before_simulating(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tmesim import cli
    from tmesim.errors import InputError
    from tmesim.wellmixed import engine

    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")

    def must_not_run(*args, **kwargs):
        raise AssertionError("simulated although the output directory was unusable")

    monkeypatch.setattr(engine, "run", must_not_run)
    res = CliRunner().invoke(cli.app, ["run", "--days", "1", "--out", str(out)])
    assert isinstance(res.exception, InputError) and "not empty" in str(res.exception)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
