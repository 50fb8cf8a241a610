"""The parameter catalogue and each parameter's column in a matrix of parameter values.

Built from ``catalogue.yaml`` at import. Rows of parameter values (a set,
drawn cohorts) are vectors in :data:`NAMES` order, in internal units; compiled
code never reads them by position: :func:`tmesim.params.resolve.resolve`
turns them into the named groups the cell programs read.
"""

from __future__ import annotations

from importlib import resources

import yaml

CATALOGUE: dict = yaml.safe_load(resources.files("tmesim.params").joinpath("catalogue.yaml").read_text())
NAMES: tuple[str, ...] = tuple(CATALOGUE)
N_PARAMS = len(NAMES)
#: Column of each parameter in a matrix of parameter values.
COLUMN: dict[str, int] = {name: i for i, name in enumerate(NAMES)}
