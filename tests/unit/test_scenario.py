"""Scenario schema: shipped scenarios, input errors naming the field, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tmesim.errors import InputError
from tmesim.params.index import CATALOGUE
from tmesim.protocols import drugs
from tmesim.scenario import DEFAULT_SCENARIO, Scenario, build_scenario, list_scenarios, load_scenario

SCENARIOS = [name for name, _ in list_scenarios()]
KNOBS = [n for n, s in CATALOGUE.items() if s.get("knob")]


def _base(**extra) -> dict:
    data = {
        "name": "test",
        "parameter_set": "mouse_b16_icb_ferroptosis",
        "days": 5,
        "arms": [
            {"name": "control"},
            {"name": "anti-PD-1", "doses": [{"drug": "anti_pd1", "dose": 10, "unit": "mg/kg", "start_day": 1,
                                             "every_days": 3, "count": 2}]},
        ],
    }
    data.update(extra)
    return data


def _write(tmp_path: Path, data_or_text, name: str = "scn.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data_or_text if isinstance(data_or_text, str) else yaml.safe_dump(data_or_text, sort_keys=False))
    return path


def _error(fn, *args, **kwargs) -> InputError:
    with pytest.raises(InputError) as info:
        fn(*args, **kwargs)
    return info.value


# ----------------------------------------------------------- shipped ones
def test_default_scenario_is_shipped():
    assert DEFAULT_SCENARIO in SCENARIOS
    assert len(SCENARIOS) == len(set(SCENARIOS))


@pytest.mark.parametrize("name", SCENARIOS)
def test_shipped_scenario_loads(name):
    scn = load_scenario(name)
    assert isinstance(scn, Scenario)
    assert scn.days > 0 and scn.arms
    assert len({a.name for a in scn.arms}) == len(scn.arms)
    # every arm resolves to a complete parameter set (knobs and overrides valid)
    for arm in scn.arms:
        ps = scn.arm_parameters(arm)
        assert len(ps.vector()) == len(CATALOGUE)
    # description shows up in the listing
    assert dict(list_scenarios())[name] == " ".join(str(scn.description).split())


@pytest.mark.parametrize("name", SCENARIOS)
def test_shipped_scenario_round_trips_through_yaml(name, tmp_path):
    scn = load_scenario(name)
    again = load_scenario(_write(tmp_path, scn.to_yaml()))
    assert again == scn


def test_flagship_design():
    scn = load_scenario()
    names = [a.name for a in scn.arms]
    assert names[0] == "control"
    assert "anti-PD-1 + IKE" in names
    combo = scn.arms[names.index("anti-PD-1 + IKE")]
    assert {d.drug for d in combo.doses} == {"anti_pd1", "ike"}


def test_dose_days():
    scn = build_scenario(_base())
    assert scn.arms[1].doses[0].days() == [1.0, 4.0]


def test_load_by_path_and_by_name(tmp_path):
    path = _write(tmp_path, _base())
    assert load_scenario(path).name == "test"
    assert load_scenario(str(path)).arms[1].name == "anti-PD-1"


# ------------------------------------------------------------- bad input
class TestBadScenario:
    def test_unknown_top_level_key_named_and_suggested(self, tmp_path):
        err = _error(load_scenario, _write(tmp_path, _base(dayz=3)))
        assert err.field == "dayz"
        assert "dayz" in str(err) and "did you mean 'days'?" in str(err)

    def test_unknown_nested_key_named_and_suggested(self, tmp_path):
        data = _base()
        data["arms"][1]["doses"][0]["start"] = 2
        err = _error(load_scenario, _write(tmp_path, data))
        assert err.field == "arms[1].doses[0].start"
        assert "start_day" in str(err)

    def test_unknown_arm_key(self, tmp_path):
        data = _base()
        data["arms"][0]["dose"] = []
        err = _error(load_scenario, _write(tmp_path, data))
        assert err.field == "arms[0].dose"
        assert "'doses'" in str(err)

    @pytest.mark.parametrize("dose", [-3, 0])
    def test_non_positive_dose(self, tmp_path, dose):
        data = _base()
        data["arms"][1]["doses"][0]["dose"] = dose
        err = _error(load_scenario, _write(tmp_path, data))
        assert err.field == "arms[1].doses[0].dose"

    def test_negative_start_day(self):
        data = _base()
        data["arms"][1]["doses"][0]["start_day"] = -1
        assert _error(build_scenario, data).field == "arms[1].doses[0].start_day"

    def test_unknown_drug_suggests(self):
        data = _base()
        data["arms"][1]["doses"][0]["drug"] = "anti_pd_1"
        err = _error(build_scenario, data)
        assert err.field == "arms[1].doses[0].drug"
        assert "anti_pd_1" in str(err) and "anti_pd1" in str(err)

    def test_every_shipped_drug_is_accepted(self):
        for d in drugs.DRUGS:
            data = _base()
            data["arms"][1]["doses"][0]["drug"] = d.name
            build_scenario(data)

    def test_duplicate_arm_names(self):
        data = _base()
        data["arms"][1]["name"] = "control"
        err = _error(build_scenario, data)
        assert "control" in str(err) and "unique" in str(err)

    def test_repeat_without_interval(self):
        data = _base()
        del data["arms"][1]["doses"][0]["every_days"]
        err = _error(build_scenario, data)
        assert err.field == "arms[1].doses[0]"
        assert "every_days" in str(err)

    def test_single_dose_needs_no_interval(self):
        data = _base()
        dose = data["arms"][1]["doses"][0]
        del dose["every_days"]
        dose["count"] = 1
        assert build_scenario(data).arms[1].doses[0].days() == [1.0]

    def test_unknown_knob_suggests(self):
        data = _base()
        data["arms"][0]["knobs"] = {"tumor_slc7a11_overexpresion": 3}
        err = _error(build_scenario, data)
        assert err.field == "arms[0].knobs"
        assert "tumor_slc7a11_overexpression" in str(err)

    def test_non_knob_parameter_is_not_a_knob(self):
        data = _base()
        data["arms"][0]["knobs"] = {"tumor_growth_rate": 3}
        assert "tumor_growth_rate" in str(_error(build_scenario, data))

    def test_no_arms(self):
        assert _error(build_scenario, _base(arms=[])).field == "arms"

    @pytest.mark.parametrize("days", [0, -5, float("nan"), 10_000])
    def test_bad_days(self, days):
        assert _error(build_scenario, _base(days=days)).field == "days"

    def test_missing_days(self):
        data = _base()
        del data["days"]
        err = _error(build_scenario, data)
        assert err.field == "days" and "missing" in str(err)

    def test_bad_cohort(self):
        assert _error(build_scenario, _base(cohort={"size": 0})).field == "cohort.size"
        err = _error(build_scenario, _base(cohort={"size": 3, "variability": {"tumor_growth_rat": 0.2}}))
        assert err.field == "cohort.variability" and "tumor_growth_rate" in str(err)
        assert _error(build_scenario, _base(cohort={"size": 3, "variability": {"all": -0.1}})).field == "cohort.variability"

    def test_bad_scenario_level_parameter(self, tmp_path):
        err = _error(load_scenario, _write(tmp_path, _base(parameters={"tumor_growth_rate": "-1 1/day"})))
        assert err.field == "parameters.tumor_growth_rate"
        err = _error(load_scenario, _write(tmp_path, _base(parameters={"tumor_growth_rat": 1}), "b.yaml"))
        assert "tumor_growth_rate" in str(err)

    def test_unknown_parameter_set(self, tmp_path):
        err = _error(load_scenario, _write(tmp_path, _base(parameter_set="mouse_b16")))
        assert "mouse_b16" in str(err)

    def test_malformed_yaml(self, tmp_path):
        path = _write(tmp_path, "name: x\ndays: 5\narms: [{name: control}\n")
        err = _error(load_scenario, path)
        assert str(path) in str(err) and "malformed YAML" in str(err)

    def test_yaml_not_a_mapping(self, tmp_path):
        err = _error(load_scenario, _write(tmp_path, "- a\n- b\n"))
        assert "mapping" in str(err)

    def test_missing_file(self, tmp_path):
        err = _error(load_scenario, tmp_path / "missing.yaml")
        assert err.field == "scenario" and "missing.yaml" in str(err)

    def test_unknown_scenario_name_suggests(self):
        err = _error(load_scenario, DEFAULT_SCENARIO[:-2])
        assert err.field == "scenario" and f"'{DEFAULT_SCENARIO}'" in str(err)


class TestLateArmValidation:
    """Arm-level parameters, knob values and dose units are checked by
    ``arm_parameters``/``compile_batch``; these tests pin where that happens."""

    def _arm(self, **arm):
        data = _base()
        data["arms"][0].update(arm)
        return build_scenario(data)

    def test_arm_parameter_typo_raises_when_resolved(self):
        scn = self._arm(parameters={"tumor_growth_rat": 1})
        err = _error(scn.arm_parameters, scn.arms[0])
        assert err.field == "arms[0].parameters.tumor_growth_rat" and "tumor_growth_rate" in str(err)

    def test_knob_out_of_bounds_raises_when_resolved(self):
        scn = self._arm(knobs={"tumor_gpx4_loss": 2})
        err = _error(scn.arm_parameters, scn.arms[0])
        assert err.field == "arms[0].knobs.tumor_gpx4_loss"

    def test_knob_value_applied(self):
        scn = self._arm(knobs={"tumor_slc7a11_overexpression": 3})
        assert scn.arm_parameters(scn.arms[0])["tumor_slc7a11_overexpression"] == 3.0
        assert scn.arm_parameters(scn.arms[1])["tumor_slc7a11_overexpression"] == scn.base_parameters["tumor_slc7a11_overexpression"]

    def test_bad_dose_unit_raises_at_compile(self):
        from tmesim.protocols.events import arm_events

        data = _base()
        data["arms"][1]["doses"][0]["unit"] = "mM"
        err = _error(arm_events, build_scenario(data), 1)
        assert err.field == "arms[1].doses[0].unit"

    @pytest.mark.parametrize("arm", [
        {"parameters": {"tumor_growth_rat": 1}},
        {"knobs": {"tumor_gpx4_loss": 2}},
        {"doses": [{"drug": "ike", "dose": 1, "unit": "mM", "start_day": 1}]},
    ], ids=["arm-parameter-typo", "knob-out-of-bounds", "dose-unit"])
    def test_load_scenario_rejects_bad_arm_early(self, tmp_path, arm):
        data = _base()
        data["arms"][0].update(arm)
        with pytest.raises(InputError):
            load_scenario(_write(tmp_path, data))


# ------------------------------------------------------------- overrides
class TestOverrides:
    def test_days_seed_parameters(self):
        scn = load_scenario()
        new = scn.with_overrides(days=5, seed=3, parameters={"tumor_growth_rate": "0.3 1/day"})
        assert (new.days, new.seed) == (5, 3)
        assert new.base_parameters["tumor_growth_rate"] == pytest.approx(0.3 / 1440.0)
        assert new.base_parameters.by_name["tumor_growth_rate"].source.startswith("override:")
        # the original is untouched
        assert scn.days == 30 and scn.seed == 0
        assert scn.base_parameters["tumor_growth_rate"] != new.base_parameters["tumor_growth_rate"]
        # arm parameters see the override too
        for arm in new.arms:
            assert new.arm_parameters(arm)["tumor_growth_rate"] == pytest.approx(0.3 / 1440.0)

    def test_overrides_accumulate(self):
        scn = load_scenario().with_overrides(parameters={"tumor_growth_rate": "0.3 1/day"})
        scn = scn.with_overrides(parameters={"stat1_time_constant": "3 h"})
        assert scn.base_parameters["tumor_growth_rate"] == pytest.approx(0.3 / 1440.0)
        assert scn.base_parameters["stat1_time_constant"] == pytest.approx(180.0)

    def test_no_op_override(self):
        scn = load_scenario()
        assert scn.with_overrides() == scn

    def test_other_fields(self):
        scn = load_scenario().with_overrides(cohort={"size": 4, "variability": {"all": 0.2}}, output_interval_hours=12)
        assert scn.cohort.size == 4 and scn.output_interval_hours == 12

    @pytest.mark.parametrize("kwargs,field", [
        ({"days": -1}, "days"),
        ({"seed": -1}, "seed"),
        ({"parameters": {"nonexistent_param": 1}}, "parameters.nonexistent_param"),
        ({"parameters": {"tumor_growth_rate": -1}}, "parameters.tumor_growth_rate"),
        ({"parameters": {"tumor_growth_rate": "abc"}}, "parameters.tumor_growth_rate"),
        ({"parameters": {"tumor_growth_rate": "1 mM"}}, "parameters.tumor_growth_rate"),
        ({"cohort": {"size": 2, "variabilty": {}}}, "cohort.variabilty"),
    ])
    def test_bad_overrides(self, kwargs, field):
        err = _error(load_scenario().with_overrides, **kwargs)
        assert err.field == field, str(err)


def test_patient_factors_keep_their_draws_when_a_parameter_is_added(monkeypatch):
    """A patient's factor for a parameter depends on the seed and the parameter's
    name only: adding a parameter to the catalogue does not reshuffle the cohort."""
    import numpy as np

    from tmesim.protocols import schedule

    scenario = load_scenario().with_overrides(cohort={"size": 50, "variability": {"all": 0.25}}, seed=7)
    before = schedule.patient_factors(scenario)
    assert np.log(before).std() == pytest.approx(0.25, rel=0.1)
    names = list(schedule.NAMES)
    monkeypatch.setattr(schedule, "NAMES", names[:10] + ["zz_new_parameter"] + names[10:])
    monkeypatch.setitem(schedule.CATALOGUE, "zz_new_parameter", {"unit": "1"})
    after = schedule.patient_factors(scenario)
    assert np.array_equal(np.delete(after, 10, axis=1), before)
    assert not np.array_equal(after[:, 10], after[:, 11])
    other_seed = schedule.patient_factors(scenario.with_overrides(seed=8))
    assert not np.allclose(other_seed, after)


def test_robustness_draws_leave_knobs_and_the_switch_reference_at_rest():
    """Knobs are experimental manipulations, not patient traits: ``all`` does not vary them.
    ``pufa_supply`` is one, as the ferroptosis switch is calibrated at PUFA supply 1
    (docs/model.md); the line's own resting state does vary."""
    import numpy as np

    from tmesim.protocols import schedule

    f = schedule.patient_factors(load_scenario().with_overrides(cohort={"size": 30, "variability": {"all": 0.25}}))
    knobs = [schedule.NAMES.index(n) for n, s in CATALOGUE.items() if s.get("knob")]
    assert schedule.NAMES.index("pufa_supply") in knobs
    assert np.all(f[:, knobs] == 1.0)
    assert np.ptp(f[:, schedule.NAMES.index("tumor_lipid_peroxide_resting")]) > 0.2


