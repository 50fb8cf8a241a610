"""The spatial engine: its outputs, determinism, resume, bad input and discreteness.

Runs use a few hundred sites and hours to a day of simulated time, so each
takes seconds once the kernels are compiled (numba caches them on disk).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from tmesim import Simulation, load_scenario
from tmesim.errors import InputError, SimulationError
from tmesim.spatial import cells as C
from tmesim.spatial.engine import SpatialRun, replicate_seeds
from tmesim.spatial.outputs import CHECKPOINT_FILE, Recorder


def spatial_scenario(path: Path, days: float = 0.5, **spatial) -> Path:
    """Write a small 2D spatial scenario (B16 parameters, 12 x 12 sites of 20 um) and return its path."""
    section = {"dimensions": 2, "domain_um": [240, 240], "site_um": 20, "dt_minutes": 6,
               "geometry": {"kind": "spheroid", "radius_um": 60}, "vessels": {"density": 0.05, "placement": "outside"},
               "snapshot_interval_hours": 6, "checkpoint_interval_hours": 3}
    section.update(spatial)
    data = {"name": "tiny_spatial", "parameter_set": "mouse_b16_icb_ferroptosis", "scale": "spatial", "days": days,
            "output_interval_hours": 3, "seed": 7, "spatial": section,
            "arms": [{"name": "control"},
                     {"name": "anti-PD-1", "doses": [{"drug": "anti_pd1", "dose": 10, "unit": "mg/kg",
                                                      "start_day": 0.1, "every_days": 3, "count": 1}]}]}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def timeseries_equal(a: xr.Dataset, b: xr.Dataset) -> None:
    for ds in (a, b):
        ds.attrs.pop("created", None)
    xr.testing.assert_identical(a, b)


# ---------------------------------------------------------------- results contract

def test_spatial_results_carry_the_wellmixed_variables(tmp_path):
    """Every summary works on both scales: the spatial Dataset has the well-mixed engine's variables."""
    spatial = Simulation(spatial_scenario(tmp_path / "s.yaml", days=0.25)).run()
    from tmesim import variables as V

    expected = {e[0] for e in V.STATE + V.COUNTERS + V.DERIVED} - set(V.T_CELL_POOLS)
    assert expected <= set(spatial.data_vars)
    assert spatial.attrs["engine"] == "spatial"
    assert spatial.sizes["arm"] == 2 and spatial.sizes["patient"] == 1
    assert spatial["t_cells"].dims == ("arm", "patient", "time", "t_pool")
    live = spatial["tumor_live"].isel(patient=0)
    assert (live > 0).all()
    # at the start the tumour fills the sites whose centres lie within 60 um (3 sites) of the domain's centre
    offset = np.arange(12) + 0.5 - 6.0
    assert int(live.isel(arm=0, time=0)) == int((offset[:, None] ** 2 + offset[None, :] ** 2 <= 9.0).sum())
    # the tumour's cells take up oxygen from the 38 mmHg they start at
    later = spatial["oxygen"].isel(time=slice(1, None))
    assert (later < 37.0).all() and (later > 0).all()
    assert int(spatial["solver_status"].max()) == 0


@pytest.mark.filterwarnings(r"ignore:arms\[1\]\.doses\[0\]")
def test_patient_values_and_seeds_give_one_run_per_patient_and_yield_to_the_arm(tmp_path):
    """A virtual trial's form: per-patient values replace the set's unless the arm sets the parameter, and each
    patient runs with its own seed (two patients with one seed and the same values are the same run)."""
    from tmesim import results as R

    scn = load_scenario(spatial_scenario(tmp_path / "s.yaml", days=0.1)).with_overrides(
        arms=[{"name": "control"}, {"name": "fast", "parameters": {"tumor_growth_rate": "2 1/day"}}])
    growth = np.array([1e-4, 2e-4, 3e-4])  # 1/min
    ds = Simulation(scn, patient_values={"tumor_growth_rate": growth}, patient_seeds=[5, 6, 5]).run()
    assert ds.sizes["patient"] == 3 and ds.attrs["replicate_seeds"] == ["5", "6", "5"]
    used = R.parameter(ds, "tumor_growth_rate")
    np.testing.assert_allclose(used.sel(arm="control").values, growth)
    np.testing.assert_allclose(used.sel(arm="fast").values, 2 / 1440)
    fast = ds["tumor_live"].sel(arm="fast").values
    np.testing.assert_array_equal(fast[0], fast[2])  # same seed, same values in this arm
    assert not np.array_equal(fast[0], fast[1])  # another seed, another run


