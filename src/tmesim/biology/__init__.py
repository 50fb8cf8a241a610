"""The mechanism library: pure, numba-compiled functions of state, local
environment and parameters that return rates (per minute), hazards (per
minute) or target levels.

Every function works on scalars and, through numba's array expressions, on
numpy arrays of the same shape, so the well-mixed engine calls it once per
patient and the spatial engine once per cell (or over a whole array of cells).
Arguments carry their unit in their name or docstring; the engines own the
bookkeeping (which population, which volume), the functions own the biology.
"""
