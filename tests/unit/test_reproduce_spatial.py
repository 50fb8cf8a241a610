"""``tmesim reproduce --scale spatial``: the spatial twins, the CLI path on a tiny domain, bad input.

The runs here use a 12 x 12 domain and one simulated day (no treatment starts before day 6, so the arms of
finding 1 are alike apart from their knobs); the shipped defaults run under ``-m slow``
(tests/integration/test_reproduce_spatial_full.py).
"""

from __future__ import annotations

import json
import math

import pytest

from tmesim.reproduce import findings as F
from tmesim.reproduce import spatial as S
from tmesim.scenario import load_scenario

pytestmark = pytest.mark.filterwarnings(r"ignore:arms\[\d+\]\.doses\[0\]")

FINDING1 = "finding1_ifng_ferroptosis"


@pytest.fixture
def tiny(monkeypatch):
    """Shrink the twins to 12 x 12 sites, a 60-um disc and one day."""
    monkeypatch.setattr(S, "SIDE_SITES", 12)
    monkeypatch.setattr(S, "RADIUS_UM", 60.0)
    for name in list(S.HORIZON_DAYS):
        monkeypatch.setitem(S.HORIZON_DAYS, name, 1.0)


def test_the_twin_keeps_set_arms_and_protocols_and_runs_at_the_spatial_scale():
    for name in (FINDING1, "finding2_icb_ferroptosis_inducers", "lymphoma_car_subsets"):
        wellmixed = load_scenario(name)
        twin = S.spatial_twin(wellmixed, replicates=3, seed=5)
        assert twin.scale == "spatial" and wellmixed.scale == "wellmixed"
        assert twin.parameter_set == wellmixed.parameter_set and twin.parameters == wellmixed.parameters
        assert [a.model_dump() for a in twin.arms] == [a.model_dump() for a in wellmixed.arms]
        assert twin.days == S.HORIZON_DAYS[name] <= wellmixed.days
        assert twin.seed == wellmixed.seed + 5
        sp = twin.spatial
        assert sp.replicates == 3 and sp.shape == (S.SIDE_SITES, S.SIDE_SITES) and sp.dimensions == 2
        assert sp.geometry.kind == "spheroid" and sp.geometry.radius_um == S.RADIUS_UM
        assert sp.field_dt_minutes == sp.oxygen_dt_minutes == S.FIELD_DT_MINUTES
        # the realistic model, not the well-mixed limit: the set's own diffusion and vessels anywhere
        assert "ifng_diffusion" not in twin.parameters and sp.vessels.placement == "everywhere"


def test_a_cut_twin_carries_the_cut_in_every_arm():
    wellmixed = load_scenario(FINDING1)
    cut = S.cut_twin(wellmixed, F.MECHANISMS["1a"], replicates=2)
    assert cut.scale == "spatial"
    for a in range(len(cut.arms)):
        by_name = cut.arm_parameter_sets[a].by_name
        assert by_name["slc7a11_repression_max"].value == 0.0 and by_name["acsl4_induction_max"].value == 0.0


def test_select_keeps_findings_1_2_5_and_names_them_for_another():
    assert {f.number for f in S.select(None)} == set(S.SPATIAL_FINDINGS)
    assert [f.id for f in S.select(["2c", "5"])][:2] == ["2c", "5a"]
    from tmesim.errors import InputError

    with pytest.raises(InputError, match=r"finding 3 has no spatial twin.*findings 1, 2, 5"):
        S.select(["3"])
    with pytest.raises(InputError, match="--replicates"):
        S.check_replicates(0)


def test_replicates_play_draws_and_a_missing_variable_is_missing_data(tiny, tmp_path):
    """The checks read the replicates as draws; arms alike before treatment give effects of exactly 1 (the arms
    share their replicates' seeds), and a check reading a variable the run lacks reports it by name."""
    missing = F.Finding("1z", "a check on a variable no engine writes", (), FINDING1, "x", "1",
                        F.ratio(F.Mean(("no_such_variable",)), "anti-PD-1", "control"), F.BELOW_1)
    catalogue = tuple(f for f in F.FINDINGS if f.id == "1e") + (missing,)
    results = S.run_spatial_findings(["1"], replicates=2, findings=catalogue, out=tmp_path)
    by_id = {r.id: r for r in results}
    e = by_id["1e"]
    assert e.status == "ok" and e.n_draws == 2 and e.values == (1.0, 1.0) and e.fraction == 0.0 and not e.holds
    assert e.kind == "fails" and "12x12 sites" in e.note and math.isnan(e.fraction_cut)
    assert "2 of 2 replicates within 0.001 of the threshold" in e.note  # named: its direction is rounding
    z = by_id["1z"]
    assert z.status == "missing data: variable 'no_such_variable'" and not z.passed
    assert (tmp_path / "finding1.png").is_file()


def test_cli_spatial_runs_end_to_end_and_writes_json_and_figure(tiny, tmp_path, tmesim, capsys):
    out, path = tmp_path / "figs", tmp_path / "r.json"
    code = tmesim("reproduce", "--scale", "spatial", "1", "--replicates", "2", "--out", out, "--json", path, "-q")
    printed = capsys.readouterr().out
    assert code == 1  # nothing is given before day 6: every required check fails on a one-day run
    records = json.loads(path.read_text())
    assert [r["id"] for r in records] == ["1a", "1b", "1c", "1d", "1e"]
    for r in records:
        assert r["scale"] == "spatial" and r["replicates"] == 2 and r["n_draws"] == 2
        assert r["share_of_replicates"] == r["fraction"]
        assert r["kind_reason"].startswith("mechanism controls not run") or r["kind"] == "fails"
    assert (out / "finding1.png").is_file()
    said = " ".join(printed.split())
    assert "2 replicates per arm, scale: spatial" in said and "scale: spatial. 0 of 5 required checks hold" in said


@pytest.mark.parametrize("argv, field", [
    (["--scale", "spatial", "3"], "finding 3 has no spatial twin"),
    (["--scale", "spatial", "--replicates", "0"], "--replicates"),
    (["--scale", "spatial", "--draws", "5"], "--draws"),
    (["--scale", "nowhere"], "--scale"),
    (["1", "--replicates", "2"], "--replicates"),
])
def test_bad_spatial_input_exits_2_with_one_line_and_writes_nothing(argv, field, tmp_path, tmesim, capsys):
    out = tmp_path / "figs"
    assert tmesim("reproduce", *argv, "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.iterdir())