def test_arms_share_their_replicate_seeds_and_replicates_differ(tmp_path):
    """Arms are paired: an arm whose treatment starts after the end equals control draw for draw."""
    path = spatial_scenario(tmp_path / "s.yaml", days=0.5, replicates=2)
    data = yaml.safe_load(path.read_text())
    data["arms"][1]["doses"][0]["start_day"] = 5.0
    path.write_text(yaml.safe_dump(data))
    ds = Simulation(path).run()
    a, b = ds["tumor_live"].isel(arm=0), ds["tumor_live"].isel(arm=1)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(ds["tumor_live"].isel(arm=0, patient=0), ds["tumor_live"].isel(arm=0, patient=1)) or \
        not np.array_equal(ds["deaths_necrosis"].isel(arm=0, patient=0), ds["deaths_necrosis"].isel(arm=0, patient=1))
    assert len(replicate_seeds(load_scenario(path))) == 2


# ---------------------------------------------------------------- determinism

_RUN_AND_DUMP = """
import sys, numpy as np
from tmesim import Simulation
ds = Simulation(sys.argv[1]).run()
np.savez(sys.argv[2], **{k: ds[k].values for k in ds.data_vars if ds[k].dtype.kind in 'fiu'})
"""


def test_results_do_not_depend_on_the_thread_count(tmp_path):
    path = spatial_scenario(tmp_path / "s.yaml", days=0.5)
    out = {}
    for threads in (1, 2):
        env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
        dump = tmp_path / f"t{threads}.npz"
        subprocess.run([sys.executable, "-c", _RUN_AND_DUMP, str(path), str(dump)], check=True, env=env)
        with np.load(dump) as data:
            out[threads] = {k: data[k] for k in data.files}
    assert out[1].keys() == out[2].keys()
    for k in out[1]:
        np.testing.assert_array_equal(out[1][k], out[2][k], err_msg=k)


class _Killed(Exception):
    pass


class _KilledAfter(Recorder):
    """A recorder whose process 'dies' right after its n-th checkpoint."""

    def __init__(self, folder, n):
        super().__init__(folder, pictures=False)
        self.n = n

    def checkpoint(self, state):
        path = super().checkpoint(state)
        self.n -= 1
        if self.n == 0:
            raise _Killed
        return path


@pytest.mark.parametrize("kill_after", [1, 4])  # in the first arm's run; between the two arms' runs
def test_resume_ends_as_the_uninterrupted_run(tmp_path, kill_after):
    path = spatial_scenario(tmp_path / "s.yaml", days=0.5)
    whole = Simulation(path).run(recorder=Recorder(tmp_path / "whole", pictures=False))
    folder = tmp_path / "killed"
    with pytest.raises(_Killed):
        Simulation(path).run(recorder=_KilledAfter(folder, kill_after))
    assert (folder / CHECKPOINT_FILE).is_file()
    resumed = Simulation(path).run(recorder=Recorder(folder, pictures=False))
    timeseries_equal(resumed, whole)
    assert not (folder / CHECKPOINT_FILE).exists()  # a finished run drops its checkpoint
    # the snapshots written before and after the kill are those of the uninterrupted run
    names = sorted(p.name for p in (tmp_path / "whole" / "cells").iterdir())
    assert names == sorted(p.name for p in (folder / "cells").iterdir())
    for name in names:
        import pandas as pd

        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "whole" / "cells" / name),
                                      pd.read_parquet(folder / "cells" / name))


def test_a_checkpoint_of_another_scenario_is_refused(tmp_path):
    path = spatial_scenario(tmp_path / "s.yaml", days=0.25)
    folder = tmp_path / "run"
    with pytest.raises(_Killed):
        Simulation(path).run(recorder=_KilledAfter(folder, 1))
    other = Simulation(path, seed=8)
    with pytest.raises(InputError) as err:
        other.run(recorder=Recorder(folder))
    assert err.value.field == "--resume"


