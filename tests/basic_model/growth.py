"""FROZEN copy (7bd9782), do not edit. Tumour growth and non-immune death.

Proliferation is limited by oxygen, glucose and crowding and supported by the
labile iron pool (iron is needed for DNA synthesis); STAT1 is cytostatic
(IFN-gamma slows growth, Hoekstra 2020). Hypoxia below a few mmHg causes
necrosis (PhysiCell defaults: necrosis from 5 mmHg, maximal at 2.5 mmHg).
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel
from .common import hill, hill_down


@kernel
def _saturation(x, half, ref):
    """Michaelis-Menten saturation of ``x`` normalised to 1 at ``ref``."""
    return hill(x, half, 1.0) / hill(ref, half, 1.0)


@kernel
def proliferation_rate(
    max_per_min,
    oxygen_mmHg,
    o2_half_mmHg,
    o2_ref_mmHg,
    glucose_mM,
    glucose_half_mM,
    glucose_ref_mM,
    iron_uM,
    iron_half_uM,
    iron_ref_uM,
    occupied_fraction,
    stat1,
    stat1_cytostasis_max,
):
    """Per-cell division rate (1/min).

    ``max_per_min`` is the rate in well-perfused tissue (oxygen, glucose and
    labile iron at their reference levels) with room to grow. Each resource
    enters as a Michaelis-Menten factor normalised to 1 at its reference;
    crowding as ``1 - occupied fraction`` of the carrying capacity (clipped to
    0..1); STAT1 as ``1 - c * STAT1``.
    """
    crowd = 1.0 - np.minimum(np.maximum(occupied_fraction, 0.0), 1.0)
    o2 = _saturation(oxygen_mmHg, o2_half_mmHg, o2_ref_mmHg)
    glc = _saturation(glucose_mM, glucose_half_mM, glucose_ref_mM)
    fe = _saturation(iron_uM, iron_half_uM, iron_ref_uM)
    return max_per_min * o2 * glc * fe * crowd * (1.0 - stat1_cytostasis_max * stat1)


@kernel
def necrosis_hazard(oxygen_mmHg, half_mmHg, hill_n, max_per_min):
    """Necrotic death hazard (1/min), rising as oxygen falls below ``half``."""
    return max_per_min * hill_down(oxygen_mmHg, half_mmHg, hill_n)


@kernel
def ifng_apoptosis_hazard(stat1, max_per_min):
    """Apoptosis hazard (1/min) from sustained STAT1/IRF1 signalling.

    IFN-gamma is directly cytotoxic to some tumours (CD4 CAR T cells kill
    lymphoma mostly through diffusing IFN-gamma, Boulch 2023).
    """
    return max_per_min * stat1
