"""Hypothesis rules acting in the spatial engine (docs/rules.md, section 7).

Small runs (10 x 10 sites, a few simulated hours); the rules are written by
the tests in PhysiCell's version-3 format into a scenario folder, and the
scenario names them by a path relative to itself. A direction test compares
a run with a rule against the same run (same seed) without it; a value test
compares the engine's behaviour values with :func:`evaluate_reference`. No
absolute timings are asserted.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from tmesim.errors import InputError
from tmesim.rules import evaluate_reference, vocabulary as vocab
from tmesim.rules.reader import Rule
from tmesim.scenario import build_scenario, load_scenario
from tmesim.spatial import behaviors as B
from tmesim.simulation import Simulation
from tmesim.spatial import cells as C
from tmesim.spatial import kernels as K
from tmesim.spatial.engine import BASE_FIELDS, SpatialRun, new_run

BASE = {
    "name": "rules_test", "parameter_set": "mouse_b16_icb_ferroptosis", "scale": "spatial", "days": 0.5, "seed": 3,
    "parameters": {"initial_cd8_per_tumor_cell": 0.5, "initial_cd4_per_tumor_cell": 0.2,
                   "initial_nk_per_tumor_cell": 0.2, "initial_macrophages_per_tumor_cell": 0.3},
    "spatial": {"domain_um": [200, 200], "site_um": 20, "dt_minutes": 6, "oxygen_dt_minutes": 1.0,
                "geometry": {"kind": "spheroid", "radius_um": 60, "immune_margin_um": 40},
                "vessels": {"density": 0.05, "placement": "outside"},
                "snapshot_interval_hours": 0, "checkpoint_interval_hours": 0},
    "arms": [{"name": "control"}],
}
T_KINDS = (C.CD8, C.CD4, C.CAR_CD8, C.CAR_CD4)


def scenario(folder: Path, rules: str | None = None, *, parameters: dict | None = None, **top):
    """A scenario in ``folder`` (its rules, if any, in ``folder/rules/hypotheses.csv``, named relatively)."""
    data = copy.deepcopy(BASE)
    data["parameters"].update(parameters or {})
    data.update(top)
    folder.mkdir(parents=True, exist_ok=True)
    if rules is not None:
        (folder / "rules").mkdir(exist_ok=True)
        (folder / "rules" / "hypotheses.csv").write_text(textwrap.dedent(rules).lstrip())
        data["spatial"]["rules"] = "rules/hypotheses.csv"
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_scenario(path)


def start(scn, arm: int = 0) -> SpatialRun:
    return new_run(scn, arm)


def run(scn, steps: int, arm: int = 0) -> SpatialRun:
    sim = start(scn, arm)
    for _ in range(steps):
        sim.step()
    return sim


def pair(tmp_path, rules: str, steps: int, **kw) -> tuple[SpatialRun, SpatialRun]:
    """The same run without and with ``rules``."""
    return run(scenario(tmp_path / "without", **kw), steps), run(scenario(tmp_path / "with", rules, **kw), steps)


def live(sim, kind=None) -> np.ndarray:
    c = sim.cells
    mask = (c.kind[:c.n] != C.FREE) & (c.dead[:c.n] == C.ALIVE)
    if kind is not None:
        mask &= np.isin(c.kind[:c.n], np.atleast_1d(kind))
    return np.flatnonzero(mask)


def column(values: dict, sim, name: str) -> np.ndarray:
    return values["result"][:, sim.rules.own.behavior_names.index(name)]


def base_column(values: dict, sim, name: str) -> np.ndarray:
    return values["base"][:, sim.rules.own.behavior_names.index(name)]


# --------------------------------------------------------------------------------------- without rules ----
def test_a_run_without_rules_gives_the_numbers_it_gave_before_rules_existed():
    """Numbers of this small run recorded with the engine before it applied rules (commit 83f8978).

    The oxygen numbers were re-recorded after 0f1685d (the fields' mixed splitting leaves the vessels' supply
    to the sweeps beside their sink, so a vessel holds its plasma value): oxygen at the tumour's cells rose
    from 30.99567 to 31.01095 mmHg at 6 h and from 31.53461 to 31.53667 at 12 h (+0.05% and +0.007%), the
    vessels' supply no longer being partly undone within the step. Every count, STAT1 and IFN-gamma are the
    numbers of 83f8978 (to 1e-12; main's fields.py before 0f1685d still gives the old oxygen numbers).
    """
    from tmesim.simulation import Simulation

    data = copy.deepcopy(BASE)
    data.update(name="pin", days=0.5, output_interval_hours=6)
    del data["spatial"]["oxygen_dt_minutes"]
    ds = Simulation(build_scenario(data)).run()
    counts = {"tumor_live": [32, 30, 24], "deaths_killing": [0, 1, 6], "macrophage_m1": [4, 4, 5],
              "macrophage_m2": [7, 7, 6], "nk": [6, 6, 6], "tumor_dead_apoptotic": [0, 1, 6]}
    for name, expected in counts.items():
        assert ds[name].values[0, 0].tolist() == expected, name
    assert ds["t_cells"].sum("t_pool").values[0, 0].tolist() == [19, 21, 25]
    floats = {"tumor_stat1": [0.0, 0.2565722243944601, 0.3444356582828165],
              "ifng": [0.0, 24.146899198987906, 21.432067819709967],
              "oxygen": [38.0, 31.01094751233317, 31.536667815610496]}
    for name, expected in floats.items():
        assert ds[name].values[0, 0].tolist() == pytest.approx(expected, rel=1e-12, abs=1e-15), name
    assert ds.attrs["rules"] == ""


ABSENT = """\
    // every rule reads a drug no arm doses: its signal is 0 everywhere, so no rule moves anything
    cell type,signal,direction,behavior,saturation,half-max,Hill power,applies to dead
    tumor,anti_pd1,increases,apoptosis,0.5,1,1,0
    tumor,rsl3,decreases,cycle entry,0,1,1,0
    tumor,ike,increases,custom:slc7a11,3,1,1,0
    tumor,ike,increases,custom:pdl1,9,1,1,0
    tumor,ike,decreases,immunogenicity to cd8_t_cell,0,1,1,0
    tumor,ike,increases,ifng secretion,100000,1,1,0
    tumor,ike,increases,il10 secretion,100000,1,1,1
    tumor,ike,increases,glucose uptake,5,1,1,0
    tumor,ike,increases,cxcl9 export,-1000,1,1,0
    tumor,ike,decreases,damage repair rate,0,1,1,0
    tumor,ike,increases,migration speed,5,1,1,0
    cd8_t_cell,anti_ctla4,increases,attack tumor,0.5,1,1,0
    cd8_t_cell,ike,increases,chemotactic response to ifng,5,1,1,0
    cd8_t_cell,ike,increases,custom:pd1,5,1,1,0
    cd8_t_cell,ike,increases,exhaustion,0.5,1,1,0
    cd8_t_cell,ike,increases,attack macrophage,0.5,1,1,0
    cd4_t_cell,ike,increases,transform to treg,0.5,1,1,0
    macrophage,ike,increases,phagocytose dead cell,0.5,1,1,0
    macrophage,ike,increases,m2 polarization,0.5,1,1,0
    macrophage,ike,increases,cycle entry,0.5,1,1,0
    nk_cell,ike,decreases,migration speed,0,1,1,0
    treg,ike,increases,necrosis,0.5,1,1,0
    """


def test_rules_whose_signal_is_absent_change_nothing(tmp_path):
    without, with_ = pair(tmp_path, ABSENT, 40)
    assert with_.rules.n_rules == 24 and with_.rules.any_exposed
    a, b = without.state_dict(), with_.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key], equal_nan=True), key


# --------------------------------------------------------------------------------------- the evaluation ----
MIXED = """\
    tumor,oxygen,decreases,cycle entry,0,10,4,0
    tumor,contact with cd8_t_cell,increases,apoptosis,0.01,1,2,0
    tumor,ifng,decreases,custom:slc7a11,0.3,20,2,0
    tumor,ifng,increases,custom:pdl1,5,10,2,0
    tumor,pressure,increases,immunogenicity to cd8_t_cell,3,0.5,1,0
    tumor,dead,increases,il10 secretion,1000,0.5,1,1
    cd8_t_cell,contact with tumor,increases,attack tumor,0.05,1,2,0
    cd8_t_cell,custom:pd1,increases,exhaustion,0.001,2,2,0
    cd8_t_cell,ifng,increases,chemotactic response to ifng,2,1,1,0
    cd8_t_cell,ifng,decreases,chemotactic response to ifng,0.5,5,1,0
    macrophage,contact with dead cell,increases,phagocytose dead cell,0.05,1,1,0
    macrophage,il10,increases,m2 polarization,0.01,10,1,0
    nk_cell,pressure,decreases,migration speed,0,0.5,4,0
    """


def test_the_engine_evaluates_as_the_reference_does(tmp_path):
    sim = run(scenario(tmp_path, MIXED), 12)
    v = sim.rule_values()
    rules = load_scenario(tmp_path / "scenario.yaml").rules
    ruled = np.flatnonzero((v["kind"] >= 0) & ((sim.rules.kind_flags[v["kind"].clip(0)] & B.K_OWN) != 0))
    own = [r for r in rules if r.behavior not in B.EXPOSED_NAMES]
    expected = evaluate_reference(own, v["signals"][ruled], sim.rules.signal_names, v["base"][ruled],
                                  sim.rules.own.behavior_names, v["kind"][ruled], v["dead"][ruled] != C.ALIVE)
    assert ruled.size > 20
    np.testing.assert_array_equal(v["result"][ruled], expected)
    cells = np.flatnonzero(v["kind"] >= 0)
    exposed = [r for r in rules if r.behavior in B.EXPOSED_NAMES]
    expected = evaluate_reference(exposed, v["signals"][cells], sim.rules.signal_names, v["exposed_base"][cells],
                                  B.EXPOSED_NAMES, v["kind"][cells], v["dead"][cells] != C.ALIVE)
    np.testing.assert_array_equal(v["exposed"][cells], expected)
    # what the draws used is the rules' result
    tumor = ruled[v["kind"][ruled] == C.TUMOR]
    np.testing.assert_array_equal(v["behavior"][tumor, B.R_CYCLE], column(v, sim, "cycle entry")[tumor])


def test_signals_are_what_the_lattice_holds_when_the_step_starts(tmp_path):
    rules = """\
        tumor,oxygen,increases,damage repair rate,1,1,1,0
        tumor,gradient of oxygen,increases,damage repair rate,1,1,1,0
        tumor,contact with tumor,increases,damage repair rate,1,1,1,0
        tumor,contact with macrophage,increases,damage repair rate,1,1,1,0
        tumor,contact with dead cell,increases,damage repair rate,1,1,1,0
        tumor,contact with live cell,increases,damage repair rate,1,1,1,0
        tumor,pressure,increases,damage repair rate,1,1,1,0
        tumor,custom:stat1,increases,damage repair rate,1,1,1,0
        tumor,custom:pdl1,increases,damage repair rate,1,1,1,0
        tumor,damage,increases,damage repair rate,1,1,1,0
        tumor,dead,increases,damage repair rate,1,1,1,1
        tumor,apoptotic,increases,damage repair rate,1,1,1,1
        tumor,time,increases,damage repair rate,1,1,1,0
        tumor,volume,increases,damage repair rate,1,1,1,0
        tumor,iron,increases,damage repair rate,1,1,1,0
        tumor,anti_pd1,increases,damage repair rate,1,1,1,0
        cd8_t_cell,custom:exhaustion,increases,damage repair rate,1,1,1,0
        cd8_t_cell,damage delivered,increases,damage repair rate,1,1,1,0
        cd8_t_cell,attacking,increases,damage repair rate,1,1,1,0
        cd8_t_cell,custom:bach2,increases,damage repair rate,1,1,1,0
        macrophage,custom:m1_like,increases,damage repair rate,1,1,1,0
        """
    sim = run(scenario(tmp_path, rules, parameters={"ctl_max_kill_rate": "100 1/day"}), 20)
    c = sim.cells
    n = c.n
    kind, site, dead, x = c.kind[:n].copy(), c.site[:n].copy(), c.dead[:n].copy(), c.x[:n].copy()
    hits, delivered, attacking, state = c.hits[:n].copy(), c.delivered[:n].copy(), c.attacking[:n].copy(), c.state[:n].copy()
    occupancy = c.occupancy.copy()
    fields = sim.fields.values.copy()
    time = sim.time
    sim.step()
    v = sim.rule_values()
    col = {s: v["signals"][:, i] for i, s in enumerate(sim.rules.signal_names)}
    ny, nx = sim.shape3[1:]
    oxygen = fields[0].reshape(ny, nx)
    gy, gx = np.gradient(oxygen, sim.site_um)
    pt = sim.p.tumor
    neighbours = []
    for i in range(n):
        y, x_ = divmod(int(site[i]), nx)
        slots = [occupancy[(y + dy) * nx + x_ + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                 if (dy or dx) and 0 <= y + dy < ny and 0 <= x_ + dx < nx]
        neighbours.append([j for j in slots if j >= 0])
    checked = 0
    for i in range(n):
        y, x_ = divmod(int(site[i]), nx)
        nb = neighbours[i]
        if kind[i] == C.TUMOR:
            checked += 1
            assert col["oxygen"][i] == oxygen[y, x_]
            assert col["gradient of oxygen"][i] == pytest.approx(np.hypot(gx[y, x_], gy[y, x_]), rel=1e-12, abs=1e-14)
            assert col["contact with tumor"][i] == sum(kind[j] == C.TUMOR for j in nb)
            assert col["contact with macrophage"][i] == sum(kind[j] == C.MACROPHAGE for j in nb)
            assert col["contact with dead cell"][i] == sum(dead[j] != C.ALIVE for j in nb)
            assert col["contact with live cell"][i] == sum(dead[j] == C.ALIVE for j in nb)
            assert col["pressure"][i] == len(nb) / 8
            assert col["custom:stat1"][i] == x[i, 0]
            assert col["custom:pdl1"][i] == pytest.approx(1 + (pt.pdl1_induction_fold - 1) * x[i, 0], rel=1e-14)
            assert col["damage"][i] == hits[i]
            assert col["dead"][i] == (dead[i] != C.ALIVE) and col["apoptotic"][i] == (dead[i] == C.APOPTOTIC)
            assert col["time"][i] == time and col["volume"][i] == sim.site_um ** 3
            assert col["anti_pd1"][i] == 0.0 and col["iron"][i] > 0.0
        elif kind[i] == C.CD8:
            assert col["custom:exhaustion"][i] == {C.PROGENITOR: 1, C.TERMINAL: 2}.get(int(state[i]), 0)
            assert col["damage delivered"][i] == delivered[i] and col["attacking"][i] == attacking[i]
            assert col["custom:bach2"][i] == x[i, 4]
        elif kind[i] == C.MACROPHAGE:
            assert col["custom:m1_like"][i] == (state[i] == C.M1)
    assert checked > 20
    assert delivered[kind == C.CD8].sum() > 0 and (hits > 0).any()


def test_every_signal_and_behaviour_of_the_vocabulary_binds_in_the_engine():
    fields = tuple(n for n, _ in BASE_FIELDS) + tuple(s.name for s in vocab.SUBSTRATES if s.kind == "drug")
    rules = []
    for name, entry in vocab.BEHAVIORS.items():
        rules.append(Rule(entry.cell_types[0], "time", "increases", name, 1.0, 1.0, 1.0, False, 1))
    for name, entry in vocab.SIGNALS.items():
        rules.append(Rule(entry.cell_types[0], name, "decreases", "apoptosis", 0.0, 1.0, 1.0, False, 1))
    bound = B.bind(rules, fields)
    assert bound.n_rules == len(rules)
    assert set(bound.own.behavior_names) | set(B.EXPOSED_NAMES) == set(vocab.BEHAVIORS)
    assert len(bound.signal_names) == len(vocab.SIGNALS)
    assert B.S_ZERO not in bound.sig_code  # every substrate has a field or (iron) its own sampler


# --------------------------------------------------------------------------------------- directions ----
def test_a_decreasing_oxygen_rule_stops_division_where_oxygen_is_high(tmp_path):
    """PhysiCell's meaning: with 'oxygen decreases cycle entry', the more oxygen, the less division; where
    oxygen is well below the half-max the program's division stands."""
    rule = "tumor,oxygen,decreases,cycle entry,0,10,4,0\n"
    fast = {"tumor_growth_rate": "10 1/day", "initial_cd8_per_tumor_cell": 0, "initial_nk_per_tumor_cell": 0}
    without, with_ = pair(tmp_path, rule, 30, parameters=fast)
    first = start(load_scenario(tmp_path / "without" / "scenario.yaml")).cells.next_uid

    def births(sim):
        c = sim.cells
        return int(np.count_nonzero((c.kind[:c.n] == C.TUMOR) & (c.uid[:c.n] >= first)))
    assert births(without) >= 10 and births(with_) <= births(without) // 8
    v = with_.rule_values()
    tumor = np.flatnonzero((v["kind"] == C.TUMOR) & (v["dead"] == C.ALIVE))
    oxygen = v["signals"][tumor, 0]
    ratio = column(v, with_, "cycle entry")[tumor] / base_column(v, with_, "cycle entry")[tumor]
    np.testing.assert_allclose(ratio, 1 / (1 + (oxygen / 10) ** 4), rtol=1e-12)
    assert oxygen.min() > 20 and ratio.max() < 0.07
    hypoxic = {**fast, "oxygen_supply_factor": 0.08}
    without, with_ = pair(tmp_path / "hypoxic", rule, 30, parameters=hypoxic)
    assert with_.rule_values()["signals"][:, 0].max() < 4
    assert births(with_) >= 0.8 * births(without) > 0


def test_contact_with_cd8_t_cells_raises_tumour_apoptosis(tmp_path):
    rule = "tumor,contact with cd8_t_cell,increases,apoptosis,0.02,1,2,0\n"
    without, with_ = pair(tmp_path, rule, 30)
    v = with_.rule_values()
    tumor = np.flatnonzero((v["kind"] == C.TUMOR) & (v["dead"] == C.ALIVE))
    contact = v["signals"][tumor, 0]
    result, base = column(v, with_, "apoptosis")[tumor], base_column(v, with_, "apoptosis")[tumor]
    assert (contact == 0).any() and (contact > 0).any()
    np.testing.assert_array_equal(result[contact == 0], base[contact == 0])
    assert (result[contact > 0] > 10 * base[contact > 0]).all()
    dead = lambda sim: int(np.count_nonzero(sim.cells.dead[:sim.cells.n] == C.APOPTOTIC))  # noqa: E731
    assert dead(with_) > dead(without) + 3


def test_a_secretion_rule_raises_the_field_near_the_cells(tmp_path):
    rule = "macrophage,oxygen,increases,il2 secretion,200000,1,8,0\n"
    without, with_ = pair(tmp_path, rule, 20)
    il2 = with_.fields.field_index("il2")
    macs = with_.cells.site[live(with_, C.MACROPHAGE)]
    a = without.fields.values.reshape(len(without.fields.specs), -1)[il2]
    b = with_.fields.values.reshape(len(with_.fields.specs), -1)[il2]
    assert b[macs].mean() > 5 * max(a[macs].mean(), 1e-3) and b[macs].mean() > 1.5 * b.mean()
    v = with_.rule_values()
    m = v["kind"] == C.MACROPHAGE
    np.testing.assert_allclose(column(v, with_, "il2 secretion")[m], 200000, rtol=1e-12)


def test_uptake_and_net_import_rules_lower_their_fields_and_keep_them_non_negative(tmp_path):
    rules = "tumor,oxygen,increases,glucose uptake,2,1,8,0\ntumor,oxygen,increases,cxcl9 export,-1e7,1,8,0\n"
    without, with_ = pair(tmp_path, rules, 20)
    tumor = with_.cells.site[live(with_, C.TUMOR)]
    a = without.fields.values.reshape(len(without.fields.specs), -1)
    b = with_.fields.values.reshape(len(with_.fields.specs), -1)
    glucose, cxcl9 = with_.fields.field_index("glucose"), with_.fields.field_index("cxcl9")
    assert b[glucose, tumor].mean() < 0.9 * a[glucose, tumor].mean()
    assert b[cxcl9, tumor].mean() < 0.5 * a[cxcl9, tumor].mean() and b[cxcl9].min() >= 0


def test_migration_speed_zero_freezes_t_cells(tmp_path):
    rules = "cd8_t_cell,oxygen,decreases,migration speed,0,0.001,8,0\ncd4_t_cell,oxygen,decreases,migration speed,0,0.001,8,0\n"
    scn = scenario(tmp_path / "with", rules)
    plain = scenario(tmp_path / "without")
    for s, frozen in ((scn, True), (plain, False)):
        sim = start(s)
        t = live(sim, (C.CD8, C.CD4))
        where = dict(zip(sim.cells.uid[t], sim.cells.site[t]))
        for _ in range(20):
            sim.step()
        t = live(sim, (C.CD8, C.CD4))
        moved = [u for u, site in zip(sim.cells.uid[t], sim.cells.site[t]) if u in where and where[u] != site]
        stayed = [u for u in sim.cells.uid[t] if u in where]
        assert len(stayed) >= 5
        assert (len(moved) == 0) if frozen else (len(moved) >= 3)


def test_chemotaxis_rules_steer_migration_up_or_down_a_gradient(tmp_path):
    steer = ("macrophage,oxygen,increases,chemotactic response to oxygen,{},1,8,0\n"
             "macrophage,oxygen,increases,migration bias,1,1,8,0\n")
    up = run(scenario(tmp_path / "up", steer.format(100)), 40)
    down = run(scenario(tmp_path / "down", steer.format(-100)), 40)
    o2 = lambda sim: sim.fields.values.reshape(len(sim.fields.specs), -1)[0][sim.cells.site[live(sim, C.MACROPHAGE)]]  # noqa
    assert o2(up).size >= 5 and o2(down).size >= 5
    assert o2(up).mean() > o2(down).mean() + 1.0


def test_rules_on_dead_cells_act_only_when_flagged(tmp_path):
    kill = "tumor,oxygen,increases,apoptosis,0.05,1,8,0\n"
    secrete = "tumor,dead,increases,il2 secretion,200000,0.5,8,{}\n"
    flagged = run(scenario(tmp_path / "flagged", kill + secrete.format(1)), 20)
    unflagged = run(scenario(tmp_path / "unflagged", kill + secrete.format(0)), 20)
    for sim, on in ((flagged, True), (unflagged, False)):
        v = sim.rule_values()
        corpses = (v["kind"] == C.TUMOR) & (v["dead"] != C.ALIVE)
        assert corpses.sum() >= 5
        value = column(v, sim, "il2 secretion")[corpses]
        np.testing.assert_allclose(value, 200000.0 * 256 / 257 if on else 0.0, rtol=1e-12)  # dead = 1: (1/0.5)^8
    il2 = lambda sim: sim.fields.values.reshape(len(sim.fields.specs), -1)[sim.fields.field_index("il2")].mean()  # noqa
    assert il2(flagged) > 10 * max(il2(unflagged), 1e-6)


def test_exhaustion_rules_move_t_cells_along_the_path(tmp_path):
    scn = lambda name, rules: scenario(tmp_path / name, rules)  # noqa: E731
    high = "cd8_t_cell,oxygen,increases,exhaustion,1,1,8,0\n"
    states = lambda sim: np.bincount(sim.cells.state[live(sim, C.CD8)], minlength=6)  # noqa: E731
    plain = states(run(scn("plain", None), 10))
    exhausted = states(run(scn("exhausted", high), 10))
    terminal = states(run(scn("terminal", high + "cd8_t_cell,oxygen,increases,terminal exhaustion,1,1,8,0\n"), 10))
    back = states(run(scn("back", high + "cd8_t_cell,oxygen,increases,reinvigoration,1,1,8,0\n"), 10))
    assert exhausted[C.PROGENITOR] >= 5 and exhausted[C.EFFECTOR] == 0 and plain[C.PROGENITOR] <= 1
    assert terminal[C.TERMINAL] >= 5 and exhausted[C.TERMINAL] <= 1
    assert back[C.EFFECTOR] >= 2


def test_polarization_rules_turn_macrophages(tmp_path):
    to_m2 = run(scenario(tmp_path / "m2", "macrophage,oxygen,increases,m2 polarization,1,1,8,0\n"), 5)
    to_m1 = run(scenario(tmp_path / "m1", "macrophage,oxygen,increases,m1 polarization,1,1,8,0\n"), 5)
    m = lambda sim: sim.cells.state[live(sim, C.MACROPHAGE)]  # noqa: E731
    assert m(to_m2).size >= 5 and (m(to_m2) == C.M2).all()
    assert m(to_m1).size >= 5 and (m(to_m1) == C.M1).all()


def test_phagocytosis_rules_clear_corpses_faster(tmp_path):
    kill = "tumor,oxygen,increases,apoptosis,0.05,1,8,0\n"
    eat = "macrophage,oxygen,increases,phagocytose dead cell,1,1,8,0\n"  # the legacy name: all three corpse kinds
    slow = run(scenario(tmp_path / "slow", kill), 25)
    fast = run(scenario(tmp_path / "fast", kill + eat), 25)
    corpses = lambda sim: int(np.count_nonzero(sim.cells.dead[:sim.cells.n] != C.ALIVE))  # noqa: E731
    assert corpses(slow) >= 8 and corpses(fast) < 0.7 * corpses(slow)


def test_a_transform_rule_changes_the_cell_type(tmp_path):
    without, with_ = pair(tmp_path, "cd4_t_cell,oxygen,increases,transform to treg,1,1,8,0\n", 5)
    assert live(without, C.CD4).size >= 3
    assert live(with_, C.CD4).size == 0
    assert live(with_, C.TREG).size >= live(without, C.TREG).size + live(without, C.CD4).size - 2
    tregs = live(with_, C.TREG)
    assert np.isfinite(with_.cells.x[tregs]).all()


def test_attack_and_immunogenicity_rules(tmp_path):
    """A rule makes CD8 T cells kill macrophages; a tumour immunogenicity of 0 to CD8 T cells stops their kills."""
    hunt = "cd8_t_cell,oxygen,increases,attack macrophage,1,1,8,0\n"
    without, with_ = pair(tmp_path / "hunt", hunt, 15)
    assert live(with_, C.MACROPHAGE).size < 0.6 * live(without, C.MACROPHAGE).size
    assert with_.cells.delivered[live(with_, C.CD8)].sum() > 0
    kill = "cd8_t_cell,oxygen,increases,attack tumor,0.5,1,8,0\n"
    hidden = kill + "tumor,oxygen,decreases,immunogenicity to cd8_t_cell,0,1,8,0\n"
    seen = run(scenario(tmp_path / "seen", kill), 15)
    unseen = run(scenario(tmp_path / "unseen", hidden), 15)
    assert seen.counters[0] >= 3 and unseen.counters[0] == 0  # kills by CD8 T cells


def test_damage_repair_rules_decide_whether_hits_add_up(tmp_path):
    """Hits that are never repaired add up to kills; hits repaired within a step rarely do."""
    attack = "cd8_t_cell,oxygen,increases,attack tumor,0.3,1,8,0\n"
    kept = run(scenario(tmp_path / "kept", attack + "tumor,oxygen,decreases,damage repair rate,0,1,8,0\n"), 15)
    repaired = run(scenario(tmp_path / "repaired", attack + "tumor,oxygen,increases,damage repair rate,100,1,8,0\n"),
                   15)
    assert kept.counters[0] >= repaired.counters[0] + 3
    assert live(repaired, C.TUMOR).size > live(kept, C.TUMOR).size


def test_death_rules_give_their_kind_of_corpse(tmp_path):
    rules = "tumor,oxygen,increases,necrosis,0.05,1,8,0\n"
    sim = run(scenario(tmp_path / "necrosis", rules), 15)
    assert np.count_nonzero(sim.cells.dead[:sim.cells.n] == C.NECROTIC) >= 5
    sim = run(scenario(tmp_path / "ferroptosis", "tumor,oxygen,increases,ferroptosis,0.05,1,8,0\n"), 15)
    assert np.count_nonzero(sim.cells.dead[:sim.cells.n] == C.FERROPTOTIC) >= 5


def test_intracellular_target_rules_move_the_states_and_pdl1_reaches_the_t_cells(tmp_path):
    rules = ("tumor,oxygen,increases,custom:slc7a11,3,1,8,0\n"
             "cd8_t_cell,oxygen,increases,custom:pd1,6,1,8,0\n"
             "tumor,oxygen,increases,custom:pdl1,30,1,8,0\n")
    without, with_ = pair(tmp_path, rules, 30)
    a, b = without.observe(), with_.observe()
    assert b["tumor_slc7a11"] > a["tumor_slc7a11"] + 0.3
    assert b["tumor_pdl1"] == pytest.approx(30.0) and a["tumor_pdl1"] < 5
    assert b["host_t_pd1_inhibition"] > a["host_t_pd1_inhibition"] + 0.05
    cd8 = live(with_, C.CD8)
    assert with_.cells.x[cd8, 5].mean() > without.cells.x[live(without, C.CD8), 5].mean() + 0.3  # PD-1


def test_a_rule_on_a_drug_field_gives_the_run_that_field(tmp_path):
    sim = run(scenario(tmp_path, "macrophage,oxygen,increases,ike secretion,100000,1,8,0\n"), 5)
    assert sim.drug_names == ("ike",)
    ike = [s.name for s in sim.fields.specs].index("drug_ike")
    assert sim.fields.values.reshape(len(sim.fields.specs), -1)[ike].max() > 0


# --------------------------------------------------------------------------------------- determinism, files ----
def test_thread_count_does_not_change_a_run_with_rules(tmp_path):
    scenario(tmp_path, MIXED)
    script = textwrap.dedent(f"""
        import numpy as np
        from tmesim.scenario import load_scenario
        from tmesim.spatial.engine import new_run
        scn = load_scenario({str(tmp_path / "scenario.yaml")!r})
        sim = new_run(scn)
        for _ in range(25):
            sim.step()
        np.savez(__import__("sys").argv[1], **sim.state_dict())
    """)
    out = {}
    for threads in ("1", "2"):
        path = tmp_path / f"state{threads}.npz"
        env = dict(os.environ, NUMBA_NUM_THREADS=threads)
        res = subprocess.run([sys.executable, "-c", script, str(path)], env=env, capture_output=True, text=True,
                             timeout=600)
        assert res.returncode == 0, res.stderr
        out[threads] = np.load(path)
    for key in out["1"].files:
        assert np.array_equal(out["1"][key], out["2"][key], equal_nan=True), key


def test_the_rules_file_is_found_from_the_scenario_and_its_rules_go_into_the_results(tmp_path, monkeypatch):
    from tmesim.simulation import Simulation

    scenario(tmp_path / "scn", "tumor,oxygen,decreases,cycle entry,0,10,4,0\n", days=0.05)
    monkeypatch.chdir(tmp_path)
    scn = load_scenario("scn/scenario.yaml")
    assert Path(scn.spatial.rules).is_absolute() and Path(scn.spatial.rules).is_file()
    assert len(scn.rules) == 1
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "scenario.yaml").write_text(scn.to_yaml())  # as a run folder keeps it
    assert load_scenario(tmp_path / "copy" / "scenario.yaml").spatial.rules == scn.spatial.rules
    ds = Simulation(scn).run()
    assert "In tumor, oxygen decreases cycle entry" in ds.attrs["rules"]


