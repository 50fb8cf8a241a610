"""Why T cell-driven tumour ferroptosis is small (findings 1 and 2; docs/findings.md, finding 1 notes).

    python tools/tcell_ferroptosis.py [--draws 40] [--seed 0] [--finding2] [--set NAME=VALUE ...]

Runs finding 1's ``control`` and ``anti-PD-1`` arms over the robustness draws ``tmesim reproduce`` makes
(:func:`tmesim.reproduce.runner.simulate_draws`: the same seeds and factors), intact and with the
IFN-gamma -> SLC7A11/ACSL4 link cut (the mechanism control of checks 1a-2d), and prints the median and
10-90% band over the draws of each link of the chain, as per-cell means over days 7-21 (weighted by
viable tumour cells, as the checks read them):

* IFN-gamma the tumour sees (pM) and its ratio to the draw's ``stat1_ifng_ec50``; tumour STAT1;
* SLC7A11, cystine uptake, GSH, GPX4 activity and lipid peroxide, anti-PD-1 / control;
* the ferroptosis hazard (1/day) against the line's resting hazard and the immune kill rate per tumour
  cell (1/day);
* the T cell-driven share of tumour deaths under anti-PD-1 (days 6-30): ferroptotic deaths above the
  line's resting hazard, ``integral (h_fer(t) - h_fer(0)) T(t) dt``, over all tumour deaths (an upper
  bound: TAM iron and ROS move the hazard too), and those through the IFN-gamma -> SLC7A11/ACSL4 link,
  ``integral (h_fer - h_fer,cut)(t) T(t) dt`` on the intact tumour;
* the tumour AUC of anti-PD-1 with the link cut over intact (how much of the control the link carries);
* finding 2 (``--finding2``): what liproxstatin-1 does under anti-PD-1 (check 2c), tumour ferroptotic deaths
  it prevents against T cell ferroptotic deaths it prevents, and the T cell-driven share of tumour deaths
  in the anti-PD-1 + cyst(e)inase and + IKE arms.

``--set`` applies a parameter value (in the unit the set states) to every arm of every run and holds it in
every draw, as a mechanism control does: a diagnostic of what a link could carry, not a proposal.

Draws whose tumour is gone before day 7 have no per-cell mean and are left out of those medians only.
"""

from __future__ import annotations

import argparse
import sys
import time


def _band(x):
    import numpy as np

    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return "n/a"
    lo, med, hi = np.quantile(x, [0.1, 0.5, 0.9])
    return f"{med:.4g} ({lo:.3g}-{hi:.3g})"


