"""Bad input, as a user types it: one table, each case through the console entry point (``cli.main``).

Every case must end with its exit code and exactly one ``error:`` line on
stderr (no traceback), before any simulation starts (the engine is replaced
by one that fails the test if reached) and without leaving anything that looks
like a result. The cases are issue 20's, and more that a user would type.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tmesim import cli

SMALL = {"name": "t", "days": 2, "arms": [{"name": "control"},
                                          {"name": "treated", "doses": [{"drug": "anti_pd1", "dose": 10, "start_day": 1}]}]}


def scenario(**changes) -> str:
    data = yaml.safe_load(yaml.safe_dump(SMALL))
    for key, value in changes.items():
        if key.startswith("dose_"):
            data["arms"][1]["doses"][0][key.removeprefix("dose_")] = value
        elif key == "products":
            data["arms"][1]["products"] = value
        else:
            data[key] = value
    return yaml.safe_dump(data, sort_keys=False)


DUPLICATE_KEY = """name: t
days: 2
arms:
  - name: treated
    doses:
      - {drug: anti_pd1, dose: 10, start_day: 1}
    doses: []
"""
SET_HEAD = "name: custom\ninherits: mouse_b16_icb_ferroptosis\nparameters:\n"
GROWTH = '  tumor_growth_rate: {value: 0.3, unit: 1/day, source: "assumption: test value", source_kind: assumption}\n'


def nested(levels: int) -> str:
    return "a:\n" + "".join(" " * (i + 1) + "b:\n" for i in range(levels))


#: id -> (files {name: text or bytes}, argv, exit code, texts the error line must contain)
CASES = {
    # ---- scenario files that are not what they seem
    "binary scenario": ({"s.yaml": b"\x89PNG\r\n\x1a\n\x00\x00"}, ["run", "s.yaml"], 2, ("s.yaml", "not a text file")),
    "non-UTF-8 scenario": ({"s.yaml": "name: t\ndescription: caf\xe9\n".encode("latin-1")}, ["run", "s.yaml"], 2,
                           ("line 2", "not UTF-8")),
    "deeply nested scenario": ({"s.yaml": nested(3000)}, ["run", "s.yaml"], 2, ("s.yaml", "nested more than")),
    "nested past the limit": ({"s.yaml": nested(60)}, ["run", "s.yaml"], 2, ("line 51", "nested more than 50")),
    "directory as scenario": ({"dir.yaml/x": ""}, ["run", "dir.yaml"], 2, ("dir.yaml", "is a directory")),
    "directory without suffix": ({"mydir/x": ""}, ["run", "mydir"], 2, ("mydir", "is a directory")),
    "missing file": ({}, ["run", "nope.yaml"], 2, ("nope.yaml", "not found")),
    "empty file": ({"s.yaml": ""}, ["run", "s.yaml"], 2, ("mapping",)),
    "a list, not a mapping": ({"s.yaml": "- a\n- b\n"}, ["run", "s.yaml"], 2, ("mapping",)),
    "tab indentation": ({"s.yaml": "name: t\narms:\n\t- name: a\n"}, ["run", "s.yaml"], 2, ("line 3", "malformed YAML")),
    "duplicate key": ({"s.yaml": DUPLICATE_KEY}, ["run", "s.yaml"], 2, ("line 7", "duplicate key 'doses'", "line 5")),
    # ---- wrong scalar types
    "count: true": ({"s.yaml": scenario(dose_count=True, dose_every_days=1)}, ["run", "s.yaml"], 2,
                    ("arms[1].doses[0].count", "True", "line")),
    "count: 2.5": ({"s.yaml": scenario(dose_count=2.5, dose_every_days=1)}, ["run", "s.yaml"], 2, ("count", "2.5")),
    "dose as text": ({"s.yaml": scenario(dose_dose="10")}, ["run", "s.yaml"], 2, ("arms[1].doses[0].dose", "'10'")),
    "days: yes": ({"s.yaml": scenario(days=True)}, ["run", "s.yaml"], 2, ("days", "True")),
    "seed as float": ({"s.yaml": scenario(seed=1.5)}, ["run", "s.yaml"], 2, ("seed",)),
    "knockout: 1": ({"s.yaml": scenario(products=[{"day": 1, "cells": 1e6, "ifng_knockout": 1}])}, ["run", "s.yaml"], 2,
                    ("ifng_knockout",)),
    # ---- implausible sizes and amounts
    "1e30 initial tumour cells": ({}, ["run", "--set", "initial_tumor_cells=1e30"], 2,
                                  ("initial_tumor_cells", "must be <= 1e+13")),
    "1e20 CAR T cells": ({"s.yaml": scenario(products=[{"day": 1, "cells": 1e20}])}, ["run", "s.yaml"], 2,
                         ("arms[1].products[0].cells", "1000000000000", "1e+20")),
    "1e12 mg/kg": ({"s.yaml": scenario(dose_dose=1e12)}, ["run", "s.yaml"], 2, ("arms[1].doses[0].dose", "2000 mg/kg")),
    "3 g/kg (bound after unit conversion)": ({"s.yaml": scenario(dose_dose=3, dose_unit="g/kg")}, ["run", "s.yaml"], 2,
                                             ("arms[1].doses[0].dose", "3000 mg/kg")),
    "cd4_fraction above 1": ({"s.yaml": scenario(products=[{"day": 1, "cells": 1e6, "cd4_fraction": 1.5}])},
                             ["run", "s.yaml"], 2, ("cd4_fraction", "1.5")),
    "bortezomib kills faster than the culture grows": (
        {"s.yaml": scenario(products=[{"day": 1, "cells": 1e6, "manufacturing": "bortezomib"}],
                            parameters={"car_bortezomib_culture_death_rate": "1 1/day"})}, ["run", "s.yaml"], 2,
        ("arms[1].parameters.car_bortezomib_culture_death_rate", "never reach the dose")),
    "cohort variability of 5": ({"s.yaml": scenario(cohort={"size": 2, "variability": {"all": 5.0}})}, ["run", "s.yaml"],
                                2, ("cohort.variability",)),
    "tiny output interval": ({"s.yaml": scenario(days=3650, output_interval_hours=1e-6)}, ["run", "s.yaml"], 2,
                             ("output_interval_hours", "GiB")),
    "huge cohort": ({"s.yaml": scenario(days=3650, cohort={"size": 900_000})}, ["run", "s.yaml"], 2, ("cohort.size", "GiB")),
    "cohort past the cap": ({"s.yaml": scenario(cohort={"size": 10**8})}, ["run", "s.yaml"], 2, ("cohort.size",)),
    "huge dose count": ({"s.yaml": scenario(dose_count=10**6, dose_every_days=0.001)}, ["run", "s.yaml"], 2, ("count",)),
    "growth rate 1000/day": ({}, ["run", "--set", "tumor_growth_rate=1000 1/day"], 2, ("tumor_growth_rate", "1/day")),
    # ---- command-line values
    "seed beyond 64 bits": ({}, ["run", "--seed", str(2**70)], 2, ("--seed",)),
    "negative seed": ({}, ["run", "--seed", "-1"], 2, ("--seed",)),
    "zero days": ({}, ["run", "--days", "0"], 2, ("days",)),
    "nan days": ({}, ["run", "--days", "nan"], 2, ("days",)),
    "ten thousand years": ({}, ["run", "--days", "3650000"], 2, ("days",)),
    "days not a number": ({}, ["run", "--days", "ten"], 2, ("--days",)),
    "--set true": ({}, ["run", "--set", "tumor_growth_rate=true"], 2, ("tumor_growth_rate", "true")),
    "--set unknown unit": ({}, ["run", "--set", "tumor_growth_rate=1 furlong"], 2, ("tumor_growth_rate", "furlong")),
    "--set knob out of range": ({}, ["run", "--set", "tumor_gpx4_loss=2"], 2, ("tumor_gpx4_loss", "<=")),
    "--set empty name": ({}, ["run", "--set", "=3"], 2, ("--set",)),
    "unknown scenario": ({}, ["run", "b16"], 2, ("b16",)),
    "unknown option": ({}, ["run", "--bogus"], 2, ("--bogus",)),
    "unknown command": ({}, ["frobnicate"], 2, ("frobnicate",)),
    # ---- output paths
    "--out is a file": ({"taken.txt": "x"}, ["run", "--out", "taken.txt"], 2, ("--out", "not a directory")),
    "--out below a file": ({"taken.txt": "x"}, ["run", "--out", "taken.txt/run"], 2, ("--out", "is a file")),
    "--out not empty": ({"full/keep.txt": "x"}, ["run", "--out", "full"], 2, ("--out", "not empty")),
    # ---- parameter sets
    "params: binary set": ({"p.yaml": b"\x00\x01\x02"}, ["params", "p.yaml"], 2, ("p.yaml", "not a text file")),
    "params: directory": ({"p.yaml/x": ""}, ["params", "p.yaml"], 2, ("is a directory",)),
    "params: duplicate key": ({"p.yaml": SET_HEAD + GROWTH + GROWTH}, ["params", "p.yaml"], 2,
                              ("line 5", "duplicate key 'tumor_growth_rate'")),
    "params: value true": ({"p.yaml": SET_HEAD + GROWTH.replace("0.3", "true")}, ["params", "p.yaml"], 2,
                           ("tumor_growth_rate", "not a number")),
    "params: unit a number": ({"p.yaml": SET_HEAD + GROWTH.replace("1/day", "7")}, ["params", "p.yaml"], 2,
                              ("tumor_growth_rate",)),
    "params: above the bound": ({"p.yaml": SET_HEAD + GROWTH.replace("0.3", "300")}, ["params", "p.yaml"], 2,
                                ("tumor_growth_rate", "<= 14.4 1/day, got 300 1/day")),
    # ---- reproduce: everything checked before computing
    "reproduce --json is a directory": ({"d/x": ""}, ["reproduce", "2a", "--json", "d"], 2, ("--json", "is a directory")),
    "reproduce --json below a file": ({"f": "x"}, ["reproduce", "2a", "--json", "f/r.json"], 2, ("--json", "is a file")),
    "reproduce --out is a file": ({"f": "x"}, ["reproduce", "2a", "--out", "f"], 2, ("--out", "not a directory")),
    "reproduce --out not empty": ({"full/keep.txt": "x"}, ["reproduce", "2a", "--out", "full"], 2, ("--out", "not empty")),
    "reproduce --draws 0": ({}, ["reproduce", "--draws", "0"], 2, ("--draws",)),
    "reproduce --draws 1e9": ({}, ["reproduce", "--draws", str(10**9)], 2, ("--draws",)),
    "reproduce --seed -1": ({}, ["reproduce", "--seed", "-1"], 2, ("--seed",)),
    "reproduce unknown id": ({}, ["reproduce", "9z"], 2, ("9z",)),
    "reproduce spatial: finding 3": ({}, ["reproduce", "--scale", "spatial", "3"], 2, ("no spatial twin", "1, 2, 5")),
    "reproduce spatial: --replicates 0": ({}, ["reproduce", "--scale", "spatial", "--replicates", "0"], 2, ("--replicates",)),
    "reproduce spatial: --json is a directory": ({"d/x": ""}, ["reproduce", "--scale", "spatial", "1", "--json", "d"], 2,
                                                 ("--json", "is a directory")),
    # ---- cohorts (read as strictly as scenarios and sets)
    "trial: cohort duplicate key": ({"c.yaml": "scenario: ball_car_bortezomib\npatients: 4\npatients: 5\n"},
                                    ["trial", "c.yaml"], 2, ("line 3", "duplicate key 'patients'")),
    "trial: cohort binary": ({"c.yaml": b"\x00\x01"}, ["trial", "c.yaml"], 2, ("c.yaml", "not a text file")),
    "trial: cohort directory": ({"c.yaml/x": ""}, ["trial", "c.yaml"], 2, ("is a directory",)),
    "trial: unknown cohort": ({}, ["trial", "ball_car_t_proteasom"], 2, ("did you mean 'ball_car_t_proteasome'",)),
    # ---- check
    "check: duplicate key": ({"s.yaml": DUPLICATE_KEY}, ["check", "s.yaml"], 2, ("duplicate key",)),
    "check: unwritable out": ({"taken.txt": "x"}, ["check", "--out", "taken.txt"], 2, ("--out",)),
}


@pytest.fixture
def no_simulation(monkeypatch):
    """Replace the engine and the findings runner with functions that fail the test if reached."""
    from tmesim.reproduce import runner, spatial
    from tmesim.spatial import engine as spatial_engine
    from tmesim.wellmixed import engine

    def must_not_run(*args, **kwargs):
        raise AssertionError("reached the simulation although the input was bad")

    monkeypatch.setattr(engine, "run", must_not_run)
    monkeypatch.setattr(spatial_engine, "run", must_not_run)
    monkeypatch.setattr(runner, "run_findings", must_not_run)
    monkeypatch.setattr(spatial, "run_spatial_findings", must_not_run)


def invoke(argv, monkeypatch, capsys) -> tuple[int, str, str]:
    """Run ``tmesim <argv>`` in-process through ``cli.main``; ``(exit code, stdout, stderr)``."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr("sys.argv", ["tmesim", *argv])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def _write(tmp_path: Path, files: dict) -> None:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_an_exit_code(case, tmp_path, monkeypatch, capsys, no_simulation):
    files, argv, code, must_contain = CASES[case]
    _write(tmp_path, files)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMESIM_LOG_DIR", str(tmp_path / "logs"))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    got, out, err = invoke(argv, monkeypatch, capsys)
    lines = [line for line in err.splitlines() if not line.startswith("warning:")]
    assert got == code, (got, err)
    assert "Traceback" not in err + out
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for text in must_contain:
        assert text in lines[0], (text, lines[0])
    # nothing written that looks like a result (no runs/, no new folders or files, no logs: not a bug)
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before, set(after) - set(before)