# ------------------------------------------------- pinned by mutation testing (docs/testing.md)
class TestPinnedBehaviour:
    def test_a_scenario_is_immutable(self):
        scn = build_scenario(_base())
        with pytest.raises(Exception):
            scn.days = 3  # type: ignore[misc]

    def test_a_dose_on_day_zero_is_allowed_and_one_dose_is_the_default(self):
        data = _base()
        dose = data["arms"][1]["doses"][0]
        dose.update(start_day=0)
        del dose["count"], dose["every_days"]
        scn = build_scenario(data)
        assert scn.arms[1].doses[0].count == 1 and scn.arms[1].doses[0].days() == [0.0]

    @pytest.mark.parametrize(("drug", "hint"), [("anti_pd_1", "did you mean 'anti_pd1'?"), ("zzz", "known: ")])
    def test_unknown_drug_hint(self, drug, hint):
        data = _base()
        data["arms"][1]["doses"][0]["drug"] = drug
        assert hint in str(_error(build_scenario, data))

    def test_unknown_knob_lists_the_knobs_when_nothing_is_close(self):
        data = _base()
        data["arms"][0]["knobs"] = {"zzz": 1}
        assert "knobs: " in str(_error(build_scenario, data))

    @pytest.mark.parametrize(("field", "value"), [("days", float("inf")), ("output_interval_hours", float("inf")),
                                                  ("output_interval_hours", float("nan")), ("output_interval_hours", 0)])
    def test_non_finite_durations(self, field, value):
        assert _error(build_scenario, _base(**{field: value})).field == field

    @pytest.mark.parametrize("cells", [0, -1, float("nan"), 2e12])
    def test_bad_infusion_sizes(self, cells):
        data = _base()
        data["arms"][0]["products"] = [{"day": 1, "cells": cells}]
        assert _error(build_scenario, data).field == "arms[0].products[0].cells"

    @pytest.mark.parametrize("fraction", [-0.1, 1.01])
    def test_cd4_fraction_is_a_fraction(self, fraction):
        data = _base()
        data["arms"][0]["products"] = [{"day": 1, "cells": 1e6, "cd4_fraction": fraction}]
        assert _error(build_scenario, data).field == "arms[0].products[0].cd4_fraction"

    def test_cohort_variability_is_bounded_above(self):
        assert _error(build_scenario, _base(cohort={"size": 2, "variability": {"all": 5.0}})).field == "cohort.variability"
        assert build_scenario(_base(cohort={"size": 2, "variability": {"all": 4.99}})).cohort.variability["all"] == 4.99
        err = _error(build_scenario, _base(cohort={"size": 2, "variability": {"tumor_growth_rat": 0.1}}))
        assert "did you mean 'tumor_growth_rate'?" in str(err)

    def test_yaml_keeps_the_schema_order(self):
        text = build_scenario(_base()).to_yaml()
        keys = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith((" ", "-"))]
        assert keys == ["name", "description", "parameter_set", "scale", "parameters", "days", "output_interval_hours",
                        "seed", "cohort", "arms"]

    def test_unknown_nested_key_suggests_from_its_own_model(self):
        err = _error(build_scenario, _base(cohort={"size": 2, "variabilty": {}}))
        assert err.field == "cohort.variabilty" and err.fix == "did you mean 'variability'?"
        data = _base()
        data["arms"][1]["doses"][0]["zzz"] = 1
        assert "allowed: drug, dose, unit" in str(_error(build_scenario, data))

    def test_errors_name_the_line(self, tmp_path):
        text = "name: t\ndays: 2\narms:\n  - name: a\n    doses:\n      - {drug: ike, dose: 1, start_day: -1}\n"
        err = _error(load_scenario, _write(tmp_path, text))
        assert err.field == "arms[0].doses[0].start_day" and "(line 6 of" in str(err)
        err = _error(load_scenario, _write(tmp_path, "name: t\ndays: 2\narms: [{name: a}\n", "m.yaml"))
        assert ", line 4" in str(err) and "malformed YAML" in str(err)

    def test_dose_bound_is_in_mg_per_kg_after_conversion(self):
        from tmesim.scenario import MAX_DOSE_MG_PER_KG, validate_arms

        for dose, unit, ok in ((2000, "mg/kg", True), (2001, "mg/kg", False), (2, "g/kg", True), (2.5, "g/kg", False),
                               (2e6, "ug/kg", True)):
            data = _base()
            data["arms"][1]["doses"][0].update(dose=dose, unit=unit)
            scn = build_scenario(data)
            if ok:
                validate_arms(scn)
            else:
                err = _error(validate_arms, scn)
                assert err.field == "arms[1].doses[0].dose" and f"{MAX_DOSE_MG_PER_KG:g} mg/kg" in str(err)

    def test_a_bare_override_records_the_sets_unit(self):
        scn = load_scenario().with_overrides(parameters={"tumor_growth_rate": 0.3, "stat1_time_constant": "6",
                                                         "tumor_slc7a11_overexpression": 2, "ifng_decay_rate": "1 1/h"})
        unit = scn.base_parameters.by_name["tumor_growth_rate"].given_unit
        assert scn.parameters["tumor_growth_rate"] == f"0.3 {unit}"
        assert scn.parameters["stat1_time_constant"] == f"6 {scn.base_parameters.by_name['stat1_time_constant'].given_unit}"
        assert scn.parameters["tumor_slc7a11_overexpression"] == "2"  # dimensionless: no unit to add
        assert scn.parameters["ifng_decay_rate"] == "1 1/h"  # a unit given is kept
        again = build_scenario(yaml.safe_load(scn.to_yaml()))
        assert again.base_parameters["tumor_growth_rate"] == scn.base_parameters["tumor_growth_rate"]

    def test_late_doses_are_listed_not_refused(self):
        from tmesim.scenario import late_doses

        scn = load_scenario().with_overrides(days=10)
        lines = late_doses(scn)
        assert lines[0] == ("arms[1].doses[0]: 3 of 5 doses of anti_pd1 after day 10, the end of the run, "
                            "will not be given")
        assert late_doses(load_scenario()) == []
        data = _base(days=2)
        data["arms"][0]["products"] = [{"day": 3, "cells": 1e6}]
        assert "products[0]: the infusion on day 3" in late_doses(build_scenario(data))[0]

    def test_exact_limits(self):
        from tmesim.scenario import MAX_COHORT, MAX_SEED

        assert MAX_SEED == 2**63 - 1 and MAX_COHORT == 1_000_000
        assert build_scenario(_base(seed=2**63 - 1)).seed == 2**63 - 1
        assert _error(build_scenario, _base(seed=2**63)).field == "seed"
        assert build_scenario(_base(cohort={"size": MAX_COHORT})).cohort.size == MAX_COHORT
        assert _error(build_scenario, _base(cohort={"size": MAX_COHORT + 1})).field == "cohort.size"
        assert build_scenario(_base(cohort={"size": 2, "variability": {"all": 0.0}})).cohort.variability == {"all": 0.0}
        for value, ok in ((100, True), (100.5, False)):
            data = _base()
            data["arms"][0]["products"] = [{"day": 1, "cells": 1e6, "proteasome_expression": value}]
            if ok:
                build_scenario(data)
            else:
                assert _error(build_scenario, data).field == "arms[0].products[0].proteasome_expression"

    @pytest.mark.parametrize(("where", "value"), [("cells", "1e6"), ("size", 2.0), ("size", "2"), ("size", True)])
    def test_numbers_must_be_numbers(self, where, value):
        data = _base()
        if where == "cells":
            data["arms"][0]["products"] = [{"day": 1, "cells": value}]
            field = "arms[0].products[0].cells"
        else:
            data["cohort"] = {"size": value}
            field = "cohort.size"
        assert _error(build_scenario, data).field == field

    def test_a_dose_half_a_day_after_the_end_is_late(self):
        from tmesim.scenario import late_doses

        data = _base(days=2)
        data["arms"][1]["doses"] = [{"drug": "ike", "dose": 1, "start_day": 2.5}, {"drug": "ike", "dose": 1, "start_day": 2}]
        assert [line.split(":")[0] for line in late_doses(build_scenario(data))] == ["arms[1].doses[0]"]