@pytest.mark.parametrize("key, cut", [("run_cells_x", lambda a: a[:, :7]), ("series", lambda a: a[:-1])])
def test_a_checkpoint_of_another_layout_is_refused_in_one_line(tmp_path, key, cut):
    """A checkpoint from a version whose cells carried 7 states (before T cell CD36) or reported other
    variables: refused naming the array, not a broadcasting traceback."""
    path = spatial_scenario(tmp_path / "s.yaml", days=0.25)
    folder = tmp_path / "run"
    with pytest.raises(_Killed):
        Simulation(path).run(recorder=_KilledAfter(folder, 1))
    with np.load(folder / CHECKPOINT_FILE) as data:
        saved = {k: data[k] for k in data.files}
    saved[key] = cut(saved[key])
    np.savez(folder / CHECKPOINT_FILE, **saved)
    with pytest.raises(InputError) as err:
        Simulation(path).run(recorder=Recorder(folder, pictures=False))
    assert err.value.field == "--resume" and key.removeprefix("run_") in str(err.value)
    assert "another version" in str(err.value)


# ---------------------------------------------------------------- CLI: outputs, resume, bad input

def test_cli_run_writes_fields_cells_pictures_and_an_animation(tmp_path, capsys, tmesim):
    path = spatial_scenario(tmp_path / "s.yaml", days=0.5)
    out = tmp_path / "run"
    assert tmesim("run", str(path), "--out", str(out), "--quiet") == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert not Path(str(out) + ".partial").exists()
    ts = xr.open_dataset(out / "timeseries.nc")
    assert ts.attrs["engine"] == "spatial"
    fields = xr.open_dataset(out / "fields" / "control_r0_day0.25.nc")
    assert fields["x"].attrs["units"] == "um" and fields["oxygen"].attrs["units"] == "mmHg"
    np.testing.assert_allclose(fields["x"].values, np.arange(12) * 20.0 + 10.0)
    import pandas as pd

    cells = pd.read_parquet(out / "cells" / "control_r0_day0.5.parquet")
    assert {"x_um", "y_um", "type", "state", "dead"} <= set(cells.columns)
    tumor = cells[cells["type"] == "tumor"]
    assert len(tumor) == int(ts["tumor_live"].isel(arm=0, patient=0, time=-1)) + \
        int((tumor["dead"] != "alive").sum())
    assert tumor["tumor_slc7a11"].between(0, 100).all()
    # a T cell's CD36 (relative to rest) has a snapshot column (empty for other cells), its mean a variable
    assert "axis_cd36" in cells.columns and tumor["axis_cd36"].isna().all()
    assert ts["host_t_cd36"].attrs["units"] == "1" and ts["car_t_cd36"].attrs["units"] == "1"
    assert (out / "figures" / "tissue_control_r0_day0.5.png").stat().st_size > 10_000
    assert (out / "figures" / "tissue_control_r0.gif").is_file()
    # a finished run has nothing to resume
    assert tmesim("run", "--resume", str(out)) == 2


def test_cli_resume_after_a_kill_matches_a_whole_run(tmp_path, tmesim):
    """A real process killed mid-run, then `tmesim run --resume`."""
    path = spatial_scenario(tmp_path / "s.yaml", days=1.0, checkpoint_interval_hours=1)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from tmesim.cli import main; sys.argv[0] = 'tmesim'; main()",
                             "run", str(path), "--out", str(killed), "-q"])
    partial = Path(str(killed) + ".partial")
    import time

    deadline = time.monotonic() + 300
    while not (partial / CHECKPOINT_FILE).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    if killed.exists():  # it finished before we could kill it: nothing to test on this machine
        pytest.skip("the run ended before the first checkpoint")
    assert not killed.exists() and (partial / "scenario.yaml").is_file()
    assert tmesim("run", "--resume", str(killed), "-q") == 0
    assert tmesim("run", str(path), "--out", str(whole), "-q") == 0
    timeseries_equal(xr.open_dataset(killed / "timeseries.nc"), xr.open_dataset(whole / "timeseries.nc"))


