"""Hypothesis rules: the vocabulary, the CSV reader, PhysiCell's evaluation semantics and the CLI."""

from __future__ import annotations

import ast
import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

from tmesim import cli
from tmesim.errors import InputError
from tmesim.rules import vocabulary as vocab
from tmesim.rules.evaluate import compile_rules, evaluate_reference, evaluate_rules
from tmesim.rules.reader import Rule, RulesWarning, parse_rules, read_rules

V3 = "cd8_t_cell,ifng,increases,attack tumor,0.01,1,4,0\n"


def write(tmp_path: Path, text: str, name: str = "rules.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str, **kwargs) -> str:
    with pytest.raises(InputError) as exc:
        read_rules(write(tmp_path, text), **kwargs)
    return str(exc.value)


# ----------------------------------------------------------------- reader ----


def test_v3_row_gives_every_field(tmp_path):
    rules = read_rules(write(tmp_path, V3))
    assert rules.version == 3 and not rules.header and len(rules) == 1
    assert rules.rules[0] == Rule("cd8_t_cell", "ifng", "increases", "attack tumor", 0.01, 1.0, 4.0, False, 1)


def test_version_2_is_version_3s_layout(tmp_path):
    rules = read_rules(write(tmp_path, V3), version="2.0")
    assert rules.version == 2 and rules.rules[0].saturation == 0.01


def test_v1_has_a_base_column_kept_for_reference(tmp_path):
    rules = read_rules(write(tmp_path, "cd8_t_cell,ifng,increases,attack tumor,0.002,0.01,1,4,1\n"))
    rule = rules.rules[0]
    assert rules.version == 1
    assert (rule.file_base, rule.saturation, rule.half_max, rule.hill_power, rule.applies_to_dead) == (
        0.002, 0.01, 1.0, 4.0, True)
    assert "from <base> (file: 0.002) towards 0.01 1/min" in rules.sentences()[0]


def test_v0_takes_the_max_column_for_increases_and_the_min_for_decreases(tmp_path):
    text = ("tumor,apoptosis,0.0001,0.001,0.1,damage,increases,30,8,0\n"
            "tumor,cycle entry,0.00005,0.0007,0.002,oxygen,decreases,5,2,0\n")
    rules = read_rules(write(tmp_path, text))
    assert rules.version == 0
    up, down = rules.rules
    assert (up.behavior, up.signal, up.saturation, up.file_base, up.hill_power) == ("apoptosis", "damage", 0.1, 0.001, 8)
    assert (down.behavior, down.direction, down.saturation) == ("cycle entry", "decreases", 0.00005)


def test_header_row_is_skipped_and_reported(tmp_path):
    text = "cell_type,signal,direction,behavior,saturation,half_max,hill_power,applies_to_dead\n" + V3
    rules = read_rules(write(tmp_path, text))
    assert rules.header and len(rules) == 1 and rules.rules[0].row == 2


def test_a_first_row_naming_a_cell_type_is_data_not_a_header(tmp_path):
    message = error_of(tmp_path, "cd8_t_cell,ifng,rises,attack tumor,a,b,c,d\n")
    assert "row 1 column 3 (direction)" in message


def test_comments_blank_lines_whitespace_and_empty_spreadsheet_rows(tmp_path):
    text = ("// PhysiCell Studio comments out a rule like this\n"
            "# and a hash comment\n"
            "\n"
            "   \n"
            ",,,,,,,\n"
            "//cd8_t_cell,ifng,increases,attack tumor,0.01,1,4,0\n"
            "  cd8_t_cell , ifng ,  increases , attack tumor , 0.01 , 1 , 4 , 0  \r\n"
            "macrophage,contact with dead cell,increases,phagocytose apoptotic cell,0.05,1,1,1\n")
    rules = read_rules(write(tmp_path, text))
    assert [r.row for r in rules] == [7, 8]
    assert rules.rules[0].signal == "ifng" and rules.rules[1].applies_to_dead


def test_error_rows_are_line_numbers_in_the_file(tmp_path):
    text = "// comment\n\n" + V3 + "# another\n" + "cd8_t_cell,ifng,increases,attack tumor,0.01,-1,4,0\n"
    assert "rules.csv row 5 column 6 (half-max)" in error_of(tmp_path, text)


def test_tab_separated(tmp_path):
    text = "cd8_t_cell\tcontact with tumor\tincreases\tattack tumor\t0.01\t0.5\t2\t0\n"
    rules = read_rules(write(tmp_path, text, "rules.tsv"))
    assert rules.rules[0].signal == "contact with tumor" and rules.rules[0].half_max == 0.5


def test_wrong_column_count(tmp_path):
    message = error_of(tmp_path, "cd8_t_cell,ifng,increases,attack tumor,0.01,1,4\n")
    assert "row 1" in message and "7 columns" in message and "8 (version 2/3)" in message


def test_explicit_version_that_does_not_fit_the_columns(tmp_path):
    message = error_of(tmp_path, V3, version=1)
    assert "row 1" in message and "version 1 has 9" in message and "base value" in message


def test_one_file_has_one_version(tmp_path):
    message = error_of(tmp_path, V3 + "cd8_t_cell,ifng,increases,attack nk_cell,0,0.01,1,4,0\n")
    assert "row 2" in message and "9 columns, but row 1 (version 3) has 8" in message


def test_bad_version_argument(tmp_path):
    assert "version: got '4'" in error_of(tmp_path, V3, version="4")


@pytest.mark.parametrize("column,value,expect", [
    (4, "abc", "column 5 (saturation value): 'abc' is not a number"),
    (5, "nan", "column 6 (half-max): must be a finite number"),
    (6, "inf", "column 7 (Hill power): must be a finite number"),
    (5, "-1", "column 6 (half-max): must be > 0, got -1"),
    (5, "0", "column 6 (half-max): must be > 0"),
    (6, "0", "column 7 (Hill power): must be > 0"),
    (6, "-2", "column 7 (Hill power): must be > 0"),
    (7, "2", "column 8 (applies to dead): must be 0 or 1"),
    (7, "yes", "column 8 (applies to dead): 'yes' is not a number"),
    (4, "", "column 5 (saturation value): is empty"),
    (4, "-0.01", "column 5 (saturation value): -0.01 is outside the values 'attack tumor' can take (>= 0, 1/min)"),
])
def test_bad_values_name_row_and_column(tmp_path, column, value, expect):
    fields = V3.strip().split(",")
    fields[column] = value
    message = error_of(tmp_path, "// first line is a comment\n" + ",".join(fields) + "\n")
    assert message.startswith(f"{tmp_path / 'rules.csv'} row 2 ") and expect in message


def test_migration_bias_is_a_fraction(tmp_path):
    message = error_of(tmp_path, "cd8_t_cell,cxcl9,increases,migration bias,2,1,1,0\n")
    assert "'migration bias' can take (0..1, 1)" in message


def test_direction_must_be_increases_or_decreases(tmp_path):
    message = error_of(tmp_path, "cd8_t_cell,ifng,increase,attack tumor,0.01,1,4,0\n")
    assert "row 1 column 3 (direction)" in message and "did you mean 'increases'?" in message


@pytest.mark.parametrize("text,column,nearest", [
    ("cd8 t cell,ifng,increases,attack tumor,0.01,1,4,0", "column 1 (cell type)", "'cd8_t_cell'"),
    ("cd8_t_cell,infg,increases,attack tumor,0.01,1,4,0", "column 2 (signal)", "'ifng'"),
    ("cd8_t_cell,ifng,increases,atack tumor,0.01,1,4,0", "column 4 (behavior)", "'attack tumor'"),
    ("cd8_t_cell,contact with tumour cell,increases,attack tumor,0.01,1,4,0", "column 2 (signal)",
     "'contact with tumor'"),
    ("macrophage,ifng,increases,phagocytose dead cells,0.01,1,4,0", "column 4 (behavior)",
     "'phagocytose dead cell'"),
])
def test_unknown_names_get_the_nearest_valid_ones(tmp_path, text, column, nearest):
    message = error_of(tmp_path, text + "\n")
    assert f"row 1 {column}: unknown" in message and "did you mean" in message and nearest in message


def test_unknown_name_with_nothing_near_points_to_the_vocabulary(tmp_path):
    message = error_of(tmp_path, "cd8_t_cell,xyzzy quux,increases,attack tumor,0.01,1,4,0\n")
    assert "unknown signal 'xyzzy quux'" in message and "tmesim rules vocabulary" in message


def test_synonyms_resolve_to_canonical_names(tmp_path):
    text = ("Tumour,grad(IFNG),increases,Transition to CD8_T_cell,0.001,1,1,0\n"
            "cd8_t_cell,intracellular bach2,decreases,terminal exhaustion,0,0.5,2,0\n"
            "cd8_t_cell,custom: pd1,increases,exhaustion,0.001,2,2,0\n"
            "cd8_t_cell,is attacking,increases,damage repair rate,1,0.5,10,0\n"
            "macrophage,contact with dead cells,increases,phagocytosis of necrotic cells,0.1,1,1,0\n"
            "nk_cell,oxygen gradient,increases,chemotactic sensitivity to oxygen,0.5,1,1,0\n"
            "tumor,oxygen,increases,exit from cycle phase 0,0.001,20,2,0\n")
    got = [(r.cell_type, r.signal, r.behavior) for r in read_rules(write(tmp_path, text))]
    assert got == [
        ("tumor", "gradient of ifng", "transform to cd8_t_cell"),
        ("cd8_t_cell", "custom:bach2", "terminal exhaustion"),
        ("cd8_t_cell", "custom:pd1", "exhaustion"),
        ("cd8_t_cell", "attacking", "damage repair rate"),
        ("macrophage", "contact with dead cell", "phagocytose necrotic cell"),
        ("nk_cell", "gradient of oxygen", "chemotactic response to oxygen"),
        ("tumor", "oxygen", "cycle entry"),
    ]


def test_legacy_phagocytose_dead_cell_is_split_in_three(tmp_path):
    rules = read_rules(write(tmp_path, "macrophage,contact with dead cell,increases,phagocytose dead cell,0.05,1,1,1\n"))
    assert [r.behavior for r in rules] == ["phagocytose apoptotic cell", "phagocytose necrotic cell",
                                           "phagocytose other dead cell"]
    assert {r.row for r in rules} == {1}


@pytest.mark.parametrize("second", [
    V3,
    "cd8_t_cell,IFNG,increases,attack tumour,0.02,2,1,1\n",  # same rule through synonyms, other numbers
])
def test_a_repeated_rule_is_fatal(tmp_path, second):
    message = error_of(tmp_path, V3 + "// gap\n" + second)
    assert "row 3: repeats row 1: in cd8_t_cell, ifng increases attack tumor" in message
    assert "delete one of the two rows" in message


def test_repeats_found_through_transition_and_legacy_names(tmp_path):
    text = ("cd4_t_cell,tgfb,increases,transform to treg,0.001,100,2,0\n"
            "cd4_t_cell,tgfb,increases,transition to treg,0.002,50,2,0\n")
    assert "row 2: repeats row 1" in error_of(tmp_path, text)
    text = ("macrophage,contact with dead cell,increases,phagocytose necrotic cell,0.05,1,1,1\n"
            "macrophage,contact with dead cell,increases,phagocytose dead cell,0.05,1,1,1\n")
    assert "row 2: repeats row 1: in macrophage, contact with dead cell increases phagocytose necrotic cell" in (
        error_of(tmp_path, text))


def test_same_signal_in_both_directions_or_for_another_type_is_not_a_repeat(tmp_path):
    text = (V3 + "cd8_t_cell,ifng,decreases,attack tumor,0,10,4,0\n"
            + "car_cd8_t_cell,ifng,increases,attack tumor,0.01,1,4,0\n")
    assert len(read_rules(write(tmp_path, text))) == 3


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such rules file"):
        read_rules(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a directory"):
        read_rules(tmp_path)


@pytest.mark.parametrize("text", ["", "// only a comment\n\n# and another\n",
                                  "cell_type,signal,direction,behavior,saturation,half_max,hill_power,dead\n"])
def test_a_file_without_rules_is_allowed_but_reported(tmp_path, text):
    with pytest.warns(RulesWarning, match="no rules"):
        rules = read_rules(write(tmp_path, text))
    assert len(rules) == 0 and rules.version is None and "no rules" in rules.warnings[0]
    assert compile_rules(rules.rules).n_rules == 0


@pytest.mark.parametrize("text,name,also", [
    ("macrophage,pressure,decreases,cell-cell adhesion,0,1,1,0", "cell-cell adhesion", "mechanics"),
    ("tumor,oxygen,increases,cell-BM adhesion,1,1,1,0", "cell-bm adhesion", "mechanics"),
    ("tumor,oxygen,increases,fuse to tumor,1,1,1,0", "fuse to tumor", "fusion"),
    ("tumor,oxygen,increases,asymmetric division to treg,1,1,1,0", "asymmetric division to treg", "daughters"),
    ("tumor,oxygen,increases,oxygen secretion target,1,1,1,0", "oxygen secretion target", "saturation"),
    ("tumor,oxygen,increases,exit from cycle phase 2,1,1,1,0", "exit from cycle phase 2", "'cycle entry'"),
    ("macrophage,oxygen,increases,phagocytose tumor,1,1,1,0", "phagocytose tumor", "'attack tumor'"),
    ("cd8_t_cell,oxygen,increases,damage rate,1,1,1,0", "damage rate", "'attack <cell type>'"),
    ("cd8_t_cell,oxygen,increases,attack damage rate,1,1,1,0", "attack damage rate", "whole, instantaneous hits"),
    ("cd8_t_cell,oxygen,increases,attack duration,1,1,1,0", "attack duration", "'attack <cell type>'"),
    ("cd8_t_cell,total attack time,increases,attack tumor,1,1,1,0", "total attack time", "'damage delivered'"),
    ("macrophage,oxygen,increases,iron export,1,1,1,0", "iron export", "not a diffusing field"),
    ("tumor,gradient of iron,increases,apoptosis,1,1,1,0", "gradient of iron", "not a diffusing field"),
    ("tumor,Contact with BM,increases,apoptosis,1,1,1,0", "contact with bm", "basement membrane"),
    ("tumor,intracellular oxygen,increases,apoptosis,1,1,1,0", "intracellular oxygen", "custom:labile_iron"),
])
def test_physicell_names_that_map_to_nothing_are_named(tmp_path, text, name, also):
    message = error_of(tmp_path, "// x\n" + text + "\n")
    assert "row 2 column" in message and f"'{name}' is a PhysiCell" in message and "maps to nothing" in message
    assert also in message and "--accept-unmapped" in message
    with pytest.warns(RulesWarning, match=f"row 2 skipped.*'{name}' maps to nothing"):
        rules = read_rules(write(tmp_path, "// x\n" + text + "\n" + V3), accept_unmapped=True)
    assert len(rules) == 1 and [u.row for u in rules.unmapped] == [2] and rules.unmapped[0].name == name
    assert any("row 2 skipped" in w for w in rules.warnings)


def test_accepted_unmapped_rows_are_still_checked(tmp_path):
    text = "macrophage,pressure,decreases,cell-cell adhesion,0,-1,1,0\n"
    assert "column 6 (half-max): must be > 0" in error_of(tmp_path, text, accept_unmapped=True)


def test_states_belong_to_their_cell_types(tmp_path):
    message = error_of(tmp_path, "macrophage,custom:bach2,decreases,il12 secretion,0,1,1,0\n")
    assert "column 2 (signal)" in message and "signal 'custom:bach2' does not exist in macrophage cells" in message
    assert "cd8_t_cell" in message
    message = error_of(tmp_path, "tumor,ifng,increases,exhaustion,0.001,1,1,0\n")
    assert "behaviour 'exhaustion' does not exist in tumor cells" in message


def test_dynamic_states_may_be_read_not_set(tmp_path):
    message = error_of(tmp_path, "cd8_t_cell,ifng,increases,custom:exhaustion,1,1,1,0\n")
    assert "custom:exhaustion is a state rules may read but not set" in message
    assert "'exhaustion' or 'terminal exhaustion' or 'reinvigoration'" in message
    rules = read_rules(write(tmp_path, "tumor,ifng,decreases,custom:slc7a11,0.2,10,2,0\n"
                                       "cd8_t_cell,custom:exhaustion,decreases,attack tumor,0,1.5,20,0\n"))
    assert [r.behavior for r in rules] == ["custom:slc7a11", "attack tumor"]


def test_a_cell_cannot_transform_to_its_own_type(tmp_path):
    assert "cannot transform to its own type" in error_of(tmp_path, "treg,tgfb,increases,transform to treg,1,1,1,0\n")


def test_rules_are_immutable(tmp_path):
    rules = read_rules(write(tmp_path, V3))
    assert isinstance(rules.rules, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.rules[0].saturation = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.rules = ()


def test_sentences_read_like_physicells_detailed_rules(tmp_path):
    text = V3 + "cd8_t_cell,custom:pd1,increases,attack tumor,0.02,2,1,1\n"
    rules = read_rules(write(tmp_path, text))
    first, second = rules.sentences()
    assert first == ("In cd8_t_cell, ifng increases attack tumor from <base> towards 0.02 1/min (the largest "
                     "saturation of the increasing rules of this behaviour; this row gives 0.01) with half-max 1 pM "
                     "and Hill power 4; does not apply to dead cells.")
    assert second == ("In cd8_t_cell, custom:pd1 increases attack tumor from <base> towards 0.02 1/min with "
                      "half-max 2 and Hill power 1; applies to dead cells too.")


def test_parse_rules_from_text_names_the_source():
    with pytest.raises(InputError, match=r"^scenario rules row 1 column 2"):
        parse_rules("tumor,oxygn,decreases,necrosis,0,5,2,0", source="scenario rules")


# ------------------------------------------------------------- vocabulary ----


def test_vocabulary_carries_the_engines_cell_types_fields_and_drugs():
    from tmesim.protocols.drugs import DRUGS

    assert vocab.CELL_TYPE_NAMES == ("tumor", "cd8_t_cell", "cd4_t_cell", "car_cd8_t_cell", "car_cd4_t_cell",
                                     "treg", "nk_cell", "macrophage")
    drugs = [s.name for s in vocab.SUBSTRATES if s.kind == "drug"]
    assert drugs == [d.name for d in DRUGS]
    fields = [s.name for s in vocab.SUBSTRATES if s.kind == "field"]
    assert fields == ["oxygen", "glucose", "cystine", "tryptophan", "kynurenine", "iron", "ifng", "il12", "il2",
                      "il10", "tgfb", "cxcl9"]
    for entry in list(vocab.SIGNALS.values()) + list(vocab.BEHAVIORS.values()):
        assert entry.unit and entry.meaning and entry.maps_to and entry.cell_types


def test_every_name_and_synonym_resolves_to_its_entry_and_unmapped_ones_raise():
    for entry in vocab.SIGNALS.values():
        for name in (entry.name,) + entry.synonyms:
            assert vocab.resolve_signal(name.upper()) is entry
    for entry in vocab.BEHAVIORS.values():
        for name in (entry.name,) + entry.synonyms:
            assert vocab.resolve_behavior(name) == (entry,)
    for entry in vocab.UNMAPPED.values():
        resolve = vocab.resolve_signal if entry.kind == "signal" else vocab.resolve_behavior
        for name in (entry.name,) + entry.synonyms:
            with pytest.raises(vocab.UnmappedName):
                resolve(name)


def test_vocabulary_prints_units_meanings_and_what_maps_to_nothing():
    text = vocab.format_vocabulary()
    for needle in ("tumor", "macrophage", "ifng             pM", "mmHg", "<substrate> uptake", "1/min",
                   "attack <cell type>", "custom:<state>", "ferroptosis", "terminal exhaustion",
                   "cell-cell adhesion", "fuse to <cell type>", "contact with basement membrane", "why: mechanics",
                   "transition to <cell type>", "phagocytose dead cell"):
        assert needle in text, needle


def test_the_rules_package_imports_only_what_the_engine_can_afford():
    allowed = {"__future__", "csv", "difflib", "math", "warnings", "collections.abc", "dataclasses", "pathlib",
               "typing", "numpy", "numba", "tmesim.errors", "tmesim._jit"}
    for path in Path(vocab.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.level > 1:  # from .. import x: a tmesim module
                names = [f"tmesim.{node.module}"] if node.module else [f"tmesim.{a.name}" for a in node.names]
            else:
                continue  # from . import x: inside tmesim.rules
            assert set(names) <= allowed, (path.name, names)


# ------------------------------------------------------------- evaluation ----

TYPE = vocab.CELL_TYPE_INDEX


def rule(cell_type="cd8_t_cell", signal="ifng", direction="increases", behavior="attack tumor", saturation=0.01,
         half_max=1.0, hill_power=4.0, applies_to_dead=False, row=1) -> Rule:
    return Rule(cell_type, signal, direction, behavior, saturation, half_max, hill_power, applies_to_dead, row)


def run_both(rules, signals, base, types, dead, signal_names=None, behavior_names=None):
    """Kernel and reference on the same inputs; returns the kernel's result after checking they agree."""
    compiled = compile_rules(rules, signal_names=signal_names, behavior_names=behavior_names)
    signals = np.asarray(signals, float).reshape(len(types), -1)
    base = np.asarray(base, float).reshape(len(types), -1)
    got = evaluate_rules(compiled, signals, base, np.array(types), np.array(dead, bool))
    ref = evaluate_reference(rules, signals, compiled.signal_names, base, compiled.behavior_names, types, dead)
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=0)
    return got


def test_one_increasing_rule():
    b, m = 0.002, 0.01
    got = run_both([rule()], [[0.0], [1.0], [2.0]], [[b]] * 3, [TYPE["cd8_t_cell"]] * 3, [False] * 3)
    assert got[:, 0] == pytest.approx([b, b + (m - b) * 0.5, b + (m - b) * 16 / 17], rel=1e-14)


def test_hill_power_one_against_eight():
    rules = [rule(signal="ifng", hill_power=1.0, behavior="attack tumor", saturation=1.0),
             rule(signal="il12", hill_power=8.0, behavior="attack nk_cell", saturation=1.0)]
    signals = [[0.5, 0.5], [2.0, 2.0]]
    got = run_both(rules, signals, np.zeros((2, 2)), [TYPE["cd8_t_cell"]] * 2, [False] * 2)
    assert got[0] == pytest.approx([1 / 3, 1 / 257], rel=1e-14)
    assert got[1] == pytest.approx([2 / 3, 256 / 257], rel=1e-14)


def test_two_increasing_rules_pool_their_signals_towards_the_largest_saturation():
    rules = [rule(signal="ifng", saturation=0.01, half_max=1.0, hill_power=1.0),
             rule(signal="il12", saturation=0.02, half_max=4.0, hill_power=2.0)]
    b = 0.002
    got = run_both(rules, [[1.0, 2.0]], [[b]], [TYPE["cd8_t_cell"]], [False])
    s = 1.0 + (2.0 / 4.0) ** 2  # 1.25
    assert got[0, 0] == pytest.approx(b + (0.02 - b) * s / (1 + s), rel=1e-14)


def test_increasing_then_decreasing():
    rules = [rule(signal="il12", saturation=3.0, half_max=2.0, hill_power=1.0),
             rule(signal="tgfb", direction="decreases", saturation=0.0, half_max=1.0, hill_power=1.0)]
    # H_up = 1/2 -> U = 1 + (3 - 1)/2 = 2; H_down = 3/4 -> 2 + (0 - 2) * 3/4 = 0.5
    got = run_both(rules, [[2.0, 3.0]], [[1.0]], [TYPE["cd8_t_cell"]], [False])
    assert got[0, 0] == pytest.approx(0.5, rel=1e-14)


def test_base_folds_into_the_saturations_when_both_directions_have_rules():
    # PhysiCell sets max = max(base, increasing saturations) when a decreasing rule exists:
    # an "increasing" rule below the base then does nothing; alone it pulls the value down.
    up_below = rule(signal="il12", saturation=0.5, half_max=1.0, hill_power=1.0)
    down = rule(signal="tgfb", direction="decreases", saturation=0.0, half_max=1.0, hill_power=1.0)
    cell = dict(signals=[[1.0, 1.0]], base=[[1.0]], types=[TYPE["cd8_t_cell"]], dead=[False])
    assert run_both([up_below, down], **cell)[0, 0] == pytest.approx(0.5, rel=1e-14)  # down only: 1 + (0 - 1)/2
    alone = run_both([up_below], [[1.0]], [[1.0]], [TYPE["cd8_t_cell"]], [False])
    assert alone[0, 0] == pytest.approx(0.75, rel=1e-14)  # 1 + (0.5 - 1)/2


def test_dead_cells_use_only_rules_that_apply_to_the_dead():
    live_only = rule(signal="contact with dead cell", behavior="phagocytose apoptotic cell", saturation=1.0,
                     hill_power=1.0, cell_type="macrophage")
    for_dead = dataclasses.replace(live_only, signal="il10", applies_to_dead=True)
    base = 0.1
    types = [TYPE["macrophage"]] * 2
    # only the live-only rule: a dead cell keeps its value, a live one follows the rule
    got = run_both([live_only], [[1.0], [1.0]], [[base]] * 2, types, [True, False])
    assert got[0, 0] == base and got[1, 0] == pytest.approx(base + (1 - base) * 0.5, rel=1e-14)
    # with a rule for the dead too: in the dead cell the live-only signal counts as 0
    got = run_both([live_only, for_dead], [[1.0, 3.0], [1.0, 3.0]], [[base]] * 2, types, [True, False])
    assert got[0, 0] == pytest.approx(base + (1 - base) * 3 / 4, rel=1e-14)
    assert got[1, 0] == pytest.approx(base + (1 - base) * 4 / 5, rel=1e-14)


def test_other_cell_types_and_behaviours_keep_their_base_values():
    rules = [rule()]
    compiled = compile_rules(rules, signal_names=["oxygen", "ifng"], behavior_names=["apoptosis", "attack tumor"])
    base = np.array([[0.1, 0.2], [0.3, 0.4]])
    got = evaluate_rules(compiled, [[5.0, 1.0], [5.0, 1.0]], base, [TYPE["cd8_t_cell"], TYPE["tumor"]], [False] * 2)
    assert got[0, 0] == 0.1 and got[0, 1] == pytest.approx(0.2 + (0.01 - 0.2) * 0.5)
    assert (got[1] == base[1]).all()


def test_a_saturated_steep_rule_reaches_its_saturation_and_a_negative_signal_counts_as_zero():
    steep = rule(cell_type="tumor", signal="damage", behavior="apoptosis", saturation=9e9, half_max=30.0,
                 hill_power=100.0)
    got = run_both([steep], [[1e6], [-1e-12]], [[1e-5], [1e-5]], [TYPE["tumor"]] * 2, [False] * 2)
    assert got[0, 0] == 9e9  # (1e6/30)^100 overflows: H = 1, not inf/inf
    assert got[1, 0] == 1e-5


def random_rules(rng, n_rules=40):
    signals = ["ifng", "il12", "tgfb", "oxygen", "contact with tumor", "custom:lipid_peroxide", "damage"]
    behaviors = ["apoptosis", "cycle entry", "attack tumor", "ferroptosis", "migration speed"]
    types = ["tumor", "cd8_t_cell", "car_cd8_t_cell", "macrophage"]
    seen, rules = set(), []
    while len(rules) < n_rules:
        key = (rng.choice(types), rng.choice(behaviors), rng.choice(signals), rng.choice(["increases", "decreases"]))
        if key in seen or (key[2] == "custom:lipid_peroxide" and key[0] == "macrophage"):
            continue
        seen.add(key)
        rules.append(Rule(key[0], key[2], key[3], key[1], float(rng.uniform(0, 2)), float(rng.uniform(0.1, 3)),
                          float(rng.choice([1, 2, 4, 8, 0.5, 2.7])), bool(rng.random() < 0.4), len(rules) + 1))
    return rules, signals, behaviors


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kernel_equals_numpy_reference_on_random_cells(seed):
    rng = np.random.default_rng(seed)
    rules, signal_names, behavior_names = random_rules(rng)
    n = 2000
    signals = rng.exponential(1.0, (n, len(signal_names)))
    signals[rng.random(signals.shape) < 0.1] = 0.0
    signals[rng.random(signals.shape) < 0.02] *= -1.0
    base = rng.uniform(0, 2, (n, len(behavior_names)))
    types = rng.integers(0, len(vocab.CELL_TYPE_NAMES), n)
    dead = rng.random(n) < 0.3
    compiled = compile_rules(rules, signal_names=signal_names, behavior_names=behavior_names)
    got = evaluate_rules(compiled, signals, base, types, dead)
    ref = evaluate_reference(rules, signals, signal_names, base, behavior_names, types, dead)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-300)
    assert (got != base).mean() > 0.1  # the rules did act
    again = base.copy()
    evaluate_rules(compiled, signals, again, types, dead, out=again)  # in place
    np.testing.assert_array_equal(again, got)


def test_compile_and_evaluate_refuse_mismatched_columns():
    with pytest.raises(ValueError, match="no column: ifng"):
        compile_rules([rule()], signal_names=["oxygen"])
    compiled = compile_rules([rule()])
    assert compiled.signal_names == ("ifng",) and compiled.behavior_names == ("attack tumor",)
    assert not compiled.term_half_max.flags.writeable
    with pytest.raises(ValueError, match="signals must be"):
        evaluate_rules(compiled, np.zeros((2, 2)), np.zeros((2, 1)), [1, 1], [False, False])
    with pytest.raises(ValueError, match="cell_type must index"):
        evaluate_rules(compiled, np.zeros((1, 1)), np.zeros((1, 1)), [8], [False])


def test_rule_set_compiles_from_a_file(tmp_path):
    rules = read_rules(write(tmp_path, V3 + "cd8_t_cell,custom:pd1,decreases,attack tumor,0,2,2,0\n"))
    compiled = rules.compile()
    got = evaluate_rules(compiled, [[1.0, 2.0]], [[0.002]], [TYPE["cd8_t_cell"]], [False])
    u = 0.002 + (0.01 - 0.002) * 0.5
    assert got[0, 0] == pytest.approx(u + (0.0 - u) * 0.5, rel=1e-14)


# -------------------------------------------------------------------- CLI ----


def run_cli(monkeypatch, *args):
    monkeypatch.setattr("sys.argv", ["tmesim", *map(str, args)])
    cli.main()


def test_cli_vocabulary(monkeypatch, capsys):
    run_cli(monkeypatch, "rules", "vocabulary")
    out = capsys.readouterr().out
    assert "attack <cell type>" in out and "1/min" in out and "cell-cell adhesion" in out


def test_cli_check_prints_sentences(monkeypatch, capsys, tmp_path):
    run_cli(monkeypatch, "rules", "check", write(tmp_path, "// T cells\n" + V3))
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("rules.csv: 1 rule for 1 cell type (format version 3)")
    assert out[1] == ("In cd8_t_cell, ifng increases attack tumor from <base> towards 0.01 1/min with half-max 1 pM "
                      "and Hill power 4; does not apply to dead cells.")


@pytest.mark.parametrize("text,needle", [
    ("cd8_t_cell,ifng,increases,atack tumor,0.01,1,4,0\n", "did you mean 'attack tumor'"),
    (V3 + V3, "row 2: repeats row 1"),
    ("macrophage,pressure,decreases,cell-cell adhesion,0,1,1,0\n", "maps to nothing"),
])
def test_cli_check_bad_file_is_one_error_line_and_exit_2(monkeypatch, capsys, tmp_path, text, needle):
    with pytest.raises(SystemExit) as exc:
        run_cli(monkeypatch, "rules", "check", write(tmp_path, text))
    assert exc.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0]


def test_cli_check_missing_file(monkeypatch, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        run_cli(monkeypatch, "rules", "check", tmp_path / "nope.csv")
    assert exc.value.code == 2 and capsys.readouterr().err.count("error:") == 1


def test_cli_check_accept_unmapped_warns_and_succeeds(monkeypatch, capsys, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the command prints its warnings itself; none may escape
        run_cli(monkeypatch, "rules", "check", "--accept-unmapped",
                write(tmp_path, "macrophage,pressure,decreases,cell-cell adhesion,0,1,1,0\n" + V3))
    captured = capsys.readouterr()
    assert "1 rule for 1 cell type (format version 3); 1 skipped" in captured.out
    assert captured.err.startswith("warning: ") and "row 1 skipped" in captured.err
