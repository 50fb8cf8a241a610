"""tmesim: mechanistic simulation of the tumour-immune microenvironment under
immunotherapy (ferroptosis, T cell exhaustion, macrophages, CAR T cells).

Typical use::

    from tmesim import load_scenario, simulate
    scn = load_scenario("b16_icb_ferroptosis")
    ds = simulate(scn)             # xarray.Dataset on (arm, patient, time)
"""

__version__ = "0.1.0"

from .scenario import Scenario, list_scenarios, load_scenario  # noqa: E402


def simulate(scenario, **kwargs):
    """Run a scenario with the well-mixed engine (see
    :func:`tmesim.wellmixed.engine.simulate`)."""
    from .wellmixed.engine import simulate as _simulate

    return _simulate(scenario, **kwargs)


__all__ = ["Scenario", "list_scenarios", "load_scenario", "simulate", "__version__"]
