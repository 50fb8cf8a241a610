"""Virtual trials: cohorts of patients drawn from parameter distributions, run in batches on an executor
(local processes or Dask), recorded incrementally with resume, and their clinical endpoints.

    from tmesim.trials import load_cohort, run_trial
    result = run_trial(load_cohort("b16_anti_pd1_ferroptosis", patients=200), "runs/trial")

Modules: :mod:`.distributions` (marginal laws), :mod:`.cohort` (the cohort file), :mod:`.sampling`
(per-patient seeds and the Gaussian copula), :mod:`.endpoints` (per-patient endpoints),
:mod:`.batch` (one batch in a worker), :mod:`.executors` (local, Dask), :mod:`.store` (the output
folder and resume), :mod:`.runner` (all of it). The analysis of a finished trial (survival, figures,
report) is in :mod:`tmesim.analysis`.
"""

from .cohort import Cohort, list_cohorts, load_cohort
from .executors import DaskExecutor, LocalExecutor, make_executor
from .runner import TrialResult, run_trial
from .store import open_timeseries

__all__ = ["Cohort", "DaskExecutor", "LocalExecutor", "TrialResult", "list_cohorts", "load_cohort",
           "make_executor", "open_timeseries", "run_trial"]
