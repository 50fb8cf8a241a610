"""Protocols as data: drug schedules with PK/PD, CAR T cell products, genetic knobs."""
