"""Protocols as an engine-neutral event list.

An arm's protocol (its doses, CAR T cell infusions, genetic knobs and other
parameter changes) compiles to a time-ordered list of :class:`Event`. Each
engine compiles the list its own way (the well-mixed engine into per-row
event tables and parameter rows, a spatial engine into vessel sources and
cell placements), and the results carry it (the ``event`` dimension of the
Dataset, see docs/architecture.md), so analysis reads what was given when
without re-reading the scenario.

Knobs and parameter changes act from time 0 through the arm's parameter
values; they are listed as events at day 0 so that an arm's whole protocol is
one list.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..units import conversion_factor
from . import drugs

DOSE, INFUSION, KNOB, PARAMETER = "dose", "infusion", "knob", "parameter"
#: Kinds in the order events at the same time are applied (doses before infusions, as the engines apply them).
KINDS = (KNOB, PARAMETER, DOSE, INFUSION)


@dataclass(frozen=True)
class Event:
    """One protocol event.

    ``day`` (days from the start), ``kind`` (one of :data:`KINDS`),
    ``target`` (the drug, ``"car_t"`` for an infusion, or the parameter),
    ``amount`` in ``unit`` (mg/kg for a dose, cells for an infusion, the
    parameter's internal unit for a knob or parameter change), and for an
    infusion the ``product`` (the scenario's product specification).
    """

    day: float
    kind: str
    target: str
    amount: float
    unit: str
    product: object | None = None

    @property
    def detail(self) -> str:
        """A one-line description of what else defines the event (an infusion's product), or ``""``."""
        if self.product is None:
            return ""
        p = self.product
        return (f"cd4_fraction={p.cd4_fraction:g}; manufacturing={p.manufacturing}; "
                f"ifng_knockout={str(p.ifng_knockout).lower()}; proteasome_expression={p.proteasome_expression:g}")


def arm_events(scenario, index: int) -> list[Event]:
    """The events of arm ``index`` of ``scenario``, sorted by time and, at one time, by :data:`KINDS`.

    Dose units are converted to mg/kg (an incompatible unit raises
    :class:`~tmesim.errors.InputError` naming ``arms[i].doses[k].unit``).
    """
    arm = scenario.arms[index]
    values = scenario.arm_parameter_sets[index]
    events = [Event(0.0, KNOB, name, values.by_name[name].value, values.by_name[name].unit) for name in arm.knobs]
    events += [Event(0.0, PARAMETER, name, values.by_name[name].value, values.by_name[name].unit)
               for name in arm.parameters]
    for k, dose in enumerate(arm.doses):
        drugs.get(dose.drug)
        mg_per_kg = dose.dose * conversion_factor(dose.unit, "mg/kg", f"arms[{index}].doses[{k}].unit")
        events += [Event(day, DOSE, dose.drug, mg_per_kg, "mg/kg") for day in dose.days()]
    events += [Event(prod.day, INFUSION, "car_t", prod.cells, "cell", prod) for prod in arm.products]
    events.sort(key=lambda e: (e.day, KINDS.index(e.kind)))
    return events