def _death_shares(ds, arm, start=6.0, end=30.0):
    """Shares of an arm's tumour deaths over ``[start, end]`` days (per draw): ``ferroptosis``, ``killing``,
    and ``excess``, the ferroptotic deaths above the line's resting hazard ``h_fer(0)``:
    ``integral (h_fer(t) - h_fer(0))^+ T(t) dt`` over all tumour deaths."""
    import numpy as np

    from tmesim.reproduce.findings import integral, times, trajectory

    t = times(ds)
    cells = trajectory(ds, arm, "tumor_live")
    hazard = trajectory(ds, arm, "tumor_ferroptosis_hazard")  # 1/day
    excess = integral(t, np.maximum(hazard - hazard[:, :1], 0.0) * cells, start, end)
    i0, i1 = int(np.searchsorted(t, start)), int(np.searchsorted(t, end, side="right")) - 1
    died = {v: trajectory(ds, arm, v)[:, i1] - trajectory(ds, arm, v)[:, i0]
            for v in ("deaths_ferroptosis", "deaths_killing", "deaths_ifng_apoptosis", "deaths_necrosis")}
    total = sum(died.values())
    return {"ferroptosis": died["deaths_ferroptosis"] / total, "killing": died["deaths_killing"] / total,
            "excess": excess / total}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0, help="offset added to the scenario's seed, as in reproduce")
    ap.add_argument("--finding2", action="store_true", help="also run finding 2's anti-PD-1 arms")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="hold a parameter at a value in every arm and draw (diagnostic)")
    args = ap.parse_args(argv)
    if args.draws < 1:
        print("error: --draws: must be at least 1 (give e.g. --draws 40)", file=sys.stderr)
        return 2
    held = []
    for item in args.set:
        name, sep, value = item.partition("=")
        try:
            held.append((name.strip(), float(value)))
        except ValueError:
            sep = ""
        if not sep:
            print(f"error: --set: {item!r} is not NAME=VALUE (give e.g. --set stat1_ifng_ec50=3)", file=sys.stderr)
            return 2

    import numpy as np

    np.seterr(divide="ignore", invalid="ignore")
    from tmesim import load_scenario
    from tmesim.errors import InputError
    from tmesim.reproduce import findings as F
    from tmesim.reproduce.findings import integral, times, trajectory
    from tmesim.reproduce.runner import cut_scenario, simulate_draws

    scn = load_scenario("finding1_ifng_ferroptosis")
    arms = [a.model_dump() for a in scn.arms if a.name in ("control", "anti-PD-1")]
    scn = scn.with_overrides(arms=arms)
    mech = F.MECHANISMS["1a"]
    hold = F.Mechanism("held by --set", tuple(held)) if held else None
    fixed = [n for n, _ in held]
    try:
        if hold:
            scn = cut_scenario(scn, hold, where="--set")
        cut_scn = cut_scenario(scn, mech)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    intact = simulate_draws(scn, args.draws, args.seed, fixed=fixed)
    cut = simulate_draws(cut_scn, args.draws, args.seed, fixed=fixed + [n for n, _ in mech.overrides])
    print(f"finding1_ifng_ferroptosis, {args.draws} draws, intact and cut ({time.perf_counter() - start:.0f} s)"
          + (f"; held: {', '.join(args.set)}" if held else ""))

    t = times(intact)

    def per_cell(ds, arm, var, lo=7.0, hi=21.0):
        cells = trajectory(ds, arm, "tumor_live")
        return integral(t, trajectory(ds, arm, var) * cells, lo, hi) / integral(t, cells, lo, hi)

    ec50 = intact["parameter_values"].sel(arm="anti-PD-1", parameter="stat1_ifng_ec50").values
    for arm in ("control", "anti-PD-1"):
        ifng = per_cell(intact, arm, "ifng")
        print(f"{arm:10s} IFN-gamma seen {_band(ifng)} pM; / EC50 {_band(ifng / ec50)}; "
              f"STAT1 {_band(per_cell(intact, arm, 'tumor_stat1'))}")
    for var in ("tumor_slc7a11", "tumor_cystine_uptake", "tumor_gsh", "tumor_gpx4_activity", "tumor_acsl4",
                "tumor_pufa_pl", "tumor_lipid_peroxide", "tumor_ferroptosis_hazard"):
        r = per_cell(intact, "anti-PD-1", var) / per_cell(intact, "control", var)
        print(f"  {var:26s} anti-PD-1 / control {_band(r)}")
    arm = "anti-PD-1"
    share = _death_shares(intact, arm)
    print(f"anti-PD-1, days 6-30: ferroptotic share of tumour deaths {_band(share['ferroptosis'])}; "
          f"T cell-driven (above the resting hazard) {_band(share['excess'])}; killing {_band(share['killing'])}")
    cells = trajectory(intact, arm, "tumor_live")
    h_link = trajectory(intact, arm, "tumor_ferroptosis_hazard") - trajectory(cut, arm, "tumor_ferroptosis_hazard")
    died = sum(trajectory(intact, arm, v) for v in ("deaths_ferroptosis", "deaths_killing", "deaths_ifng_apoptosis",
                                                     "deaths_necrosis"))
    i6 = int(np.searchsorted(t, 6.0))
    print(f"  through the link (intact minus cut hazard, on the intact tumour): "
          f"{_band(integral(t, h_link * cells, 6.0, 30.0) / (died[:, -1] - died[:, i6]))}")
    dk = np.gradient(trajectory(intact, arm, "deaths_killing"), t, axis=-1)
    kill_rate = integral(t, dk, 7.0, 21.0) / integral(t, cells, 7.0, 21.0)
    h0 = trajectory(intact, arm, "tumor_ferroptosis_hazard")[:, 0]
    print(f"anti-PD-1, days 7-21: immune kills per tumour cell {_band(kill_rate)} /day; ferroptosis hazard "
          f"{_band(per_cell(intact, arm, 'tumor_ferroptosis_hazard'))} /day; resting {_band(h0)} /day")
    auc = lambda ds, a=arm: integral(t, trajectory(ds, a, "tumor_live"), None, None)  # noqa: E731
    print(f"tumour AUC of anti-PD-1, link cut / intact: {_band(auc(cut) / auc(intact))}")
    if not args.finding2:
        return 0

    scn2 = load_scenario("finding2_icb_ferroptosis_inducers")
    if hold:
        scn2 = cut_scenario(scn2, hold, where="--set")
    start = time.perf_counter()
    ds = simulate_draws(scn2, args.draws, args.seed, fixed=fixed)
    print(f"finding2_icb_ferroptosis_inducers, {args.draws} draws ({time.perf_counter() - start:.0f} s)")
    lip = "anti-PD-1 + liproxstatin-1"
    t2 = times(ds)
    end = lambda a, v: trajectory(ds, a, v)[:, -1]  # noqa: E731
    print(f"2c: tumour AUC {lip} / anti-PD-1 {_band(auc(ds, lip) / auc(ds, arm))}; held in "
          f"{np.mean(auc(ds, lip) > auc(ds, arm)):.1%} of draws")
    for var in ("deaths_ferroptosis", "t_cell_ferroptosis", "deaths_killing"):
        print(f"  {var:20s} by day 30, {lip} / anti-PD-1: {_band(end(lip, var) / end(arm, var))}")
    t_days = {a: integral(t2, ds["t_cells"].sel(arm=a).sum("t_pool").transpose("patient", "time").values, 6.0, 30.0)
              for a in (arm, lip)}
    print(f"  T cell-days (days 6-30), {lip} / anti-PD-1: {_band(t_days[lip] / t_days[arm])}")
    for combo in ("anti-PD-1 + cysteinase", "anti-PD-1 + IKE"):
        share = _death_shares(ds, combo)
        print(f"{combo}, days 6-30: ferroptotic share of tumour deaths {_band(share['ferroptosis'])}; above "
              f"the resting hazard (drug and T cells) {_band(share['excess'])}; killing {_band(share['killing'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
