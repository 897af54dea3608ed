"""Pure rule evaluation: rule definitions and the vectorised evaluator (no I/O).

:class:`Rule` and its parts validate definitions; :class:`Evaluator` runs every rule over a
scored batch and returns :class:`Changes` (opened/closed cells and the latest values of
open ones), naming each cell's :class:`Subject`.
"""

from controlcenter.alerts.rules.changes import Changes, Subject
from controlcenter.alerts.rules.evaluate import Evaluator
from controlcenter.alerts.rules.rule import Condition, Rule, Scope, Severity, Step

__all__ = ["Changes", "Condition", "Evaluator", "Rule", "Scope", "Severity", "Step", "Subject"]
