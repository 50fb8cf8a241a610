"""Measure bystander ferroptosis priming in the shipped scenario ``bystander_ferroptosis_2d`` (docs/spatial.md).

    python tools/bystander_measure.py --replicates 8 --out runs/bystander

Runs the scenario (with ``--replicates`` replicates and any ``--set NAME=VALUE`` parameter overrides),
writes the run folder as ``tmesim run`` would (``cells/``, ``fields/``, ``scenario.yaml``), then the
bystander analysis (:mod:`tmesim.analysis.bystander`, as ``tmesim analyze bystander`` does):
``bystander_reach.csv`` (one row per arm and replicate), ``bystander_summary.csv`` (per arm),
``bystander_profiles.csv`` (per arm, replicate and distance bin), and the figures
``bystander_profiles.png`` and ``bystander_ifng.png``. Prints the summary and the wall time of the simulation.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="bystander_ferroptosis_2d")
    ap.add_argument("--replicates", type=int, default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--days", type=float, default=None)
    ap.add_argument("--oxygen-dt", type=float, default=None, help="spatial.oxygen_dt_minutes")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a parameter override")
    ap.add_argument("--no-pictures", action="store_true", help="skip the tissue pictures of each snapshot")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    import pandas as pd

    from tmesim import Simulation, load_scenario
    from tmesim.analysis.bystander import analyse_run, plot_fields, plot_profiles, reach_summary
    from tmesim.spatial.outputs import Recorder

    scn = load_scenario(args.scenario)
    spatial = {}
    if args.replicates is not None:
        spatial["replicates"] = args.replicates
    if args.oxygen_dt is not None:
        spatial["oxygen_dt_minutes"] = args.oxygen_dt
    if spatial:
        scn = scn.with_overrides(spatial=scn.spatial.model_copy(update=spatial).model_dump())
    overrides = dict(s.split("=", 1) for s in args.set)
    if overrides or args.days is not None or args.seed is not None:
        scn = scn.with_overrides(parameters=overrides or None, days=args.days, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=False)
    (out / "scenario.yaml").write_text(scn.to_yaml(), encoding="utf-8")
    t0 = time.perf_counter()
    ds = Simulation(scn).run(recorder=Recorder(out, pictures=not args.no_pictures))
    wall = time.perf_counter() - t0
    ds.to_netcdf(out / "timeseries.nc")
    result = analyse_run(out)
    result.reaches.to_csv(out / "bystander_reach.csv", index=False)
    result.profiles.to_csv(out / "bystander_profiles.csv", index=False)
    summary = reach_summary(result.reaches, [a.name for a in scn.arms])
    summary.to_csv(out / "bystander_summary.csv", index=False)
    plot_profiles(result, out / "bystander_profiles.png")
    plot_fields(result, out / "bystander_ifng.png")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(summary.round(4).to_string(index=False))
    print(f"simulation wall time {wall:.1f} s ({len(scn.arms)} arms x {scn.spatial.replicates} replicates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