def test_a_bad_rules_file_fails_when_the_scenario_loads(tmp_path):
    with pytest.raises(InputError, match=r"hypotheses.csv row 2 column 4 \(behavior\): unknown behaviour 'cycle entri'"):
        scenario(tmp_path, "tumor,oxygen,decreases,cycle entry,0,10,4,0\ntumor,oxygen,decreases,cycle entri,0,10,4,0\n")
    data = copy.deepcopy(BASE)
    data["spatial"]["rules"] = "missing.csv"
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match="spatial.rules: file not found"):
        load_scenario(tmp_path / "s.yaml")


def test_a_bad_rules_file_through_tmesim_run_exits_2_with_one_line_and_writes_nothing(tmp_path):
    with pytest.raises(InputError):
        scenario(tmp_path, "// a typo in row 2\ntumor,oxygen,decreses,cycle entry,0,10,4,0\n")
    out = tmp_path / "out"
    env = dict(os.environ, COLUMNS="250", NO_COLOR="1")
    res = subprocess.run([sys.executable, "-m", "tmesim.cli", "run", str(tmp_path / "scenario.yaml"), "--out",
                          str(out)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in res.stderr
    assert "hypotheses.csv row 2 column 3 (direction)" in lines[0] and "did you mean 'decreases'" in lines[0]
    assert not out.exists() and not list(tmp_path.glob("out*"))


def test_the_shipped_rules_example_runs(tmp_path):
    from tmesim.scenario import list_scenarios
    from tmesim.simulation import Simulation

    assert "spatial_rules_hypotheses" in dict(list_scenarios())
    scn = load_scenario("spatial_rules_hypotheses")
    assert scn.scale == "spatial" and len(scn.rules) == 7 and Path(scn.spatial.rules).is_file()
    ds = Simulation(scn.with_overrides(days=0.1)).run()
    assert (ds.solver_status.values == 0).all()
    assert np.isfinite(ds["tumor_live"].values).all() and (ds["tumor_live"].values > 0).all()
    assert "In cd4_t_cell, tgfb increases transform to treg" in ds.attrs["rules"]


def test_a_stopped_run_with_rules_resumes_to_the_uninterrupted_result_and_refuses_changed_rules(tmp_path):
    from tmesim.simulation import Simulation
    from tmesim.spatial.outputs import Recorder

    scn = scenario(tmp_path / "scn", MIXED, days=0.2, output_interval_hours=1)
    scn = scn.with_overrides(spatial={**scn.spatial.model_dump(), "checkpoint_interval_hours": 1.0})
    whole = Simulation(scn).run()

    class Stop(Exception):
        pass

    def stop(fraction):
        if fraction > 0.5:
            raise Stop

    folder = tmp_path / "run"
    folder.mkdir()
    (tmp_path / "run2").mkdir()
    with pytest.raises(Stop):
        Simulation(scn).run(stop, recorder=Recorder(folder, pictures=False))
    resumed = Simulation(scn).run(recorder=Recorder(folder, pictures=False))
    for name in ("tumor_live", "deaths_killing", "macrophage_m2", "treg", "tumor_slc7a11"):
        np.testing.assert_array_equal(resumed[name].values, whole[name].values, err_msg=name)
    with pytest.raises(Stop):
        Simulation(scn).run(stop, recorder=Recorder(tmp_path / "run2", pictures=False))
    Path(scn.spatial.rules).write_text(Path(scn.spatial.rules).read_text().replace("0.01,1,2,0", "0.02,1,2,0"))
    changed = load_scenario(tmp_path / "scn" / "scenario.yaml")
    changed = changed.with_overrides(spatial={**changed.spatial.model_dump(), "checkpoint_interval_hours": 1.0})
    with pytest.raises(InputError, match="changed since the run started"):
        Simulation(changed).run(recorder=Recorder(tmp_path / "run2", pictures=False))


def test_kills_by_a_type_without_a_killing_program_are_counted(tmp_path):
    """Tregs given an attack rule kill tumour cells: ``kills_other`` counts them and ``deaths_killing`` includes
    them, so every contact kill of a tumour cell is in the deaths."""
    rule = "treg,oxygen,increases,attack tumor,1,1,8,0\n"
    scn = scenario(tmp_path / "treg", rule, parameters={"initial_treg_per_tumor_cell": 0.1})
    sim = run(scn, 15)
    other = sim.counters[K.COUNTERS.index("kills_other")]
    assert other >= 3
    killed_by_tregs = np.flatnonzero((sim.cells.dead[:sim.cells.n] == C.APOPTOTIC)
                                     & (sim.cells.killer[:sim.cells.n] == C.BY_OTHER))
    assert killed_by_tregs.size > 0  # corpses not yet cleared carry their killer class
    ds = Simulation(scn).run()
    kills = sum(ds[n] for n in K.COUNTERS if n.startswith("kills_"))
    assert float(ds["kills_other"].isel(time=-1).max()) > 0
    np.testing.assert_array_equal(ds["deaths_killing"].values, kills.values)
