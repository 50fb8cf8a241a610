"""Every finding of DESIGN.md section 6 on its shipped scenario.

The default (fast) run uses 3 robustness draws per scenario (a check then
needs the right direction in all 3) and finding 4e's full cohort (600
patients per seed, about 10 s: a smaller cohort would pass or fail on its
size, as rho is about -0.2); the full robustness run (the default 200 draws;
about a minute and a half of integration) is marked ``slow`` (``pytest -m
slow``). A finding whose scenario is not shipped yet is skipped.
"""

from __future__ import annotations

import pytest

from tmesim.reproduce import findings as F
from tmesim.reproduce.runner import DEFAULT_DRAWS, run_findings
from tmesim.scenario import list_scenarios

FAST_DRAWS = 3

#: Checks that do not yet hold over the full robustness draws (see
#: docs/findings.md for those whose share sits near 90%). They still run and
#: are reported; every other check must hold. Remove an id from here once a
#: mechanism makes it hold over the full robustness draws.
KNOWN_OPEN: set[str] = {
    # liproxstatin-1 weakens anti-PD-1: since radical-trapping antioxidants protect T cells too (Matsushita 2015,
    # Ma 2021) sparing T cells outweighs sparing the tumour from T cell-driven ferroptosis, which is weak in
    # this model (docs/findings.md, finding 1 notes, "Why T cell-driven ferroptosis is small": liproxstatin-1
    # raises T cell-days 1.28x while the link carries 1.5% of deaths). 33.5% of 200 draws (2026-12-03 evening,
    # every change of the day merged; 27.5% with its mechanism cut).
    "2c",
    # IFNGR-KO tumours benefit less from anti-PD-1: 89.5% of 200 draws (179/200, 84.5-93.0%: unsettled) since
    # the tumour's resting ferroptosis hazard is stated (83.5% before, failing through the untreated B16 line
    # rejecting itself in 17.5% of draws, now 10.0%). Not earned if it held: 88.0% with its mechanism cut.
    "1e",
    # The product's state apart from the cells' lifelong expression, and bortezomib's toxicity in culture
    # (issue 19, item 4; docs/findings.md, "Product state at infusion"). Measured with
    # `tmesim reproduce 4 --draws 200` (controls on), before -> after; none was tuned back:
    # 4a 100% -> 31.0% (CAR T proteasome a week after infusion, bortezomib / standard, 0.996 -> 1.002): the
    # inhibitor's imprint relaxes within days (24 h), while the extra day of culture a bortezomib product needs
    # for the same cell dose (9 -> 10 days) leaves more depolarised mitochondria, which repair over weeks.
    "4a",
    # 4e 3/3 -> 2/3 seeds (rho -0.240, -0.255, -0.330 -> -0.079, -0.148, -0.181; the first seed's p about
    # 0.054): with the products differing only in their culture's state, which ends at infusion, and the
    # cells' lifelong proteasome expression held, the correlation is weaker than one cohort of 600 detects.
    "4e",
    # 4d fails through two changes, each measured alone on its branch (200 draws, controls on; not tuned back):
    # (i) 95.0% -> 83.0% (mean log10 burden after infusion, bortezomib - standard, -0.048 -> -0.021): the
    # extra culture day costs the bortezomib product fitness in the patient and offsets part of the BACH2 /
    # memory gain; (ii) 95.0% -> 87.0% (95% interval 81.6-91.0%) since the B-ALL line escapes innate killing
    # (tumor_innate_susceptibility 0.0256): the antigen-negative clone the CAR T cells leave is no longer
    # cleared within days; in the failing draws it dies out slowly, a few cells at day 150, and later after
    # the bortezomib product, whose mean log burden is then higher (docs/findings.md, finding 4, "Innate
    # escape").
    # Both merged: 80.0%; with the tumour's resting ferroptosis hazard stated (branch ferro-rest) 72.5%, and
    # 72.5% in the evening run with every change of the day (20.5% with its mechanism cut). 4a 30.5%, 4e 2/3
    # seeds (rho -0.112 median) in that run.
    "4d",
}
#: Checks that hold over the full robustness draws (>= 90%) but go the other
#: way in one of the 3 fast draws; the fast run does not assert them. The
#: slow run asserts these; KNOWN_OPEN it reports but does not assert.
FAST_DRAW_MISSES = {"6a", "6e"}
FAST_COHORT = F.PROTEASOME_COHORT["size"]
FULL_DRAWS = DEFAULT_DRAWS


def _shipped() -> set[str]:
    return {name for name, _ in list_scenarios()}


def _run(number: int, tmp_path, full: bool = False, **kwargs):
    missing = set(F.SCENARIOS[number]) - _shipped()
    if missing:
        pytest.skip(f"scenarios {sorted(missing)} of finding {number} are not shipped yet")
    results = run_findings([str(number)], out=tmp_path, **kwargs)
    assert results and all(r.finding == number for r in results)
    assert all(r.status == "ok" or r.id in KNOWN_OPEN for r in results), {r.id: r.status for r in results if r.status != "ok"}
    assert (tmp_path / f"finding{number}.png").is_file()
    exempt = KNOWN_OPEN if full else KNOWN_OPEN | FAST_DRAW_MISSES
    failing = {r.id: f"{r.comparison}: effect {r.effect:.3g} {r.unit}, holds in {r.fraction:.0%}"
               for r in results if not r.passed and r.id not in exempt}
    assert not failing, failing
    if full:  # strict, like xfail(strict=True): a check that now holds leaves KNOWN_OPEN
        mended = {r.id: f"holds in {r.fraction:.1%}" for r in results if r.passed and r.id in KNOWN_OPEN}
        assert not mended, f"now holding over the full draws, remove from KNOWN_OPEN: {mended}"
    return results


@pytest.mark.parametrize("number", sorted(F.SCENARIOS))
def test_finding_holds_fast(number, tmp_path):
    _run(number, tmp_path, draws=FAST_DRAWS, cohort_size=FAST_COHORT)


@pytest.mark.slow
@pytest.mark.parametrize("number", sorted(F.SCENARIOS))
def test_finding_holds_over_full_robustness_draws(number, tmp_path):
    results = _run(number, tmp_path, full=True, draws=FULL_DRAWS)
    # every draw is evaluated: none is left out (spontaneous rejection is a metric, not an exclusion)
    assert all(r.n_draws >= FULL_DRAWS for r in results if r.id != "4e")
    assert all(r.n_rejection_draws == r.n_draws for r in results if r.status == "ok" and r.id != "4e")
    assert all(len(r.seeds) >= 3 for r in results)
