"""Evaluators selectable by name with ``--evaluator``; importing this package registers them all.

To add one, write a module with an ``@EVALUATORS.register("name")`` class (see ``base.py``) and import
it below.
"""

from .base import EVALUATORS, EvaluationError, Evaluator, check_metrics
from . import detector, standalone, synthetic  # noqa: F401  (register them by name)

__all__ = ["EVALUATORS", "EvaluationError", "Evaluator", "check_metrics"]
