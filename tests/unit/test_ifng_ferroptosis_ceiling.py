"""How far IFN-gamma alone can move the tumour ferroptosis core (docs/findings.md, finding 1 notes:
"Why T cell-driven ferroptosis is small").

The tumour program is run to its steady state at the base (B16) set with STAT1 held at full activity
(IFN-gamma far above its EC50), as the engines call it. IFN-gamma is a sensitiser in this model, not a
trigger: full STAT1 halves SLC7A11 and glutathione, but GPX4 (7/10 saturated with glutathione at rest,
with three times the capacity it needs at the death threshold) keeps lipid peroxide on its low branch,
about twice its resting level and far below the threshold. A second hit that takes most of the
remaining cystine import (an Xc- inhibitor at 80%) tips it into runaway. These numbers are what
the finding-1 notes report; a change that makes IFN-gamma alone kill (or stops the second hit from
doing so) must update them.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from tmesim.biology.programs import tumor
from tmesim.biology.programs.pharmacology import EX, N_CHANNELS
from tmesim.params import load_parameter_set
from tmesim.params.resolve import resolve_group

DAYS = 30.0


@pytest.fixture(scope="module")
def p():
    return resolve_group(load_parameter_set("mouse_b16_icb_ferroptosis").vector(), tumor.PARAMS)[0]


def steady(p, stat1: float, xc_inhibition: float = 0.0) -> np.ndarray:
    """The tumour cell state after ``DAYS`` days from rest with STAT1 held at ``stat1`` and an Xc-
    inhibitor at ``xc_inhibition`` (plasma cystine, iron and ROS 1, no other drug)."""
    ex = np.zeros(N_CHANNELS)
    ex[EX.xc_inhibition] = xc_inhibition
    env = tumor.TumorEnv(0.0, p.cystine_plasma, 1.0, 1.0, p.oxygen_vessel, p.glucose_plasma, 0.0)
    i = tumor.X.stat1

    def rhs(_t, y):
        y = y.copy()
        y[i] = stat1
        dy = np.zeros_like(y)
        tumor.intracellular_rates(y, 0, env, ex, p, dy, 0)
        dy[i] = 0.0
        return dy

    x0 = tumor.resting_state(p, 1.0)
    x0[i] = stat1
    sol = solve_ivp(rhs, (0.0, DAYS * 1440.0), x0, method="LSODA", rtol=1e-8, atol=1e-12)
    assert sol.success
    return sol.y[:, -1]


def test_full_stat1_alone_stays_on_the_low_branch(p):
    rest = steady(p, 0.0)
    full = steady(p, 1.0)
    X = tumor.X
    assert full[X.slc7a11] == pytest.approx(1.0 - p.slc7a11_repression_max, rel=1e-4)
    assert full[X.gsh] / rest[X.gsh] == pytest.approx(1.0 - p.slc7a11_repression_max, rel=1e-4)
    # glutathione halves, GPX4 activity falls by only about a fifth (K_GSH 2 mM against 5 mM at rest)
    act = lambda g: g / (p.gpx4_gsh_km + g)  # noqa: E731
    assert act(full[X.gsh]) / act(rest[X.gsh]) == pytest.approx(0.778, abs=0.002)
    # lipid peroxide about doubles (0.020 -> 0.038 of the threshold) and stays far below the threshold
    assert full[X.lipid_peroxide] / rest[X.lipid_peroxide] == pytest.approx(1.93, abs=0.03)
    assert full[X.lipid_peroxide] < 0.05 * p.ferroptosis_threshold


def test_a_second_hit_tips_full_stat1_into_runaway(p):
    X = tumor.X
    assert steady(p, 0.0, 0.8)[X.lipid_peroxide] < 0.06 * p.ferroptosis_threshold  # the drug alone: low branch
    assert steady(p, 1.0, 0.7)[X.lipid_peroxide] < 0.15 * p.ferroptosis_threshold  # not yet
    assert steady(p, 1.0, 0.8)[X.lipid_peroxide] > p.ferroptosis_threshold  # IFN-gamma + Xc- inhibitor: runaway
