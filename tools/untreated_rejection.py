"""What makes untreated tumours reject themselves over robustness draws (docs/findings.md).

    python tools/untreated_rejection.py [SCENARIO] [--arm control] [--draws 400] [--top 12]

Runs the untreated ``--arm`` of a shipped scenario (finding 1's B16 ``control`` by default) over the
robustness draws ``tmesim reproduce`` makes (every non-knob parameter x log-normal, sd 0.25 of its log;
:func:`tmesim.reproduce.runner.simulate_draws`: the same seeds and factors), counts the draws whose tumour
is rejected (falls below 1% of its initial size at any time: :func:`~tmesim.reproduce.runner.rejected_in_arms`),
prints that share with its Wilson 95% interval, how the rejected tumours died (cumulative deaths by
cause), and ranks the varied parameters by the Spearman correlation of their value in a draw (equivalently
its log factor: the rank is the same) with rejection. Over ~150 parameters, |rho| near 0.1 is noise at
400 draws (a parameter the model does not read comes out there).
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default="finding1_ifng_ferroptosis")
    ap.add_argument("--arm", default="control", help="an untreated arm of the scenario")
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0, help="offset added to the scenario's seed, as in reproduce")
    ap.add_argument("--top", type=int, default=12, help="parameters to list")
    args = ap.parse_args(argv)

    import numpy as np
    from scipy.stats import spearmanr

    from tmesim import load_scenario
    from tmesim import results as R
    from tmesim.reproduce.runner import rejected_in_arms, share_interval, simulate_draws

    scn = load_scenario(args.scenario)
    arms = [a.model_dump() for a in scn.arms if a.name == args.arm]
    if not arms:
        print(f"error: --arm: no arm {args.arm!r} in {args.scenario} (arms: {', '.join(a.name for a in scn.arms)})",
              file=sys.stderr)
        return 2
    start = time.perf_counter()
    ds = simulate_draws(scn.with_overrides(arms=arms), args.draws, args.seed)
    wall = time.perf_counter() - start
    rejected = rejected_in_arms(ds, [args.arm])
    n, k = rejected.size, int(rejected.sum())
    lo, hi = share_interval(k, n)
    print(f"{args.scenario}, arm {args.arm!r}: {k} of {n} draws rejected untreated "
          f"({100 * k / n:.1f}%, 95% CI {100 * lo:.1f}-{100 * hi:.1f}%); {wall:.0f} s")
    deaths = {name[len(R.DEATHS_PREFIX):]: ds[name].sel(arm=args.arm).isel(time=-1).values
              for name in R.death_variables(ds)}
    if k and deaths:
        total = sum(deaths.values())
        shares = {cause: float(np.median(v[rejected] / np.maximum(total[rejected], 1e-300)))
                  for cause, v in deaths.items()}
        print("rejected draws, median share of cumulative deaths by cause: "
              + ", ".join(f"{c} {s:.2f}" for c, s in sorted(shares.items(), key=lambda kv: -kv[1])))
        main_cause = np.array(list(deaths))[np.argmax(np.stack(list(deaths.values())), axis=0)]
        counts = {c: int((main_cause[rejected] == c).sum()) for c in deaths}
        print("rejected draws by their largest cause of death: "
              + ", ".join(f"{c} {m}" for c, m in sorted(counts.items(), key=lambda kv: -kv[1]) if m))
    values = ds["parameter_values"].sel(arm=args.arm).values  # (patient, parameter)
    names = [str(p) for p in ds["parameter"].values]
    rows = []
    for j, name in enumerate(names):
        x = values[:, j]
        if np.ptp(x) > 0 and 0 < k < n:
            rows.append((name, float(spearmanr(x, rejected).statistic)))
    rows.sort(key=lambda r: -abs(r[1]))
    print(f"Spearman rho of the draw's value with rejection ({len(rows)} varied parameters), top {args.top}:")
    for name, rho in rows[:args.top]:
        print(f"  {name:34s} {rho:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