def test_check_prints_one_paragraph_and_runs_nothing(tmp_path, monkeypatch, capsys, no_simulation):
    (tmp_path / "s.yaml").write_text(scenario(dose_start_day=5))
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke(["check", "s.yaml", "--set", "tumor_growth_rate=0.4"], monkeypatch, capsys)
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1
    paragraph = out.strip()
    assert paragraph.startswith("t: valid.") and "2 arms (control, treated)" in paragraph and "9 time points" in paragraph
    assert "1 scenario override" in paragraph and "past the end" in paragraph
    # the dose on day 5 of a 2-day run: a warning, one line
    assert err.splitlines() == ["warning: arms[1].doses[0]: the dose of anti_pd1 after day 2, the end of the run, "
                                "will not be given"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_plain_tmesim_prints_help_without_an_error_line(monkeypatch, capsys):
    code, out, err = invoke([], monkeypatch, capsys)
    assert code == 0
    assert "error" not in err
    assert "Usage" in out + err and "run" in out + err


def test_version(monkeypatch, capsys):
    from tmesim import __version__

    assert invoke(["--version"], monkeypatch, capsys)[:2] == (0, f"tmesim {__version__}\n")


@pytest.mark.parametrize("command", ["run", "reproduce", "params", "check"])
def test_flag_help_has_no_placeholders(command, monkeypatch, capsys):
    code, out, _ = invoke([command, "--help"], monkeypatch, capsys)
    assert code == 0
    assert "<bool>" not in out and "--help" in out


# ------------------------------------------------------------- the Python API
def _api_cases():
    from tmesim import Simulation, SolverOptions, load_scenario, simulate
    from tmesim.params import load_parameter_set

    scn = lambda: load_scenario("b16_icb_ferroptosis")  # noqa: E731
    spatial = lambda: load_scenario("b16_icb_ferroptosis_2d")  # noqa: E731
    return {
        "rtol=-1": (lambda: SolverOptions(rtol=-1), "solver.rtol"),
        "rtol=nan": (lambda: SolverOptions(rtol=float("nan")), "solver.rtol"),
        "max_steps=1.5": (lambda: SolverOptions(max_steps=1.5), "solver.max_steps"),
        "method typo": (lambda: SolverOptions(method="ros3"), "solver.method"),
        "solver not options": (lambda: Simulation(scn(), solver={"rtol": 1e-5}), "solver"),
        "seed=True": (lambda: Simulation(scn(), seed=True), "seed"),
        "seed=-1": (lambda: Simulation(scn(), seed=-1), "seed"),
        "seed=2**64": (lambda: Simulation(scn(), seed=2**64), "seed"),
        "scenario a number": (lambda: Simulation(42), "scenario"),
        "load_scenario(None)": (lambda: load_scenario(None), "scenario"),
        "load_parameter_set(3)": (lambda: load_parameter_set(3), "parameter_set"),
        "patient_values NaN": (lambda: Simulation(scn(), patient_values={"tumor_growth_rate": [float("nan")]}),
                               "patient_values.tumor_growth_rate"),
        "patient_values not numbers": (lambda: Simulation(scn(), patient_values={"tumor_growth_rate": ["a"]}),
                                       "patient_values.tumor_growth_rate"),
        "patient_values sizes": (lambda: Simulation(scn(), patient_values={"tumor_growth_rate": [1e-4, 2e-4],
                                                                          "tumor_basal_death_rate": [1e-5]}),
                                 "patient_values"),
        "patient_seeds well-mixed": (lambda: Simulation(scn(), patient_seeds=[1, 2]), "patient_seeds"),
        "patient_seeds floats": (lambda: Simulation(spatial(), patient_seeds=[1.5]), "patient_seeds"),
        "patient_seeds negative": (lambda: Simulation(spatial(), patient_seeds=[-1]), "patient_seeds"),
        "patient_seeds and values": (lambda: Simulation(spatial(), patient_seeds=[1, 2],
                                                        patient_values={"tumor_growth_rate": [1e-4]}),
                                     "patient_seeds"),
        "patient_values with replicates": (lambda: Simulation(
            spatial().with_overrides(spatial={**spatial().spatial.model_dump(), "replicates": 2}),
            patient_values={"tumor_growth_rate": [1e-4]}), "spatial.replicates"),
        "progress not callable": (lambda: simulate(scn(), progress="yes"), "progress"),
        "days=True": (lambda: scn().with_overrides(days=True), "days"),
        "bool parameter": (lambda: scn().with_overrides(parameters={"tumor_growth_rate": True}),
                           "parameters.tumor_growth_rate"),
        "dose 1e12 mg/kg": (lambda: scn().with_overrides(arms=[{"name": "a", "doses": [
            {"drug": "ike", "dose": 1e12, "start_day": 1}]}]), "arms[0].doses[0].dose"),
    }


@pytest.mark.parametrize("case", list(_api_cases()))
def test_api_entry_points_reject_bad_input(case, no_simulation):
    from tmesim.errors import InputError

    build, field = _api_cases()[case]
    with pytest.raises(InputError) as info:
        build()
    assert info.value.field == field, str(info.value)


def test_failed_rows_warn_through_the_api(monkeypatch, run_dataset):
    from tmesim import load_scenario
    from tmesim.errors import SimulationError
    from tmesim.simulation import Simulation, SimulationWarning
    from tmesim.wellmixed import engine

    ds = run_dataset
    ds["solver_status"][0, 0] = 1
    ds["solver_message"] = ds["solver_message"].astype(object)
    ds["solver_message"][0, 0] = "too many steps"
    monkeypatch.setattr(engine, "run", lambda sim, progress=None: ds)
    sim = Simulation(load_scenario())
    with pytest.warns(SimulationWarning, match="integration failed in 1 of 2 runs.*too many steps"):
        sim.run()
    with pytest.raises(SimulationError, match="too many steps"):
        sim.run(raise_on_failure=True)


def test_memory_estimate_names_what_to_change():
    from tmesim import load_scenario
    from tmesim.errors import InputError
    from tmesim.simulation import Simulation

    sim = Simulation(load_scenario())
    est = sim.memory_bytes()
    assert est["time_points"] == sim.output_days().size + 1 and est["rows"] == 4
    sim.check_memory(available=int(10 * (est["outputs"] + est["events"])))
    with pytest.raises(InputError) as info:
        sim.check_memory(available=int(est["outputs"]))
    assert info.value.field == "output_interval_hours" and "GiB" in str(info.value)
    cohort = Simulation(load_scenario().with_overrides(cohort={"size": 5000}))
    with pytest.raises(InputError) as info:
        cohort.check_memory(available=10**6)
    assert info.value.field == "cohort.size"


def _fake_findings(fail: bool):
    def run_findings(ids, draws, seed, out, progress=None, controls=True):
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "finding1.png").write_bytes(b"\x89PNG")
        if fail:
            raise KeyboardInterrupt  # killed halfway through the figures
        from tmesim.reproduce.findings import FINDINGS
        from tmesim.reproduce.runner import _not_run

        return [_not_run(FINDINGS[0], "missing scenario")]
    return run_findings


def test_reproduce_writes_its_folder_atomically(tmp_path, monkeypatch, capsys):
    from tmesim.reproduce import runner

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner, "run_findings", _fake_findings(fail=True))
    code, _, err = invoke(["reproduce", "1a", "--out", "figs", "--json", "r.json", "-q"], monkeypatch, capsys)
    assert code == 130 and err.strip() == "error: interrupted; nothing written"
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no figures folder, no JSON, no hidden leftovers
    monkeypatch.setattr(runner, "run_findings", _fake_findings(fail=False))
    code, out, err = invoke(["reproduce", "1a", "--out", "figs", "--json", "r.json", "-q"], monkeypatch, capsys)
    assert code == 1  # the check did not run: a required check fails
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figs", "r.json"]
    assert [p.name for p in (tmp_path / "figs").iterdir()] == ["finding1.png"]
    code, *_ = invoke(["reproduce", "1a", "-q"], monkeypatch, capsys)
    code, *_ = invoke(["reproduce", "1a", "-q"], monkeypatch, capsys)  # same second: both kept
    assert len([p for p in (tmp_path / "runs").iterdir() if p.name.startswith("reproduce-")]) == 2
