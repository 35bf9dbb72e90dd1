"""Answer-quality evals: scenario suites, runner (in-process / HTTP), checks, failure causes, metrics, reports."""
