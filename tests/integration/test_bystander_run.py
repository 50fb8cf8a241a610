"""A small real run of the shipped scenario bystander_ferroptosis_2d: the densest CAR T arm and the same arm
with STAT1's repression of SLC7A11 cut (``slc7a11_repression_max = 0``), one replicate, one day.

With the mechanism intact, the SLC7A11 of antigen-negative tumour cells rises with their distance from the
nearest IFN-gamma producer and the loss has a finite, positive reach; with the IFN-gamma -> SLC7A11 link cut
the profile is flat within its noise while the IFN-gamma gradient and the tumour cells' STAT1 gradient are
still there (the cut is the link, not the field). docs/spatial.md ("The bystander effect") has the full
measurement with every arm and eight replicates. About 15-20 s on 2 cores.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from tmesim import Simulation, load_scenario
from tmesim.analysis.bystander import analyse_run, loss_profile
from tmesim.spatial.outputs import Recorder

INTACT, CUT = "CAR T 8e4", "CAR T 8e4, SLC7A11 link cut"
SITE_UM = 20.0
NEAR, FAR = 1.5 * SITE_UM, 8 * SITE_UM  # next to a producer (the first bin); well beyond the field's e-fold length


@pytest.fixture(scope="module")
def bystander_day1(tmp_path_factory):
    scn = load_scenario("bystander_ferroptosis_2d")
    arms = [a.model_dump() for a in scn.arms if a.name in (INTACT, CUT)]
    spatial = scn.spatial.model_copy(update={"replicates": 1, "snapshot_interval_hours": 24}).model_dump()
    scn = scn.with_overrides(days=1.0, arms=arms, spatial=spatial)
    assert [a.name for a in scn.arms] == [INTACT, CUT] and scn.spatial.site_um == SITE_UM
    out = tmp_path_factory.mktemp("bystander")
    (out / "scenario.yaml").write_text(scn.to_yaml(), encoding="utf-8")
    Simulation(scn).run(recorder=Recorder(out, pictures=False))
    res = analyse_run(out)
    assert res.day == 1.0
    # the tumour cells' STAT1 beside each bystander, from the same snapshots
    stat1 = {}
    for arm, slug in ((INTACT, "CAR_T_8e4"), (CUT, "CAR_T_8e4_SLC7A11_link_cut")):
        snap = pd.read_parquet(out / "cells" / f"{slug}_r0_day1.parquet")
        stat1[arm] = snap.set_index(["x_um", "y_um"])["tumor_stat1"]
    return res, res.reaches.set_index("arm"), stat1, out


def _near_far(cells: pd.DataFrame, column: str) -> tuple[float, float, float]:
    """Mean of ``column`` next to producers and far from them, and the standard error of their difference."""
    near = cells.loc[cells["distance_um"] <= NEAR, column].to_numpy(float)
    far = cells.loc[cells["distance_um"] > FAR, column].to_numpy(float)
    assert near.size >= 20 and far.size >= 20, (near.size, far.size)
    se = math.sqrt(near.var(ddof=1) / near.size + far.var(ddof=1) / far.size)
    return near.mean(), far.mean(), se


def test_intact_slc7a11_rises_with_distance_from_producers(bystander_day1):
    res, r, _, _ = bystander_day1
    row = r.loc[INTACT]
    assert row["producers"] >= 10 and row["bystanders"] > 300
    cells = res.cells[res.cells["arm"] == INTACT]
    near, far, se = _near_far(cells, "slc7a11_relative")
    assert far - near > 5 * se, (near, far, se)  # more SLC7A11 far from producers, well beyond the noise
    rho, p = spearmanr(cells["distance_um"], cells["slc7a11_relative"])
    assert rho > 0.5 and p < 1e-10, (rho, p)
    # the loss halves within the domain: a finite, positive reach, shorter than the 420-um flanks
    assert row["near_loss"] > 0 and not row["censored"]
    assert 0 < row["reach_um"] < 420, row["reach_um"]


def test_cutting_the_ifng_slc7a11_link_flattens_the_profile(bystander_day1):
    res, r, stat1, _ = bystander_day1
    cells = res.cells[res.cells["arm"] == CUT]
    assert r.loc[CUT, "producers"] >= 10  # the engaged CAR T cells are there as in the intact arm
    # upstream of the cut nothing changed: the field still falls off with distance, and STAT1 with it
    assert r.loc[CUT, "ifng_efold_um"] == pytest.approx(r.loc[INTACT, "ifng_efold_um"], rel=0.3)
    s1 = stat1[CUT].reindex(pd.MultiIndex.from_arrays([cells["x_um"], cells["y_um"]])).to_numpy()
    assert np.isfinite(s1).all()
    near_s1, far_s1, se_s1 = _near_far(cells.assign(stat1=s1), "stat1")
    assert near_s1 - far_s1 > 5 * se_s1
    # ... but SLC7A11 no longer follows: near and far agree within noise, the loss profile is flat and has no reach
    near, far, se = _near_far(cells, "slc7a11_relative")
    assert abs(far - near) <= 3 * se + 1e-12, (near, far, se)
    prof = loss_profile(cells["distance_um"], cells["slc7a11_loss"], SITE_UM)
    assert len(prof) > 10
    assert np.ptp(prof["mean"]) <= 1e-3 * r.loc[INTACT, "near_loss"]
    assert math.isnan(r.loc[CUT, "reach_um"])


def test_cli_writes_the_tables_and_figures(bystander_day1, tmp_path, monkeypatch, capsys):
    from tmesim import cli

    _, r, _, run_dir = bystander_day1
    monkeypatch.setattr("sys.argv", ["tmesim", "analyze", "bystander", str(run_dir), "--out", str(tmp_path)])
    monkeypatch.setenv("COLUMNS", "200")
    cli.main()  # returns on success
    printed = capsys.readouterr().out
    assert INTACT in printed and f"{r.loc[INTACT, 'reach_um']:.0f}" in printed
    reach = pd.read_csv(tmp_path / "bystander_reach.csv").set_index("arm")
    assert reach.loc[INTACT, "reach_um"] == pytest.approx(r.loc[INTACT, "reach_um"])
    assert list(pd.read_csv(tmp_path / "bystander_summary.csv")["arm"]) == [INTACT, CUT]
    prof = pd.read_csv(tmp_path / "bystander_profiles.csv")
    assert {"slc7a11_loss", "ifng_pM", "lipid_peroxide", "bin", "distance_um"} <= set(prof.columns)
    for name in ("bystander_profiles.png", "bystander_ifng.png"):
        assert (tmp_path / name).stat().st_size > 10_000
