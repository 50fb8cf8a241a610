"""Net growth of a small untreated leukaemia among its host's resting innate cells, per robustness draw.

    python tools/resting_growth.py [--draws 200] [--susceptibility S] [--primed]

For each draw of the B-ALL scenario's untreated arm (every non-knob parameter x log-normal, sd 0.25 of its
log, as ``tmesim reproduce`` varies them; seed 0), evaluates the well-mixed right-hand side with the
leukaemia at 1 to 1e10 cells among the set's resting marrow innate cells (its initial NK cells and
macrophages, ``initial_*_per_tumor_cell`` x the initial burden), no cytokines and no drug, and prints the
per-cell net growth (1/day) and the NK and M1 kill hazards by size: the escape condition of docs/model.md
section 8 (a leukaemia that grew from few cells was not controlled by these cells). Host T cells are
absent (a host the disease has not primed) unless ``--primed`` keeps them at the set's infusion levels.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np


def main(argv=None) -> int:
    from tmesim import load_scenario
    from tmesim.params.index import COLUMN
    from tmesim.protocols import drugs as D
    from tmesim.simulation import Simulation
    from tmesim.wellmixed import model as M
    from tmesim.wellmixed import state as S

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--susceptibility", type=float, default=None,
                    help="tumor_innate_susceptibility (default: the set's)")
    ap.add_argument("--primed", action="store_true", help="keep host T cells at the set's infusion levels")
    args = ap.parse_args(argv)
    scn = load_scenario("ball_car_bortezomib")
    parameters = (None if args.susceptibility is None
                  else {"tumor_innate_susceptibility": {"value": args.susceptibility, "unit": "1"}})
    scn = scn.with_overrides(parameters=parameters, arms=[{"name": "untreated"}], seed=0,
                             cohort={"size": args.draws, "variability": {"all": 0.25}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = Simulation(scn).compile()
    sizes = 10.0 ** np.arange(0, 11)
    net, nk, m1 = (np.empty((batch.n_rows, sizes.size)) for _ in range(3))
    dydt, aux, none = np.empty(S.N_STATE), np.empty(M.N_AUX), np.zeros(D.N_DRUGS)
    for r in range(batch.n_rows):
        y0 = M.initial_state(batch.params[r])
        if not args.primed:
            y0[S.cd8_effector] = y0[S.cd4_effector] = 0.0
        for j, cells in enumerate(sizes):
            y = y0.copy()
            y[S.tumor_antigen_positive], y[S.tumor_antigen_negative] = cells, 0.0
            M.evaluate(0.0, y, batch.params[r], none, none, dydt, aux)
            per_day = 1440.0 / cells
            net[r, j] = dydt[S.tumor_antigen_positive] * per_day
            nk[r, j], m1[r, j] = dydt[S.kills_nk] * per_day, dydt[S.kills_macrophage] * per_day
    growth = batch.values[:, COLUMN["tumor_growth_rate"]] * 1440.0
    print(f"{batch.n_rows} draws; host T cells {'at infusion levels' if args.primed else 'absent'}; "
          f"tumor_growth_rate 10/50/90%: {np.percentile(growth, [10, 50, 90]).round(4)} /day")
    print("  cells   net growth /day 10/50/90%      draws < 0   NK, M1 kill /day (median)")
    for j, cells in enumerate(sizes):
        print(f"  {cells:7.0e}  {np.percentile(net[:, j], [10, 50, 90]).round(4)!s:28}  {np.mean(net[:, j] < 0):8.3f}"
              f"   {np.median(nk[:, j]):.4f}, {np.median(m1[:, j]):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