@pytest.mark.parametrize("change, field", [
    ({"domain_um": [250, 240]}, "spatial.domain_um"),
    ({"domain_um": [240, 240, 240]}, "spatial.domain_um"),
    ({"colour": "red"}, "spatial.colour"),
    ({"geometry": {"kind": "file", "file": "missing.csv"}}, "spatial.geometry.file"),
    ({"geometry": {"kind": "spheroid"}}, "spatial.geometry"),
    ({"vessels": {"placement": "file"}}, "spatial.vessels"),
    ({"field_dt_minutes": 10}, "spatial"),
    ({"oxygen_dt_minutes": 2}, "spatial"),
    ({"field_rtol": 0}, "spatial.field_rtol"),
    ({"field_rtol": 1.5}, "spatial.field_rtol"),
    ({"field_rtol": "tight"}, "spatial.field_rtol"),
    ({"field_atol": -1e-6}, "spatial.field_atol"),
    ({"rules": "no_such_rules.csv"}, "spatial.rules"),
])
def test_bad_spatial_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, change, field, tmesim):
    path = spatial_scenario(tmp_path / "s.yaml", **change)
    out = tmp_path / "run"
    assert tmesim("run", str(path), "--out", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert field in err
    assert not any(p.name.startswith("run") for p in tmp_path.iterdir())


def test_bad_rows_of_a_cell_file_are_named(tmp_path, capsys, tmesim):
    cells = tmp_path / "cells.csv"
    for body, problem in (("x,y,type\n10,10,tumor\n20,30,tumour_cell\n", "row 3"),
                          ("x,y,type\n10,10,tumor\n900,30,tumor\n", "outside the domain"),
                          ("x,type\n10,tumor\n", "no column 'y'"),
                          ("x,y,type\nten,10,tumor\n", "row 2")):
        cells.write_text(body)
        path = spatial_scenario(tmp_path / "s.yaml", geometry={"kind": "file", "file": "cells.csv"})
        assert tmesim("run", str(path), "--out", str(tmp_path / "run")) == 2
        err = capsys.readouterr().err
        assert "spatial.geometry.file" in err and problem in err, err
    assert not (tmp_path / "run").exists()


def test_a_cell_file_places_the_cells_it_lists(tmp_path):
    (tmp_path / "cells.csv").write_text("x,y,type\n110,110,tumor\n130,110,tumor\n150,110,cd8_t_cell\n"
                                        "10,230,macrophage\n")
    path = spatial_scenario(tmp_path / "s.yaml", days=0.0125, geometry={"kind": "file", "file": "cells.csv"})
    scn = load_scenario(path)
    run = SpatialRun(scn, 0, scn.arm_parameter_sets[0].vector(), replicate_seeds(scn)[0])
    c = run.cells
    kinds = {C.KIND_NAMES[k]: int(np.sum(c.kind[:c.n] == k)) for k in range(len(C.KIND_NAMES))}
    assert kinds["tumor"] == 2 and kinds["cd8_t_cell"] == 1 and kinds["macrophage"] == 1
    assert c.occupancy[5 * 12 + 7] >= 0 and c.kind[c.occupancy[5 * 12 + 7]] == C.CD8  # (150, 110) um -> x 7, y 5


def test_negative_diffusion_coefficient_is_refused(tmp_path, capsys, tmesim):
    path = spatial_scenario(tmp_path / "s.yaml")
    assert tmesim("run", str(path), "--set", "oxygen_diffusion=-1 um**2/min", "--out", str(tmp_path / "run")) == 2
    assert "oxygen_diffusion" in capsys.readouterr().err


def test_a_field_going_non_finite_stops_the_run_naming_field_time_and_place(tmp_path):
    scn = load_scenario(spatial_scenario(tmp_path / "s.yaml"))
    run = SpatialRun(scn, 0, scn.arm_parameter_sets[0].vector(), replicate_seeds(scn)[0])
    run.step()
    run.fields.values[run.fields.field_index("ifng"), 3, 4] = np.nan
    with pytest.raises(SimulationError) as err:
        run.step()
    msg = str(err.value)
    assert "field 'ifng'" in msg and "non-finite" in msg and "t = 6 min" in msg and "voxel (3, 4)" in msg


# ---------------------------------------------------------------- discreteness

def test_a_residual_tumour_of_a_few_cells_goes_extinct_or_regrows_by_chance(tmp_path):
    """A handful of tumour cells, no immune cells, division and death hazards of the same order: some
    replicates lose every cell, others grow; the outcome is drawn, not set."""
    (tmp_path / "cells.csv").write_text("x,y,type\n" + "".join(f"{110 + 20 * i},110,tumor\n" for i in range(2)))
    # hazards make the outcome independent of the step: long steps keep the 16 replicates cheap
    path = spatial_scenario(tmp_path / "s.yaml", days=4.0, replicates=16, snapshot_interval_hours=0,
                            checkpoint_interval_hours=0, geometry={"kind": "file", "file": "cells.csv"},
                            vessels={"density": 0.0}, dt_minutes=30, field_dt_minutes=30, oxygen_dt_minutes=30)
    data = yaml.safe_load(path.read_text())
    data["arms"] = [{"name": "residual"}]
    data["output_interval_hours"] = 24
    path.write_text(yaml.safe_dump(data))
    scn = load_scenario(path).with_overrides(parameters={"tumor_basal_death_rate": "0.4 1/day"})
    ds = Simulation(scn).run()
    final = ds["tumor_live"].isel(arm=0, time=-1).values
    assert (final == 0).sum() >= 1, final
    assert (final > 2).sum() >= 1, final


def test_a_run_without_t_cells_is_not_a_failure_but_a_nan_state_still_is(tmp_path):
    """Means over an empty population are NaN by definition (no cells to average); raise_on_failure must
    accept them, and still catch a NaN in a state that is not such a mean."""
    from tmesim.results import EMPTY_POPULATION_ATTR, raise_on_failure

    scn = load_scenario(spatial_scenario(tmp_path / "s.yaml", days=0.25)).with_overrides(
        parameters={"initial_cd8_per_tumor_cell": 0, "initial_cd4_per_tumor_cell": 0})
    ds = Simulation(scn).run(raise_on_failure=True)
    axis = ds["host_t_mito_depolarization"]
    assert bool(axis.isnull().all()) and EMPTY_POPULATION_ATTR in axis.attrs
    assert bool(np.isfinite(ds["tumor_slc7a11"]).all())  # tumour means are defined: there are tumour cells
    # the tumour cells' diagnostics are defined from t = 0 (what the first step's decisions read)
    for name in ("tumor_cystine_uptake", "tumor_gpx4_activity", "tumor_ferroptosis_hazard"):
        assert bool(np.isfinite(ds[name]).all()), name
    assert bool(ds["host_t_stimulation"].isnull().all())
    assert EMPTY_POPULATION_ATTR not in ds["tumor_antigen_negative"].attrs
    broken = ds.copy(deep=True)
    # a state (tumor_live is derived: the sum of the two clones, which are the states checked)
    broken["tumor_antigen_negative"][0, 0, 1] = np.nan
    with pytest.raises(SimulationError, match="tumor_antigen_negative"):
        raise_on_failure(broken)
    broken = ds.copy(deep=True)
    broken["host_t_mito_depolarization"][0, 0, 1] = -1.0
    with pytest.raises(SimulationError, match="host_t_mito_depolarization"):
        raise_on_failure(broken)


def test_ferroptotic_corpses_push_neighbouring_macrophages_towards_m2(tmp_path):
    """The macrophage program's oxidised-lipid term (the well-mixed model's share of ferroptotic corpses)
    reads, in space, the share of a macrophage's neighbours that are ferroptotic corpses."""
    from tmesim.spatial import behaviors as B

    scn = load_scenario(spatial_scenario(tmp_path / "s.yaml")).with_overrides(
        parameters={"initial_macrophages_per_tumor_cell": 0.5})

    def m2_hazards(make_corpses: bool):
        sim = SpatialRun(scn, 0, scn.arm_parameter_sets[0].vector(), replicate_seeds(scn)[0])
        c = sim.cells
        n = c.n
        macs = np.flatnonzero((c.kind[:n] == C.MACROPHAGE) & (c.dead[:n] == C.ALIVE))
        ny, nx = sim.shape3[1:]

        def neighbours(i):
            y, x = divmod(int(c.site[i]), nx)
            return [c.occupancy[(y + dy) * nx + x + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                    if (dy or dx) and 0 <= y + dy < ny and 0 <= x + dx < nx]

        if make_corpses:
            for i in macs[::2]:  # every other macrophage gets its tumour neighbours killed by ferroptosis
                for j in neighbours(i):
                    if j >= 0 and c.kind[j] == C.TUMOR:
                        c.dead[j] = C.FERROPTOTIC
        near = np.array([any(j >= 0 and c.dead[j] == C.FERROPTOTIC for j in neighbours(i)) for i in macs])
        sim.step()
        return macs, near, sim._buf["behavior"][macs, B.ROW_NAMES.index("m2 polarization")].copy()

    macs, _, plain = m2_hazards(False)
    macs_again, near, with_corpses = m2_hazards(True)
    assert np.array_equal(macs, macs_again) and near.sum() >= 2 and (~near).sum() >= 2
    assert np.all(with_corpses[near] > plain[near])
    assert np.array_equal(with_corpses[~near], plain[~near])


def test_tumour_cells_lose_the_car_antigen_at_division_in_space(tmp_path):
    """The spatial engine draws antigen loss per division through the tumour program
    (``tumor.daughter_antigen``): from an all antigen-positive start, with loss certain at every division,
    every daughter born is antigen-negative; the two clones add up to the live tumour."""
    path = spatial_scenario(tmp_path / "s.yaml", days=2.0)
    base = load_scenario(path)
    scn = base.with_overrides(parameters={"tumor_car_antigen_fraction": 1.0, "tumor_car_antigen_loss_per_division": 1.0},
                              arms=[a.model_dump() for a in base.arms[:1]])
    ds = Simulation(scn).run().isel(arm=0, patient=0)
    pos, neg, live = (ds[n].values for n in ("tumor_antigen_positive", "tumor_antigen_negative", "tumor_live"))
    np.testing.assert_array_equal(pos + neg, live)
    assert neg[0] == 0.0 and neg[-1] > 0.0
    # no positive cell is ever born: the positive clone only shrinks (deaths), the negatives are the births
    assert (np.diff(pos) <= 0.0).all()
    keep = base.with_overrides(parameters={"tumor_car_antigen_fraction": 1.0},
                               arms=[a.model_dump() for a in base.arms[:1]])
    kept = Simulation(keep).run().isel(arm=0, patient=0)
    assert (kept["tumor_antigen_negative"].values == 0.0).all()  # without loss, none


def test_product_traits_act_at_the_spatial_scale_as_in_the_wellmixed_engine(tmp_path):
    """A product made with ``ifng_knockout`` gives the arm's CAR T cells no IFN-gamma at either scale (the spatial
    engine once read product traits from the arm's knobs only, so such a product was a plain one there)."""
    path = spatial_scenario(tmp_path / "s.yaml", days=0.25)
    data = yaml.safe_load(path.read_text())
    data["parameter_set"] = "mouse_lymphoma_cd19car"
    product = {"day": 0.0, "cells": 5.0e5, "cd4_fraction": 0.5}
    data["arms"] = [{"name": "1:1", "products": [product]},
                    {"name": "1:1 IFNg-KO", "products": [{**product, "ifng_knockout": True, "proteasome_expression": 0.5}]}]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    spatial = Simulation(path).run()
    wellmixed = Simulation(load_scenario(path).with_overrides(scale="wellmixed", spatial=None)).run()
    for ds in (spatial, wellmixed):
        values = ds["parameter_values"].sel(parameter=["car_ifng_knockout", "car_proteasome_expression"])
        assert values.isel(patient=0).values.tolist() == [[0.0, 1.0], [1.0, 0.5]]
    # CAR T cells were given, and the knocked-out ones secrete no IFN-gamma: the intact arm's field is higher
    car = spatial["t_cells"].sel(t_pool=[p for p in spatial["t_pool"].values if str(p).startswith("car_")])
    assert (car.isel(time=-1).sum("t_pool") > 0).all()
    ifng = spatial["ifng"].isel(patient=0, time=-1)
    assert float(ifng.sel(arm="1:1")) > float(ifng.sel(arm="1:1 IFNg-KO"))


def test_error_controlled_fields_resume_bit_identically_from_a_state_dict(tmp_path):
    """spatial.field_rtol: the controller's sub-step hint travels in the checkpoint, so a run restored from
    its state continues exactly as the run that was not stopped."""
    scn = load_scenario(spatial_scenario(tmp_path / "s.yaml", field_rtol=0.05))
    vec, seed = scn.arm_parameter_sets[0].vector(), replicate_seeds(scn)[0]
    whole = SpatialRun(scn, 0, vec, seed)
    part = SpatialRun(scn, 0, vec, seed)
    for _ in range(3):
        whole.step()
        part.step()
    state = part.state_dict()
    assert (state["field_substep_hint"] >= 1).all()
    resumed = SpatialRun(scn, 0, vec, seed)
    resumed.load_state_dict(state)
    for _ in range(2):
        whole.step()
        resumed.step()
    assert np.array_equal(whole.fields.values, resumed.fields.values)
    assert np.array_equal(whole.fields.last_substeps, resumed.fields.last_substeps)
    assert whole.fields.last_substeps.max() > 0
