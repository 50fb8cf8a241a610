"""The bystander analysis (tmesim.analysis.bystander) on synthetic cell tables with known answers, and the
shipped scenario's cell file."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tmesim.analysis import bystander as B
from tmesim.params.index import NAMES
from tmesim.scenario import load_scenario

SITE = 20.0
ROOT = Path(__file__).resolve().parents[2]


def cell(x, y, type_="tumor", state="", dead="alive", antigen=False, slc=1.0, lpo=0.02):
    return {"x_um": x, "y_um": y, "type": type_, "state": state, "dead": dead, "car_antigen": antigen,
            "tumor_slc7a11": slc if type_ == "tumor" else math.nan,
            "tumor_lipid_peroxide": lpo if type_ == "tumor" else math.nan}


def table(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["type"] = df["type"].astype("category")
    return df


# ------------------------------------------------------------------------------------------- producers
class TestProducers:
    def test_engaged_functional_t_and_nk_cells_secrete(self):
        rows = [
            # 0: CAR T effector beside an antigen-positive tumour cell (diagonal neighbour): producer
            cell(10, 10, "car_cd8_t_cell", "effector"), cell(30, 30, antigen=True),
            # 2: CAR T effector beside antigen-negative tumour cells only: no target it recognises
            cell(210, 10, "car_cd4_t_cell", "effector"), cell(230, 10), cell(190, 10),
            # 5: CAR T in stem-like memory beside an antigen-positive cell: no cytotoxic function, no IFN-gamma
            cell(410, 10, "car_cd8_t_cell", "stem_memory"), cell(430, 10, antigen=True),
            # 7: host CD8 T cell (terminally exhausted) beside an antigen-negative cell: MHC-restricted, a producer
            cell(610, 10, "cd8_t_cell", "terminal_exhausted"), cell(610, 30),
            # 9: Treg beside a tumour cell: secretes no IFN-gamma
            cell(810, 10, "treg", "effector"), cell(830, 10),
            # 11: NK cell beside a tumour cell: producer
            cell(1010, 10, "nk_cell"), cell(1010, 30),
            # 13: CAR T effector whose only antigen-positive neighbour is dead; antigen-positive cell 2 sites off
            cell(1210, 10, "car_cd8_t_cell", "effector"), cell(1230, 10, dead="apoptotic", antigen=True),
            cell(1250, 10, antigen=True),
        ]
        got = B.ifng_producers(table(rows), SITE)
        assert np.flatnonzero(got).tolist() == [0, 7, 11]

    def test_no_tumour_or_no_t_cells_means_no_producers(self):
        assert not B.ifng_producers(table([cell(10, 10, "cd8_t_cell", "effector")]), SITE).any()
        assert not B.ifng_producers(table([cell(10, 10), cell(30, 10)]), SITE).any()


# --------------------------------------------------------------------------------------- a known profile
def line_of_bystanders(loss_of_distance, n=30, extra=()):
    """A CAR T effector at (10, 10) engaged with an antigen-positive cell below-left, and antigen-negative
    tumour cells along +x at 20, 40, ... um with SLC7A11 = resting x (1 - loss(d)); resting = 2."""
    rows = [cell(10, 10, "car_cd8_t_cell", "effector"), cell(-10, -10, antigen=True), *extra]
    for k in range(1, n + 1):
        d = SITE * k
        rows.append(cell(10 + d, 10, slc=2.0 * (1.0 - loss_of_distance(d))))
    return table(rows)


class TestReach:
    def test_linear_profile_gives_the_exact_half_distance(self):
        # loss = 0.4 - 0.001 d: 0.38 next to the producer (d = 20), half (0.19) at d = 210 um
        cells = line_of_bystanders(lambda d: 0.4 - 0.001 * d)
        by = B.bystanders(cells, SITE, resting_slc7a11=2.0)
        assert len(by) == 30  # the antigen-positive cell is no bystander
        np.testing.assert_allclose(by["distance_um"], SITE * np.arange(1, 31))
        np.testing.assert_allclose(by["slc7a11_loss"], 0.4 - 0.001 * by["distance_um"])
        prof = B.loss_profile(by["distance_um"], by["slc7a11_loss"], SITE, min_cells=1)
        assert prof["bin"].tolist() == list(range(1, 31))
        r = B.reach(prof)
        assert r.near_loss == pytest.approx(0.38)
        assert r.reach_um == pytest.approx(210.0)
        assert not r.censored
        assert B.level_reach(prof, 0.1) == pytest.approx(300.0)
        assert B.level_reach(prof, 0.5) == 0.0  # nothing next to the producer loses that much

    def test_exponential_profile_gives_its_half_distance_and_efold(self):
        ell = 50.0
        cells = line_of_bystanders(lambda d: 0.3 * math.exp(-d / ell))
        by = B.bystanders(cells, SITE, resting_slc7a11=2.0)
        prof = B.loss_profile(by["distance_um"], by["slc7a11_loss"], SITE, min_cells=1)
        # half of the loss at 20 um lies ell ln 2 = 34.7 um further; the chord between 40 and 60 um overshoots
        r = B.reach(prof)
        assert 20 + ell * math.log(2) < r.reach_um < 20 + ell * math.log(2) + 2.0
        assert B.efold_length(prof, 40, 200) == pytest.approx(ell)

    def test_bins_pool_the_moore_neighbours_and_drop_sparse_bins(self):
        d = np.array([20, 28.28, 20, 40, 44.7, 60, 61, 62])
        v = np.array([0.2, 0.1, 0.3, 0.1, 0.1, 0.05, 0.05, 0.05])
        prof = B.loss_profile(d, v, SITE, min_cells=2)
        assert prof["bin"].tolist() == [1, 2, 3]
        assert prof["mean"].iloc[0] == pytest.approx(0.2)
        assert prof["cells"].tolist() == [3, 2, 3]
        assert B.loss_profile(d, v, SITE, min_cells=4)["bin"].tolist() == []

    def test_a_profile_that_never_halves_is_censored(self):
        cells = line_of_bystanders(lambda d: 0.2 - 0.0001 * d, n=10)
        r = B.reach(B.loss_profile(*_dl(cells), SITE, min_cells=1))
        assert math.isnan(r.reach_um) and r.censored and r.near_loss == pytest.approx(0.198)
        assert math.isnan(B.level_reach(B.loss_profile(*_dl(cells), SITE, min_cells=1), 0.1))

    def test_no_loss_or_no_producer_leaves_the_reach_undefined(self):
        flat = line_of_bystanders(lambda d: 0.0)
        r = B.reach(B.loss_profile(*_dl(flat), SITE, min_cells=1))
        assert math.isnan(r.reach_um) and not r.censored and r.near_loss == 0.0
        lonely = table([cell(30, 10, slc=0.5), cell(50, 10, slc=0.6)])
        by = B.bystanders(lonely, SITE)
        assert np.isinf(by["distance_um"]).all()
        r = B.reach(B.loss_profile(by["distance_um"], by["slc7a11_loss"], SITE, min_cells=1))
        assert math.isnan(r.reach_um) and math.isnan(r.near_loss)

    def test_bad_resting_level_is_refused(self):
        with pytest.raises(ValueError, match="resting_slc7a11"):
            B.bystanders(line_of_bystanders(lambda d: 0.1), SITE, resting_slc7a11=0.0)


def _dl(cells):
    by = B.bystanders(cells, SITE, resting_slc7a11=2.0)
    return by["distance_um"], by["slc7a11_loss"]


class TestDownstream:
    def test_lipid_peroxide_rides_along_with_each_bystander(self):
        rows = [cell(10, 10, "car_cd8_t_cell", "effector"), cell(-10, -10, antigen=True),
                cell(30, 10, lpo=0.5), cell(50, 10, lpo=0.1)]
        by = B.bystanders(table(rows), SITE)
        assert by["lipid_peroxide"].tolist() == [0.5, 0.1]

    def test_ferroptotic_corpses_are_counted_near_and_far(self):
        # producer at (10, 10); antigen-negative cells at 1..15 sites along +x: near = within 3 sites, far = beyond 10
        rows = [cell(10, 10, "car_cd8_t_cell", "effector"), cell(-10, -10, antigen=True)]
        for k in range(1, 16):
            dead = "ferroptotic" if k in (1, 2, 12) else ("apoptotic" if k == 3 else "alive")
            rows.append(cell(10 + SITE * k, 10, dead=dead))
        rows.append(cell(10 + SITE * 2, 30, dead="ferroptotic", antigen=True))  # antigen-positive: not counted
        near, far, n = B.ferroptotic_shares(table(rows), SITE)
        # near: sites 1 and 2, both ferroptotic (site 3 is an apoptotic corpse, outside the pool; the
        # ferroptotic cell at (50, 30) carries the antigen)
        assert near == pytest.approx(2 / 2)
        assert far == pytest.approx(1 / 5)  # sites 11-15, one ferroptotic
        assert n == 3

    def test_no_producer_leaves_the_shares_undefined(self):
        near, far, n = B.ferroptotic_shares(table([cell(10, 10, dead="ferroptotic"), cell(30, 10)]), SITE)
        assert math.isnan(near) and math.isnan(far) and n == 1


# ------------------------------------------------------------------------------------------ a run folder
def write_run(folder: Path, arms_losses: dict, day: float = 2.0):
    """Cell and field snapshots of a fake 2D run: one file per arm and replicate; the IFN-gamma field is
    100 x exp(-x / 40) pM on a 60 x 3 lattice of 20-um sites."""
    (folder / "cells").mkdir(parents=True)
    (folder / "fields").mkdir()
    x = (np.arange(60) + 0.5) * SITE
    y = (np.arange(3) + 0.5) * SITE
    field = xr.Dataset({"ifng": (("y", "x"), np.tile(100 * np.exp(-x / 40.0), (3, 1)), {"units": "pM"})},
                       coords={"x": ("x", x), "y": ("y", y)})
    for arm, per_replicate in arms_losses.items():
        slug = arm.replace(" ", "_")
        for rep, loss in enumerate(per_replicate):
            cells = line_of_bystanders(loss, n=40)
            cells.to_parquet(folder / "cells" / f"{slug}_r{rep}_day{day:g}.parquet")
            cells.to_parquet(folder / "cells" / f"{slug}_r{rep}_day0.parquet")
            field.to_netcdf(folder / "fields" / f"{slug}_r{rep}_day{day:g}.nc")


def test_analyse_run_reads_every_arm_and_replicate(tmp_path):
    # replicate reaches 210 and 260 um (loss 0.4 - 0.001 d and 0.5 - 0.001 d, halving at 210 and 260)
    write_run(tmp_path, {"dense": [lambda d: 0.4 - 0.001 * d, lambda d: 0.5 - 0.001 * d],
                         "cut": [lambda d: 0.0, lambda d: 0.0]})
    res = B.analyse_run(tmp_path, arms=["dense", "cut"], site_um=SITE, resting_slc7a11=2.0, min_cells=1)
    assert res.day == 2.0
    assert set(res.cells["arm"]) == {"dense", "cut"}
    # the field is sampled at each bystander's site: 100 exp(-x / 40) at x = 30, 50, ...
    dense0 = res.cells[(res.cells["arm"] == "dense") & (res.cells["replicate"] == 0)]
    np.testing.assert_allclose(dense0["ifng_pM"], 100 * np.exp(-dense0["x_um"] / 40.0))
    s = B.reach_summary(res.reaches).set_index("arm")
    assert s.loc["dense", "reach_um"] == pytest.approx(235.0)
    assert s.loc["dense", "reach_um_se"] == pytest.approx(25.0)  # sd 35.36 / sqrt(2)
    assert s.loc["dense", "reach_n"] == 2
    assert s.loc["dense", "ifng_efold_um"] == pytest.approx(40.0)
    assert math.isnan(s.loc["cut", "reach_um"]) and s.loc["cut", "near_loss"] == 0.0
    assert res.reaches["producers"].tolist() == [1, 1, 1, 1]
    assert set(res.fields) == {"dense", "cut"}
    # an earlier day is there too; a missing one is named
    assert B.analyse_run(tmp_path, day=0, arms=["dense"], site_um=SITE, resting_slc7a11=2.0, min_cells=1).day == 0
    with pytest.raises(FileNotFoundError, match="day 5"):
        B.analyse_run(tmp_path, day=5, arms=["dense"], site_um=SITE, resting_slc7a11=2.0)


def test_figures_are_written(tmp_path):
    write_run(tmp_path / "run", {"a": [lambda d: 0.1 * math.exp(-d / 60)] * 2, "b": [lambda d: 0.0] * 2})
    res = B.analyse_run(tmp_path / "run", arms=["a", "b"], site_um=SITE, resting_slc7a11=2.0, min_cells=1)
    for path in (B.plot_profiles(res, tmp_path / "p.png"), B.plot_fields(res, tmp_path / "f.png")):
        assert path.stat().st_size > 10_000


def test_a_folder_without_snapshots_or_scenario_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="scenario.yaml"):
        B.analyse_run(tmp_path)
    with pytest.raises(FileNotFoundError, match="no cell snapshots"):
        B.analyse_run(tmp_path, arms=["a"], site_um=SITE, resting_slc7a11=1.0)


# ------------------------------------------------------------------------------------- shipped scenario
def test_shipped_cell_file_is_what_the_tool_writes():
    spec = importlib.util.spec_from_file_location("bystander_cells", ROOT / "tools" / "bystander_cells.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.PATH.read_text(encoding="utf-8") == tool.cell_file_text()


def test_shipped_scenario_arms_differ_only_as_named():
    scn = load_scenario("bystander_ferroptosis_2d")
    names = [a.name for a in scn.arms]
    doses = [a.products[0].cells for a in scn.arms]
    assert doses[:3] == sorted(doses[:3]) and len(set(doses[:3])) == 3
    base = scn.arm_parameter_sets[2].vector()
    for a, arm in enumerate(scn.arms):
        assert len(arm.products) == 1 and arm.products[0].day == 0 and not arm.doses
        changed = {n for n, v0, v1 in zip(NAMES, base, scn.arm_parameter_sets[a].vector()) if v0 != v1}
        expected = {"CAR T 8e4, SLC7A11 link cut": {"slc7a11_repression_max"},
                    "CAR T 8e4, tumour IFNGR loss": {"tumor_ifngr_loss"},
                    "CAR T 8e4, IFN-gamma KO": {"car_ifng_knockout"},
                    "CAR T 8e4, IFN-gamma uptake x4": {"ifng_uptake_rate"}}.get(names[a], set())
        assert changed == expected, names[a]


# ------------------------------------------------------------------------------------------------- the CLI
def _cli(monkeypatch, capsys, *args):
    """``tmesim analyze bystander ARGS`` in process: (exit code, stderr lines)."""
    from tmesim import cli

    monkeypatch.setattr("sys.argv", ["tmesim", "analyze", "bystander", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    return info.value.code, capsys.readouterr().err.strip().splitlines()


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wm").mkdir()
    (tmp_path / "wm" / "scenario.yaml").write_text(load_scenario().to_yaml(), encoding="utf-8")
    (tmp_path / "sp").mkdir()
    (tmp_path / "sp" / "scenario.yaml").write_text(load_scenario("bystander_ferroptosis_2d").to_yaml(),
                                                   encoding="utf-8")
    cases = [(("missing",), "is not a folder"), ((".",), "scenario.yaml not found"), (("wm",), "well-mixed"),
             (("sp",), "no cell snapshots"), ((".", "--day", "-1"), "--day")]
    for args, words in cases:
        code, err = _cli(monkeypatch, capsys, *args)
        assert code == 2 and len(err) == 1 and words in err[0] and "Traceback" not in err[0], (args, code, err)
