"""tmesim: mechanistic simulation of the tumour-immune microenvironment under
immunotherapy (ferroptosis, T cell exhaustion, macrophages, CAR T cells).

Typical use::

    from tmesim import Simulation, load_scenario
    scn = load_scenario("b16_icb_ferroptosis")
    ds = Simulation(scn).run()     # xarray.Dataset on (arm, patient, time)

The names below are imported on first use, so ``import tmesim.biology`` (the
cell programs) needs only numpy and numba.
"""

__version__ = "0.1.0"

_LAZY = {
    "Scenario": "scenario",
    "list_scenarios": "scenario",
    "load_scenario": "scenario",
    "Simulation": "simulation",
    "SolverOptions": "simulation",
    "simulate": "simulation",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
