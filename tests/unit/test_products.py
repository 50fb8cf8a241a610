"""CAR T manufacturing (protocols/products.py): the culture's state apart from the cells' lifelong expression,
and bortezomib's toxicity in culture paid as a longer culture (the dose is a cell number)."""

from __future__ import annotations

import numpy as np
import pytest

from tmesim.errors import InputError
from tmesim.params import load_parameter_set
from tmesim.params.index import COLUMN
from tmesim.params.resolve import resolve, resolve_group
from tmesim.protocols import products
from tmesim.wellmixed.layout import ROW

A = {name: k for k, name in enumerate(products.AXIS)}
MIN_PER_DAY = 1440.0


def _made(changes: dict[str, float] | None = None, bortezomib: bool = False, set_name: str = "human_ball_cd19car"):
    """(axis at infusion, product row) of a product made with the set's values, ``changes`` in internal units."""
    v = load_parameter_set(set_name).vector()[None, :].copy()
    for name, value in (changes or {}).items():
        v[0, COLUMN[name]] = value
    car, product = resolve(v, ROW)[0].car_t, resolve_group(v, products.PARAMS)[0]
    return products.manufacture(car, product, bortezomib), product


def test_culture_expression_sets_the_product_state_at_infusion():
    # the culture's proteasome expression raises the product's proteasome, haem and lowers BACH2 and its memory share
    low, product = _made({"car_culture_proteasome_expression": 0.5})
    mid, _ = _made()
    high, _ = _made({"car_culture_proteasome_expression": 2.0})
    assert mid[A["proteasome"]] == pytest.approx(1.6355, abs=1e-3)  # 9 days at stimulation 0.6: 1 + 2 x 0.343
    assert high[A["proteasome"]] / mid[A["proteasome"]] == pytest.approx(2.0, rel=1e-3)
    assert low[A["proteasome"]] / mid[A["proteasome"]] == pytest.approx(0.5, rel=1e-3)
    assert low[A["nuclear_heme"]] < mid[A["nuclear_heme"]] < high[A["nuclear_heme"]]
    assert low[A["bach2"]] > mid[A["bach2"]] > high[A["bach2"]]
    assert products.memory_fraction(product, high) < products.memory_fraction(product, mid) < \
        products.memory_fraction(product, low)
    # depolarisation and PD-1 do not depend on proteasome expression
    np.testing.assert_allclose(low[[A["mito_depolarization"], A["pd1"]]], high[[A["mito_depolarization"], A["pd1"]]])


def test_culture_expression_and_lifelong_expression_act_alike_in_culture_only():
    # in culture the two multiply, so the product is the same; in the patient only the lifelong one acts
    culture, _ = _made({"car_culture_proteasome_expression": 2.0})
    lifelong, _ = _made({"car_proteasome_expression": 2.0})
    np.testing.assert_allclose(culture, lifelong, rtol=1e-12)


def test_bortezomib_culture_runs_longer_for_the_same_dose():
    _, product = _made()
    g = product["car_culture_expansion_rate"] * MIN_PER_DAY
    d = product["car_bortezomib_culture_death_rate"] * MIN_PER_DAY
    assert (g, d) == pytest.approx((0.5, 0.05))
    assert products.culture_duration(product, False) / MIN_PER_DAY == pytest.approx(9.0)
    # the same net expansion: 0.5 x 9 = 0.45 x 10 (e^4.5, about 90-fold)
    assert products.culture_duration(product, True) / MIN_PER_DAY == pytest.approx(10.0)
    # at the standard 9 days a bortezomib culture holds e^-0.45 = 64% of a standard one's cells
    assert products.culture_yield(product, True) == pytest.approx(np.exp(-0.45))
    assert products.culture_yield(product, False) == 1.0
    assert products.culture_yield(product, True, 10.0 * MIN_PER_DAY) == pytest.approx(np.exp(-0.5))


def test_the_longer_culture_is_the_dose_cost_in_the_product_state():
    toxic, _ = _made(bortezomib=True)
    harmless, _ = _made({"car_bortezomib_culture_death_rate": 0.0}, bortezomib=True)
    standard, _ = _made()
    # a day more of stimulation: more depolarised mitochondria, so more proteasome and haem, less BACH2
    assert toxic[A["mito_depolarization"]] > harmless[A["mito_depolarization"]]
    assert toxic[A["mito_depolarization"]] == pytest.approx(0.3639, abs=1e-3)
    assert harmless[A["mito_depolarization"]] == pytest.approx(standard[A["mito_depolarization"]])
    assert toxic[A["proteasome"]] > harmless[A["proteasome"]]
    assert toxic[A["bach2"]] < harmless[A["bach2"]]
    # the inhibition still wins: the bortezomib product stays less exhausted than the standard one
    assert toxic[A["proteasome"]] < 0.5 * standard[A["proteasome"]]
    assert toxic[A["bach2"]] > standard[A["bach2"]]


def test_a_culture_that_never_reaches_the_dose_is_bad_input():
    _, product = _made({"car_bortezomib_culture_death_rate": 1.0 / MIN_PER_DAY})
    with pytest.raises(InputError) as err:
        products.culture_duration(product, True, "arms[2].parameters")
    assert err.value.field == "arms[2].parameters.car_bortezomib_culture_death_rate"
    assert "never reach the dose" in str(err.value)
    assert products.culture_duration(product, False) == pytest.approx(9.0 * MIN_PER_DAY)  # standard: no bortezomib
