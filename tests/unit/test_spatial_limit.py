"""The well-mixed limit (DESIGN.md section 4; docs/spatial.md, "The well-mixed limit").

A spatial run with the fastest diffusion the catalogue accepts, tumour cells scattered over the domain and no
recruitment is compared with its well-mixed twin (:mod:`tmesim.spatial.limit`): the replicates' mean within
``k`` standard errors (Student t at 1 - 0.001/2) plus the numerical tolerance of
:func:`tmesim.spatial.limit.tolerances`. Each case asserts the quantities of
:data:`tmesim.spatial.limit.ASSERTED`; the negative controls change a mechanism on the spatial side only and
require the same comparison to find the disagreement, so the checks can fail.

The fast tests use a 32 x 32 lattice (51 tumour cells at density 0.05), 8 replicates and 2 days; the slow
one 64 x 64 (164 cells), 16 replicates and 4 days.
"""

from __future__ import annotations

import pytest

from tmesim.simulation import Simulation
from tmesim.spatial import limit

FAST = dict(side=32, density=0.05, days=2.0, replicates=8, output_interval_hours=24.0)
SLOW = dict(side=64, density=0.04, days=4.0, replicates=16, output_interval_hours=24.0)


def _run(case: str, spatial_only: dict | None = None, **size):
    sc_s, sc_w = limit.scenarios(case, spatial_only=spatial_only, **size)
    return sc_s, Simulation(sc_s).run(), Simulation(sc_w).run()


def _asserted(rows):
    rows = [r for r in rows if r.asserted]
    assert rows, "no asserted quantity"
    return rows


def _failures(rows) -> list[str]:
    return [f"{r.quantity} day {r.day:g}: well-mixed {r.wellmixed:.4g}, spatial {r.spatial:.4g} +/- {r.se:.2g} "
            f"(tolerance {r.tolerance:.2g})" for r in rows if not r.agree]


def _agrees(case: str, **size):
    sc_s, s, w = _run(case, **size)
    rows = _asserted(limit.check(case, s, w, sc_s))
    assert not _failures(rows), "\n".join(_failures(rows))
    return sc_s, s, w


def test_the_limit_is_the_well_mixed_start_with_uniform_fields():
    """Both sides start from the same tumour (the domain is the whole tumour) and no immune cell; every
    diffusion coefficient is the catalogue's largest; the spatial oxygen is not consumed (as the well-mixed
    closure's is not) unless asked."""
    sc_s, sc_w = limit.scenarios("tumor", **FAST)
    n = round(FAST["density"] * FAST["side"] ** 2)
    assert sc_s.base_parameters["initial_tumor_cells"] == sc_w.base_parameters["initial_tumor_cells"] == n
    for name, d in limit.fast_diffusion().items():
        assert sc_s.base_parameters[name] == d
    assert sc_s.spatial.geometry.kind == "scattered"
    assert sc_w.scale == "wellmixed" and sc_s.scale == "spatial"
    for name in limit.OXYGEN_USE:
        assert sc_s.base_parameters[name] == 0.0
        assert limit.scenarios("tumor", oxygen_use=True, **FAST)[0].base_parameters[name] > 0.0


def test_tumour_counts_under_growth_alone_follow_the_well_mixed_trajectory():
    _agrees("tumor", **FAST)


def test_ike_agrees_and_ike_on_the_spatial_side_only_is_found():
    """IKE's tissue level, the cystine uptake and GSH it lowers and the counts agree; the negative control
    compares the same spatial IKE runs with the well-mixed tumour that got no IKE, and must disagree."""
    sc_s, s, _ = _agrees("ike", **FAST)
    _, w_none = limit.scenarios("tumor", **FAST)
    rows = _asserted(limit.check("ike", s, Simulation(w_none).run(), sc_s))
    missed = {r.quantity for r in rows if not r.agree}
    assert {"drug_ike", "tumor_cystine_uptake", "tumor_gsh"} <= missed, missed


def test_cysteinase_agrees():
    _agrees("cysteinase", **FAST)


def test_immune_macrophages_agree_and_killing_does_not():
    """Only the macrophages' number should agree (their death rate alone moves it in both engines). Contact
    killing at this density is far below mass action (docs/spatial.md): that is recorded here so that a
    change which made the two agree is noticed and the docs updated."""
    sc_s, s, w = _agrees("immune", **FAST)
    rows = {(r.quantity, r.day): r for r in limit.check("immune", s, w, sc_s)}
    kills = rows[("kills_cd8", 2.0)]
    assert kills.spatial < 0.5 * kills.wellmixed and not kills.agree


def test_t_cell_cd36_agrees_where_the_lipid_milieu_is_defined_alike():
    """Both engines run the T cell program's CD36 state: with the tissue's lipid level alone (no lipid from
    corpses, whose share is a tissue-wide one well-mixed and a neighbourhood's per T cell spatially, so the
    two differ in a sparse lattice: docs/spatial.md) host T cell CD36 rises alike, from rest towards
    ``1 + t_cell_cd36_induction_max / 2`` at ``tme_lipid_level = t_cell_cd36_lipid_half``."""
    sc_s, sc_w = limit.scenarios("immune", side=24, density=0.05, days=2.0, replicates=2,
                                 output_interval_hours=24.0, both={"dead_cell_lipid_release": 0})
    s, w = Simulation(sc_s).run(), Simulation(sc_w).run()
    rows = limit.compare(s, w, {"host_t_cd36": "state"})
    assert rows
    for r in rows:
        assert r.spatial > 1.2 and r.wellmixed > 1.2
        assert r.spatial == pytest.approx(r.wellmixed, rel=1e-3), r


def test_a_faster_tumour_on_the_spatial_side_only_is_found():
    """Negative control of the counts: the spatial side's tumour grows at twice the set's rate."""
    sc_s, s, w = _run("tumor", spatial_only={"tumor_growth_rate": "0.9 1/day"}, **FAST)
    rows = [r for r in _asserted(limit.check("tumor", s, w, sc_s)) if r.quantity == "tumor_live"]
    assert any(not r.agree for r in rows), rows


@pytest.mark.slow
@pytest.mark.parametrize("case", limit.CASES)
def test_the_limit_holds_on_a_larger_domain_for_longer(case):
    _agrees(case, **SLOW)


@pytest.mark.slow
def test_with_the_sets_oxygen_use_the_spatial_tumour_falls_behind():
    """A record, not a wish (docs/spatial.md, "The well-mixed limit", item 1): with the set's oxygen uptake
    and decay the spatial oxygen sits below the well-mixed closure's and the tumour grows slower, beyond k
    SE by day 4 with 16 replicates (measured: 830.4 +/- 11 against 881, 0.943, z = -4.6; the allowed
    difference of 48 is just exceeded, so the record asks for z < -3, the direction and size of the gap,
    not for the verdict). A change that closed the gap should update the docs."""
    sc_s, sc_w = limit.scenarios("tumor", oxygen_use=True, **SLOW)
    s, w = Simulation(sc_s).run(), Simulation(sc_w).run()
    rows = {(r.quantity, r.day): r for r in limit.check("tumor", s, w, sc_s)}
    live, oxygen = rows[("tumor_live", 4.0)], rows[("oxygen", 4.0)]
    assert oxygen.spatial < 0.9 * oxygen.wellmixed
    assert live.z < -3.0, live
