"""Write the cell file of the shipped scenario ``bystander_ferroptosis_2d`` (run once; the file is committed).

    python tools/bystander_cells.py            # writes src/tmesim/scenarios/bystander_ferroptosis_2d_cells.csv

A 2D tumour filling a 1000 x 320 um domain of 20-um sites, except a band 160 um
wide down its middle (x = 420-580 um, the infiltrated region) where half the
sites, drawn at random with a fixed seed, are left free. The scenario's CAR T
infusions land on free sites (the scenario has no vessels), so all infused
cells start inside that band and the tumour on either side (420 um deep) has
no T cell. Which tumour cells carry the CAR antigen is drawn per cell by the
engine (``tumor_car_antigen_fraction``). ``tests/unit/test_bystander.py``
checks that the shipped file is what this script writes.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

DOMAIN_UM = (1000.0, 320.0)
SITE_UM = 20.0
BAND_UM = (420.0, 580.0)
FREE_SHARE = 0.5
SEED = 20240611
PATH = Path(__file__).resolve().parents[1] / "src" / "tmesim" / "scenarios" / "bystander_ferroptosis_2d_cells.csv"


def cell_file_text() -> str:
    """The CSV text (columns ``x, y, type``; site centres in um)."""
    nx, ny = (int(round(d / SITE_UM)) for d in DOMAIN_UM)
    rng = np.random.default_rng(SEED)
    out = io.StringIO()
    out.write("x,y,type\n")
    for j in range(ny):
        for i in range(nx):
            x, y = (i + 0.5) * SITE_UM, (j + 0.5) * SITE_UM
            in_band = BAND_UM[0] <= x < BAND_UM[1]
            # one draw per site in the band, in row order, so the pattern depends only on the seed
            if in_band and rng.random() < FREE_SHARE:
                continue
            out.write(f"{x:g},{y:g},tumor\n")
    return out.getvalue()


def main() -> int:
    PATH.write_text(cell_file_text(), encoding="utf-8")
    print(f"wrote {PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
