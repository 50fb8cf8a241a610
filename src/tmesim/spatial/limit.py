"""The well-mixed limit: the spatial engine against the well-mixed engine where the two should agree.

DESIGN.md (section 4): "a spatial run with fast diffusion and well-mixed
initial conditions follows the well-mixed trajectory within stochastic
error". :func:`scenarios` builds that limit as a pair of scenarios that
differ only in ``scale`` (and the spatial section):

* the same parameter set and the same parameter changes on both sides: the
  tumour is ``initial_tumor_cells`` = the domain's tumour cells, so the
  domain is the whole tumour (:meth:`SpatialRun.scale` is 1) and the
  well-mixed closures see the tumour the lattice holds;
* every diffusion coefficient raised to the largest the catalogue accepts
  (:func:`fast_diffusion`; parameters the well-mixed engine does not read):
  the fields are near uniform, fed at their plasma values on the faces
  (oxygen, glucose, cystine, tryptophan) and at the vessels;
* no oxygen consumption on the spatial side (:data:`OXYGEN_USE` set to 0),
  as the well-mixed oxygen closure has none (``oxygen_use=True`` keeps it:
  the spatial tumour then grows a few per cent slower);
* tumour cells ``scattered`` over a share ``density`` of the sites (a
  well-mixed start: every cell starts alone), vessels on a share
  ``vessel_density`` (drugs reach the tissue only through them);
* a case: ``tumor`` (tumour cells alone: no immune cells, no recruitment),
  ``ike`` (the same under daily IKE, a system Xc- inhibitor acting through
  the tumour program's exposures), ``cysteinase`` (the same under
  cyst(e)inase, which acts on plasma cystine) and ``immune`` (immune cells
  at the set's ratios, CD8 and CD4 T cells raised to 0.25 and 0.1 per
  tumour cell so that there are T cells to count, under anti-PD-1).

:func:`compare` puts the spatial replicates' mean and standard error beside
the well-mixed trajectory for each :data:`QUANTITIES` entry, and says
whether they agree within ``k`` standard errors (:func:`k_se`) plus the
numerical tolerance of :func:`tolerances`; :func:`check` does it for a case,
marking the quantities that should agree (:data:`ASSERTED`). docs/spatial.md ("The well-mixed limit") lists which processes
should agree and which cannot by construction, with the measured table;
``python -m tmesim.spatial.limit`` prints it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

DIFFUSION_PARAMETERS = ("oxygen_diffusion", "glucose_diffusion", "small_molecule_diffusion", "ifng_diffusion",
                        "il12_diffusion", "il10_diffusion", "tgfb_diffusion", "il2_diffusion", "cxcl9_diffusion",
                        "antibody_diffusion")


def fast_diffusion() -> dict[str, float]:
    """Diffusion coefficient (um^2/min) of each field in the limit: the largest the catalogue accepts.

    The catalogue's bounds are typo guards (ten times the largest shipped value); the limit takes each
    coefficient at its bound, not a value chosen from the outcome. How uniform the fields then are is
    measured, not assumed (:func:`field_spread` and docs/spatial.md, "The well-mixed limit").
    """
    from ..params.index import CATALOGUE

    return {name: float(CATALOGUE[name]["max"]) for name in DIFFUSION_PARAMETERS}


#: The spatial oxygen field's consumption (cell uptake, background decay; parameters the well-mixed engine does
#: not read). The well-mixed oxygen is a closure with none, ``oxygen_vessel / (1 + sqrt(N / hypoxia_size_half))``
#: (37.9 mmHg for a tumour of a thousand cells); a spatial field fed at the faces and vessels and consumed at
#: these rates sits lower (32 mmHg at the tumour's cells after 4 days on 64 x 64 sites), slowing division by
#: a few per cent, so the limit sets them to 0 unless ``oxygen_use`` (docs/spatial.md, item 1).
OXYGEN_USE = ("cell_oxygen_uptake_rate", "oxygen_decay_rate")
IMMUNE_RATIOS = ("initial_cd8_per_tumor_cell", "initial_cd4_per_tumor_cell", "initial_treg_per_tumor_cell",
                 "initial_nk_per_tumor_cell", "initial_macrophages_per_tumor_cell")
RECRUITMENT = ("cd8_recruitment_max", "treg_recruitment_max", "nk_recruitment_max", "macrophage_recruitment_max")
CASES = ("tumor", "ike", "cysteinase", "immune")
PARAMETER_SET = "mouse_b16_icb_ferroptosis"

#: Quantity -> kind, for the table. ``count``: a cell count or cumulative count; ``state``: a mean over the
#: tumour's cells (or a field at the cells). A name ``a+b`` is the sum of two variables.
QUANTITIES: dict[str, str] = {
    "tumor_live": "count", "tumor_dead_apoptotic": "count", "deaths_ifng_apoptosis": "count",
    "deaths_ferroptosis": "count", "deaths_necrosis": "count",
    "tumor_stat1": "state", "tumor_slc7a11": "state", "tumor_acsl4": "state", "tumor_gsh": "state",
    "tumor_labile_iron": "state", "tumor_pufa_pl": "state", "tumor_lipid_peroxide": "state",
    "tumor_cystine_uptake": "state", "cystine": "state", "oxygen": "state", "glucose": "state",
}
#: Extra quantities reported for the immune case (most are not expected to agree: docs/spatial.md).
IMMUNE_QUANTITIES: dict[str, str] = {
    "macrophage_m1+macrophage_m2": "count",
    "cd8_effector": "count", "cd8_progenitor_exhausted": "count", "cd8_terminal_exhausted": "count",
    "kills_cd8": "count", "kills_cd4": "count", "kills_nk": "count", "kills_macrophage": "count",
    "macrophage_m1": "count", "macrophage_m2": "count", "nk": "count", "ifng": "state", "il10": "state",
    "tgfb": "state", "il12": "state", "host_t_stimulation": "state", "extracellular_iron": "state",
    "host_t_cd36": "state",
}
#: The quantities that should agree, per case (the others are reported; docs/spatial.md says why they
#: cannot agree). Counts under growth alone and under each drug; the drug's tissue level and the states it
#: moves; for ``immune`` only the macrophages, whose number follows their death rate alone in both engines
#: (no recruitment in the limit, no proliferation in either program).
ASSERTED: dict[str, tuple[str, ...]] = {
    "tumor": ("tumor_live", "tumor_dead_apoptotic", "deaths_ferroptosis"),
    "ike": ("tumor_live", "tumor_dead_apoptotic", "deaths_ferroptosis", "drug_ike", "tumor_cystine_uptake",
            "tumor_gsh"),
    "cysteinase": ("tumor_live", "tumor_dead_apoptotic", "deaths_ferroptosis", "drug_cysteinase", "cystine",
                   "tumor_cystine_uptake", "tumor_gsh"),
    "immune": ("macrophage_m1+macrophage_m2",),
}
#: The quantities a case's drug moves through its tissue level (they carry the drug's lag, :func:`tolerances`).
DRUG_DRIVEN: dict[str, tuple[str, ...]] = {
    "ike": ("drug_ike", "tumor_cystine_uptake", "tumor_gsh", "tumor_lipid_peroxide"),
    "cysteinase": ("drug_cysteinase", "cystine", "tumor_cystine_uptake", "tumor_gsh", "tumor_lipid_peroxide"),
    "immune": ("drug_anti_pd1",),
}
CASE_DRUG = {"ike": "ike", "cysteinase": "cysteinase", "immune": "anti_pd1"}
#: Two-sided tail probability of one comparison: the allowed |mean - well-mixed| is the Student t quantile
#: of the replicates' degrees of freedom at 1 - ALPHA/2 times the standard error (t_7: 5.4 for 8 replicates).
#: The runs are seeded, so a given code gives the same verdict every time; the level says how unlikely a
#: verdict of disagreement is when the two engines do agree.
ALPHA = 1e-3


def k_se(replicates: int, alpha: float = ALPHA) -> float:
    """Standard errors allowed for ``replicates`` spatial replicates: the Student t quantile at 1 - alpha/2."""
    from scipy.stats import t

    return float(t.ppf(1.0 - alpha / 2.0, max(replicates - 1, 1)))


def tolerances(case: str, spatial_scenario) -> dict[str, float]:
    """Relative numerical tolerances of the comparison (dimensionless, times the well-mixed value).

    ``count``: a spatial cell does one thing per step (death first, else a division), so a division
    hazard ``b`` and a death hazard ``d`` give a birth probability ``b dt (1 - d dt - b dt / 2)`` against
    the well-mixed ``b``: a net growth rate low by at most ``b (d + b/2) dt <= b^2 dt`` (``d <= b/2`` here),
    i.e. ``g^2 dt t`` relative after ``t`` with ``g = tumor_growth_rate`` (per day and day; 0.17% after 2
    days with dt = 6 min).

    ``drug``: the well-mixed engine sets the tissue's drug level to plasma; the spatial engine supplies it
    through vessels (a share ``f`` of the sites exchanging at ``vessel_supply_rate`` k_v). A level that
    decays at ``k_el = ln 2 / half-life`` is then higher than plasma by ``exp(k_el tau) - 1`` with
    ``tau = 1 / (f k_v) + c dt``. The fields' own lag ``c dt`` (here the field step is the cell step) is the
    splitting's alone since the vessels see the plasma at the end of each field step (it was one step more
    while the plasma was held at the step's start value): 0.07 dt on 64^2 sites, 1.3-1.5 dt on 10^3 and 0.6
    dt on 16^3 (docs/spatial-fields.md, "Vessels fed by a changing plasma"). The tolerance takes ``c = 2``,
    which bounds the 3D lattices as well. It applies to the drug's level and the states it moves
    (:data:`DRUG_DRIVEN`), whose relative response to the drug is at most one (an Emax occupancy).
    """
    sp = spatial_scenario.spatial
    ps = spatial_scenario.base_parameters
    dt = float(sp.dt_minutes)
    g = float(ps["tumor_growth_rate"])  # 1/min
    out = {"count_per_min": g * g * dt}
    drug = CASE_DRUG.get(case)
    if drug:
        k_el = math.log(2.0) / float(ps[f"{drug}_half_life"])
        tau = 1.0 / (float(sp.vessels.density) * float(ps["vessel_supply_rate"])) + 2.0 * dt
        out["drug"] = math.expm1(k_el * tau)
    return out


def _parameters(case: str, n_tumor: int, oxygen_use: bool = False) -> dict[str, object]:
    p: dict[str, object] = {"initial_tumor_cells": n_tumor}
    p.update({name: f"{d:g} um**2/min" for name, d in fast_diffusion().items()})
    if not oxygen_use:
        p.update({name: "0 1/min" for name in OXYGEN_USE})
    if case == "immune":
        p.update(initial_cd8_per_tumor_cell=0.25, initial_cd4_per_tumor_cell=0.1)
        p.update({name: 0 for name in RECRUITMENT})
    else:
        p.update({name: 0 for name in IMMUNE_RATIOS + RECRUITMENT})
    return p


def _arms(case: str, days: float) -> list[dict]:
    every = {"ike": 1.0, "cysteinase": 2.0, "immune": 3.0}.get(case)
    count = max(1, int(math.floor((days - 0.5) / every)) + 1) if every else 0
    if case == "tumor":
        return [{"name": "tumour cells alone"}]
    if case == "ike":
        return [{"name": "IKE", "doses": [{"drug": "ike", "dose": 40.0, "unit": "mg/kg", "start_day": 0.5,
                                           "every_days": every, "count": count}]}]
    if case == "cysteinase":
        return [{"name": "cysteinase", "doses": [{"drug": "cysteinase", "dose": 50.0, "unit": "mg/kg",
                                                  "start_day": 0.5, "every_days": every, "count": count}]}]
    if case == "immune":
        return [{"name": "immune cells + anti-PD-1", "doses": [{"drug": "anti_pd1", "dose": 10.0, "unit": "mg/kg",
                                                                "start_day": 0.5, "every_days": every,
                                                                "count": count}]}]
    raise ValueError(f"unknown case {case!r}; one of {', '.join(CASES)}")


def scenarios(case: str = "tumor", *, side: int = 100, density: float = 0.02, days: float = 4.0,
              replicates: int = 4, seed: int = 0, dimensions: int = 2, vessel_density: float = 0.02,
              output_interval_hours: float = 24.0, spatial_only: dict | None = None, oxygen_use: bool = False,
              both: dict | None = None):
    """The spatial scenario of the limit and its well-mixed twin (see the module docstring).

    Parameters
    ----------
    case : one of :data:`CASES`.
    side : sites per edge (20-um sites).
    density : share of the sites given a tumour cell.
    days, replicates, seed : duration, spatial replicates, scenario seed.
    dimensions : 2 or 3.
    vessel_density : share of the sites that are vessels (placed anywhere).
    output_interval_hours : hours between the recorded times.
    spatial_only : parameter changes (name -> value with unit, as in a scenario) made on the spatial side
        only, for negative controls.
    oxygen_use : keep the set's oxygen uptake and decay (:data:`OXYGEN_USE`) instead of 0.
    both : parameter changes made on both sides (e.g. to compare a mechanism where its input is defined
        alike in both engines).

    Returns
    -------
    (spatial, wellmixed) : two :class:`tmesim.scenario.Scenario`.
    """
    from ..scenario import build_scenario

    n_tumor = max(1, int(round(density * side ** dimensions)))
    common = {"name": f"wellmixed_limit_{case}", "parameter_set": PARAMETER_SET, "days": days,
              "output_interval_hours": output_interval_hours, "seed": seed,
              "parameters": {**_parameters(case, n_tumor, oxygen_use), **(both or {})}, "arms": _arms(case, days)}
    spatial = {**common, "scale": "spatial",
               "parameters": {**common["parameters"], **(spatial_only or {})},
               "spatial": {"dimensions": dimensions, "domain_um": [20.0 * side] * dimensions, "site_um": 20.0,
                           # uniform fields: no need for short field steps
                           "dt_minutes": 6.0, "field_dt_minutes": 6.0, "oxygen_dt_minutes": 6.0,
                           "geometry": {"kind": "scattered", "density": density},
                           "vessels": {"density": vessel_density, "placement": "everywhere"},
                           "replicates": replicates, "snapshot_interval_hours": 0,
                           "checkpoint_interval_hours": 0}}
    return build_scenario(spatial, where="limit"), build_scenario({**common, "scale": "wellmixed"}, where="limit")


def run(case: str = "tumor", spatial_only: dict | None = None, **kwargs) -> tuple[xr.Dataset, xr.Dataset]:
    """Run both scenarios of :func:`scenarios` (keyword arguments as there); return (spatial, wellmixed).

    ``spatial_only``: parameter changes made on the spatial side only (a negative control: the comparison
    must then find disagreement); the well-mixed side keeps the set's values.
    """
    from ..simulation import Simulation

    spatial, wellmixed = scenarios(case, spatial_only=spatial_only, **kwargs)
    return Simulation(spatial).run(), Simulation(wellmixed).run()


@dataclass(frozen=True)
class Row:
    """One quantity at one day: the well-mixed value, the spatial replicates' mean and standard error (in the
    quantity's unit: cells, or the state's or field's unit).

    ``z`` is (mean - well-mixed) / SE (NaN where SE is 0); ``tolerance`` the allowed |difference| (``k``
    standard errors plus the numerical tolerance of :func:`tolerances`); ``agree`` whether the difference
    is within it; ``asserted`` whether the quantity should agree (:data:`ASSERTED`).
    """

    case: str
    quantity: str
    day: float
    wellmixed: float
    spatial: float
    se: float
    replicates: int
    tolerance: float
    asserted: bool = False

    @property
    def difference(self) -> float:
        return self.spatial - self.wellmixed

    @property
    def ratio(self) -> float:
        return self.spatial / self.wellmixed if self.wellmixed != 0 else math.nan

    @property
    def z(self) -> float:
        # an SE at rounding level (a field every replicate holds at the same value) gives no z
        return self.difference / self.se if self.se > 1e-12 * abs(self.spatial) and self.se > 0 else math.nan

    @property
    def agree(self) -> bool:
        return bool(abs(self.difference) <= self.tolerance)


def quantities_for(case: str) -> dict[str, str]:
    """:data:`QUANTITIES`, with the drug's tissue level for a drug case and :data:`IMMUNE_QUANTITIES` for
    ``immune``."""
    drug = CASE_DRUG.get(case)
    return {**QUANTITIES, **({f"drug_{drug}": "state"} if drug else {}),
            **(IMMUNE_QUANTITIES if case == "immune" else {})}


def _values(ds: xr.Dataset, name: str) -> xr.DataArray:
    from ..results import variable

    parts = name.split("+")
    out = variable(ds, parts[0])
    for part in parts[1:]:
        out = out + variable(ds, part)
    return out


def compare(spatial: xr.Dataset, wellmixed: xr.Dataset, quantities: dict[str, str] | None = None,
            days: Sequence[float] | None = None, case: str = "", k: float | None = None,
            tol: dict[str, float] | None = None, asserted: Sequence[str] = ()) -> list[Row]:
    """Rows of :class:`Row` for each quantity (default :data:`QUANTITIES`) at ``days`` (default: every output
    day after 0), first arm of both Datasets.

    A count is compared within ``k`` (default :func:`k_se` of the replicates) standard errors -- the
    replicates' SE, and at least the Poisson SE ``sqrt(w / n)`` of the well-mixed count ``w`` over ``n``
    replicates, so that a rare event none of the replicates saw is not a disagreement -- plus ``w`` times
    ``tol['count_per_min']`` times the time (min); a state within ``k`` standard errors plus ``|w|`` times
    ``tol['drug']`` if the case's drug moves it (:data:`DRUG_DRIVEN`). ``tol`` is :func:`tolerances`'
    output (default: no numerical tolerance). ``asserted`` marks the rows that should agree.
    """
    quantities = QUANTITIES if quantities is None else quantities
    tol = {} if tol is None else tol
    t = np.asarray(spatial["time"].values, dtype=float)
    days = [d for d in t if d > 0] if days is None else list(days)
    rows = []
    for name, kind in quantities.items():
        s = np.asarray(_values(spatial, name).isel(arm=0).transpose("patient", "time").values, dtype=float)
        w = np.asarray(_values(wellmixed, name).isel(arm=0, patient=0).values, dtype=float)
        tw = np.asarray(wellmixed["time"].values, dtype=float)
        n = s.shape[0]
        kk = k_se(n) if k is None else k
        for day in days:
            i = int(np.argmin(np.abs(t - day)))
            col = s[:, i]
            mean = float(np.mean(col))
            se = float(np.std(col, ddof=1) / math.sqrt(n)) if n > 1 else math.nan
            wm = float(np.interp(t[i], tw, w))
            spread = se if math.isfinite(se) else 0.0
            if kind == "count":
                spread = max(spread, math.sqrt(max(wm, 0.0) / n))
                numerical = abs(wm) * tol.get("count_per_min", 0.0) * t[i] * 1440.0
            else:
                numerical = abs(wm) * (tol.get("drug", 0.0) if name in DRUG_DRIVEN.get(case, ()) else 0.0)
            rows.append(Row(case, name, float(t[i]), wm, mean, se, n, kk * spread + numerical, name in asserted))
    return rows


def check(case: str, spatial: xr.Dataset, wellmixed: xr.Dataset, spatial_scenario,
          days: Sequence[float] | None = None) -> list[Row]:
    """:func:`compare` with the case's quantities, :func:`tolerances` and :data:`ASSERTED`."""
    return compare(spatial, wellmixed, quantities_for(case), days=days, case=case,
                   tol=tolerances(case, spatial_scenario), asserted=ASSERTED[case])


