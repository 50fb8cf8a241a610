"""Parameter sets: records of value, unit and source, checked on load."""

from .loader import ParameterRecord, ParameterSet, citations, list_parameter_sets, load_parameter_set

__all__ = ["ParameterRecord", "ParameterSet", "citations", "list_parameter_sets", "load_parameter_set"]
