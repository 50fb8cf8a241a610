"""Cell programs: each cell type's biology as compiled kernels of (its state, the environment it
sees, its drug exposures, its resolved parameters) that return rates, hazards and secretion.

* :mod:`.pharmacology` -- drug exposure -> effect on exposure channels (a table over drugs);
* :mod:`.tumor` -- the tumour cell: STAT1 hub, ferroptosis core, growth and death hazards, secretion;
* :mod:`.t_cell` -- T cells (host and CAR kinds, Tregs): sensing, the exhaustion axis, function and fate;
* :mod:`.nk` -- NK cells: activation, killing, IFN-gamma;
* :mod:`.macrophage` -- macrophages: polarisation, iron and ROS, killing, secretion;
* :mod:`.cytokines` -- cytokine decay and receptor uptake, and the host's context.

Each module states its state schema (if any) and its parameter group
(:class:`~tmesim.biology.groups.ParamGroup`). The engines call these programs
with pool means (well-mixed) or per cell (spatial); no engine re-writes a
mechanism. They import numpy, numba and the formula atoms of
:mod:`tmesim.biology` only.
"""