def markdown(rows: Sequence[Row]) -> str:
    """A markdown table of ``rows``: quantity, day, well-mixed, spatial mean +/- SE, ratio, z, agree (``yes``
    or ``no``; in bold where the quantity should agree, :data:`ASSERTED`)."""
    out = ["| case | quantity | day | well-mixed | spatial mean +/- SE | spatial / well-mixed | z | tolerance | agree |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        z = "-" if not math.isfinite(r.z) else f"{r.z:+.1f}"
        ratio = "-" if not math.isfinite(r.ratio) else f"{r.ratio:.3f}"
        verdict = "yes" if r.agree else "no"
        out.append(f"| {r.case} | {r.quantity} | {r.day:g} | {r.wellmixed:.4g} | {r.spatial:.4g} +/- {r.se:.2g} | "
                   f"{ratio} | {z} | {r.tolerance:.2g} | {f'**{verdict}**' if r.asserted else verdict} |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m tmesim.spatial.limit [--case C ...] [--side N] [--density D] [--days T] [--replicates R]
    [--dimensions 2|3] [--seed S] [--every H] [--oxygen-use]``: run the limit and print the comparison as markdown (sites
    of 20 um; days and hours of simulated time)."""
    import argparse
    import time

    from ..simulation import Simulation

    ap = argparse.ArgumentParser(prog="python -m tmesim.spatial.limit", description=main.__doc__)
    ap.add_argument("--case", action="append", choices=CASES)
    ap.add_argument("--side", type=int, default=64)
    ap.add_argument("--density", type=float, default=0.04)
    ap.add_argument("--days", type=float, default=4.0)
    ap.add_argument("--replicates", type=int, default=8)
    ap.add_argument("--dimensions", type=int, default=2, choices=(2, 3))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--every", type=float, default=24.0, help="hours between the reported days")
    ap.add_argument("--oxygen-use", action="store_true", help="keep the set's oxygen uptake and decay")
    args = ap.parse_args(argv)
    for case in args.case or CASES:
        t0 = time.perf_counter()
        sc_s, sc_w = scenarios(case, side=args.side, density=args.density, days=args.days,
                               replicates=args.replicates, seed=args.seed, dimensions=args.dimensions,
                               output_interval_hours=args.every, oxygen_use=args.oxygen_use)
        spatial, wellmixed = Simulation(sc_s).run(), Simulation(sc_w).run()
        n0 = int(spatial["tumor_live"].isel(arm=0, patient=0, time=0))
        print(f"\n### {case}: {args.side}^{args.dimensions} sites, {n0} tumour cells at the start, "
              f"{args.replicates} replicates, k = {k_se(args.replicates):.2f} SE "
              f"({time.perf_counter() - t0:.0f} s)\n")
        print(markdown(check(case, spatial, wellmixed, sc_s)), flush=True)


if __name__ == "__main__":
    main()
