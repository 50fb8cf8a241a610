"""Findings 1, 2 and 5 at the spatial scale with the shipped defaults (``tmesim reproduce --scale spatial``).

Three replicates per arm on a 32 x 32 domain for 21 days: about 18 minutes of one process on two shared
cores (212, 550 and 324 s for the three scenarios), so the test is marked ``slow``. Every required check must hold in >= 90% of the replicates, except those of
KNOWN_OPEN, which are reported with the share measured when they were recorded (docs/findings.md, "At the
spatial scale", says why they fail there); a check of KNOWN_OPEN that comes to hold fails the test, so the set
is kept honest.
"""

from __future__ import annotations

import pytest

from tmesim.reproduce import spatial as S

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings(r"ignore:arms\[\d+\]\.doses\[0\]")]

#: Required checks that do not hold at the spatial scale with the defaults -> share of replicates holding
#: when recorded (3 replicates, seed 0, 2026-12-03; docs/findings.md, "At the spatial scale"). Only 1c and 5a
#: hold, and 1c only because its third replicate, which has no T cell, goes the right way by 6e-8 (rounding).
KNOWN_OPEN: dict[str, float] = {
    "1a": 2 / 3, "1b": 2 / 3, "1d": 2 / 3, "1e": 1 / 3,
    "2a": 2 / 3, "2b": 0.0, "2c": 2 / 3, "2d": 2 / 3,
    "5b": 0.0, "5c": 1 / 3, "5d": 0.0, "5e": 1 / 3,
}


@pytest.mark.parametrize("number", S.SPATIAL_FINDINGS)
def test_findings_at_the_spatial_scale(number, tmp_path):
    results = S.run_spatial_findings([str(number)], out=tmp_path)
    assert results and all(r.finding == number for r in results)
    assert (tmp_path / f"finding{number}.png").is_file()
    assert all(r.n_draws == S.DEFAULT_REPLICATES for r in results if r.status == "ok")
    required = [r for r in results if not r.informational]
    failing = {r.id: f"{r.status}: holds in {r.fraction:.0%}, effect {r.effect:.3g} {r.unit}"
               for r in required if not r.passed and r.id not in KNOWN_OPEN}
    assert not failing, failing
    mended = {r.id: f"holds in {r.fraction:.0%}" for r in required if r.passed and r.id in KNOWN_OPEN}
    assert not mended, f"now holding at the spatial scale, remove from KNOWN_OPEN: {mended}"
