"""Errors of the evals package.

EvalError
├── SuiteError        a suite file that cannot be read or validated (names the file, scenario and field)
├── TargetError       the agent under test cannot be reached or answered with an error
├── PerturbationError a perturbation that cannot be applied (unknown field, unsupported database)
└── ResultsError      a results.json that is missing or unreadable (compare, report)
"""

from __future__ import annotations


class EvalError(Exception):
    """Root of every error raised by the evals package."""


class SuiteError(EvalError, ValueError):
    """A suite file that cannot be read or is invalid."""


class TargetError(EvalError):
    """The agent under test failed to answer."""


class PerturbationError(EvalError, ValueError):
    """A perturbation that cannot be applied."""


class ResultsError(EvalError):
    """A results directory without a readable results.json."""
