"""Smoke tests of the spatial benchmark (`tmesim bench spatial`) and of the PhysiCell scenario it times.

The benchmark's small configuration runs through the CLI; the checks are on
its shape only: every throughput is positive and finite, and where the numpy
reference computes what the engine computes (intents and states of tumour
cells, corpses and macrophages, the fields after the step, the applied
intents) the two agree. Absolute times depend on the machine and its load and
are never asserted.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from tmesim import cli
from tmesim.errors import InputError
from tmesim.spatial import bench_engine as B
from tmesim.spatial.engine import new_run


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_engine_scenario_has_about_the_cells_asked_for():
    sim = new_run(B.engine_scenario(2000))
    n = int(np.count_nonzero(sim.cells.kind[:sim.cells.n] != -1))
    assert 1700 <= n <= 2300
    assert sim.lattice.ndim == 2 and len(sim.fields.specs) == 11


def test_bench_spatial_small_configuration(tmp_path):
    out = CliRunner().invoke(cli.app, ["bench", "spatial", "--quick", "--cells", "2000", "--steps", "2",
                                       "--threads", "1", "--json", str(tmp_path / "b.json")])
    assert out.exit_code == 0, out.output
    text = out.output
    for what in ("voxel x field updates/s", "cell-steps/s", "B per cell", "where the time goes", "projection (not run)",
                 "load average", "AMD" if "AMD" in text else "CPUs"):
        assert what in text, what
    r = json.loads((tmp_path / "b.json").read_text())
    assert r["machine"]["cpus"] >= 1 and len(r["machine"]["load_avg"]) == 3
    # (a) diffusion: the compiled solver and its numpy reference, same scheme
    assert [tuple(d["shape"]) for d in r["diffusion"]] == [tuple(g) for g in B.QUICK_GRIDS]
    for d in r["diffusion"]:
        for key in ("solver_updates_per_s", "reference_updates_per_s", "speedup"):
            assert _positive(d[key]), key
        assert d["max_rel_diff"] < 1e-10
        assert d["speedup"] > 1
    # (b) engine: one size, positive figures, reference agreeing where it computes the same thing
    (e,) = r["engine"]
    assert e["threads"] == 1 and e["steps"] == 2
    for key in ("cell_steps_per_s", "s_per_step", "cpu_s_per_step", "reference_cell_steps_per_s", "speedup",
                "speedup_cpu", "projection_14_days_h"):
        assert _positive(e[key]), key
    assert all(_positive(v) for v in e["speedup_by_phase"].values())
    assert all(v >= 0 and math.isfinite(v) for v in e["phase_s_per_step"].values())
    ref = e["reference"]
    assert ref["decide_exact_cells"] > 0.8 * e["cells_at_start"]
    assert ref["decide_mismatches"] == 0
    assert ref["decide_max_abs_diff"] < 1e-9
    assert ref["fields_max_rel_diff"] < 1e-9
    assert ref["apply_identical"] is True
    # (c) memory per cell: the target, under 1 KB for the cell table and the per-step buffers
    mem = e["memory"]
    assert 0 < mem["per_slot_bytes"] < 1024 and 0 < mem["per_cell_bytes"] < 1024
    assert _positive(mem["field_bytes_per_voxel_per_field"])
    # the process's RSS growth is read from /proc (Linux): finite; it can be 0 or below when the allocator
    # reuses memory freed by earlier tests in the same worker
    assert math.isfinite(e["rss_growth_per_cell_bytes"])


def test_bench_spatial_rejects_bad_numbers():
    for args in (["--cells", "0"], ["--steps", "0"], ["--threads", "0"], ["--physicell-minutes", "nan"],
                 ["--physicell-threads", "0"]):
        out = CliRunner().invoke(cli.app, ["bench", "spatial", *args])
        assert isinstance(out.exception, InputError), args


def test_physicell_scenario_is_shipped_and_set_up_as_the_sample():
    from tmesim.scenario import list_scenarios, load_scenario
    from tmesim.spatial import cells as C

    assert B.PHYSICELL_SCENARIO in dict(list_scenarios())
    scn = load_scenario(B.PHYSICELL_SCENARIO)
    sim = new_run(scn)
    assert sim.lattice.shape == (75, 75, 75) and sim.site_um == 20
    assert len(sim.fields.specs) == 11 and sim.vessels.sum() == 0
    kinds = np.bincount(sim.cells.kind[:sim.cells.n], minlength=8)
    assert kinds[C.TUMOR] == 18_325  # PhysiCell: 18,317
    assert kinds[C.CD8] == 7_500 and kinds.sum() == 25_825
    # the T cells sit in the shell 30-105 um outside the tumour's 327 um (normal radius, sd 12.4 um)
    centre = np.array(sim.shape3) * 20.0 / 2
    t = sim.cells.site[:sim.cells.n][sim.cells.kind[:sim.cells.n] == C.CD8]
    zyx = np.stack(np.unravel_index(t, sim.shape3), 1) * 20.0 + 10.0
    r = np.linalg.norm(zyx - centre, axis=1)
    assert 380 < r.mean() < 410 and r.min() > 327 and r.max() < 470


def test_physicell_scenario_runs_through_simulation():
    import tmesim
    from tmesim.scenario import load_scenario

    scn = load_scenario(B.PHYSICELL_SCENARIO).with_overrides(days=12 / 1440)  # two 6-min steps
    ds = tmesim.Simulation(scn).run()
    assert (ds.solver_status.values == 0).all()
    live = ds.tumor_live.values[0, 0]
    assert live[0] == 18_325 and np.isfinite(live).all() and live[-1] > 18_000
    assert ds.t_cells.sel(t_pool="cd8_effector").values[0, 0, 0] == 7_500


def test_immune_shell_needs_a_spheroid():
    from tmesim.scenario import build_scenario

    base = {"name": "x", "scale": "spatial", "days": 1, "arms": [{"name": "a"}],
            "spatial": {"dimensions": 2, "domain_um": [400, 400],
                        "geometry": {"kind": "slab", "thickness_um": 100,
                                     "immune_shell": {"count": 10}}}}
    with pytest.raises(InputError, match="immune_shell needs geometry 'spheroid'"):
        build_scenario(base)


def test_immune_shell_in_2d_places_its_cells():
    from tmesim.scenario import build_scenario
    from tmesim.spatial import cells as C

    scn = build_scenario({"name": "x", "scale": "spatial", "days": 1, "arms": [{"name": "a"}],
                          "parameters": {"initial_macrophages_per_tumor_cell": 0},
                          "spatial": {"dimensions": 2, "domain_um": [800, 800], "vessels": {"density": 0},
                                      "geometry": {"kind": "spheroid", "radius_um": 150,
                                                   "immune_shell": {"cell_type": "nk_cell", "count": 120}}}})
    sim = new_run(scn)
    assert int(np.count_nonzero(sim.cells.kind[:sim.cells.n] == C.NK)) >= 120


def test_physicell_line_is_parsed_and_ratio_formed(tmp_path, monkeypatch):
    script = tmp_path / "bench.sh"
    script.write_text('echo "physicell cancer_immune_3D: $1 sim-min, $2 threads, 48.0 s wall, 4.00 s per sim-min"\n')
    monkeypatch.setenv("TMESIM_PHYSICELL_BENCH", str(script))
    assert B.physicell_script() == script
    pc = B.run_physicell(12, 2)
    assert pc["available"] and pc["minutes"] == 12 and pc["threads"] == 2 and pc["s_per_sim_min"] == 4.0
    result = {"machine": B.machine(), "physicell": {
        "scenario": B.PHYSICELL_SCENARIO, "lattice": [75, 75, 75], "fields": 11, "cells_at_start": 25825,
        "s_per_sim_min": 0.5, "cpu_s_per_sim_min": 0.4, "sim_minutes": 12, "threads": 2, "load_avg": [1, 1, 1],
        "field_updates_per_s": 1e7, "phase_s_per_sim_min": {"decide": 0.1, "fields": 0.4},
        "physicell": pc, "ratio": 8.0, "ratio_with_setup": 6.0}}
    text = "\n".join(B.format_report(result))
    assert "PhysiCell / tmesim = 8.0x" in text and "11 base fields; PhysiCell's sample has 2" in text


@pytest.mark.slow
def test_bench_spatial_quick_as_shipped():
    r = B.bench_spatial(quick=True)
    for e in r["engine"]:
        assert _positive(e["speedup"]) and e["reference"]["decide_mismatches"] == 0
        assert e["reference"]["fields_max_rel_diff"] < 1e-9 and e["reference"]["apply_identical"]


@pytest.mark.slow
def test_bench_physicell_one_step_without_physicell():
    p = B.bench_physicell(minutes=6, physicell=False)
    assert p["cells_at_start"] == 25_825 and p["sim_minutes"] == 6
    assert _positive(p["s_per_sim_min"]) and _positive(p["field_updates_per_s"])
    fe = p["field_error"]
    assert len(fe["rel_l2"]) == 11 and all(0 <= v < 1 for v in fe["rel_l2"])
