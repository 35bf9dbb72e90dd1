"""Adapter to the handoff package's summary quality check (handoff/quality.py).

For an escalated turn, the handoff is created the way the handoff worker would (deterministic builder when no
LLM is configured; no delivery targets), then `handoff.quality.check_summary` runs with the transcript and the
evidence (transcript + context) and the escalation's reason code. When the handoff package is not importable,
summary checks are reported as unmeasured — never as passed or failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from context.customer_context import ContextConfig

log = logging.getLogger(__name__)
SummaryCheck = Callable[[int], tuple[bool | None, str]]


def summary_check_factory(
    context_config: ContextConfig | None = None,
) -> Callable[[Engine, datetime], SummaryCheck | None] | None:
    """A factory of per-store summary checks, or None when the handoff package is not available."""
    try:
        from handoff.quality import check_summary
        from handoff.service import HandoffDeps, create_handoff, get_handoff
        from handoff.summary import gather_inputs
    except ImportError:
        return None
    from agent.models import HandoffRequest

    cc = context_config or ContextConfig()

    def factory(engine: Engine, now: datetime) -> SummaryCheck:
        # The eval's fixed "now", so the summaries' times do not depend on the day the suite runs.
        deps = HandoffDeps(engine=engine, now=lambda: now, context_config=cc)

        def run(request_id: int) -> tuple[bool | None, str]:
            try:
                with Session(engine) as session:
                    req = session.get(HandoffRequest, request_id)
                    code = req.reason_code if req is not None else None
                hid = create_handoff(deps, request_id=request_id)
                summary = get_handoff(engine=engine, handoff_id=hid).summary
                inputs = gather_inputs(
                    engine=engine,
                    request_id=request_id,
                    context_config=cc,
                    transcript_base_url="http://eval",
                    now=now,
                )
                transcript = [(m.role, m.content) for m in inputs.messages]
                report = check_summary(
                    summary, expected_reason_code=code, transcript=transcript, evidence=inputs.evidence
                )
            except Exception as exc:  # the check itself failing is "unmeasured", not a failed summary
                log.warning("summary check could not run: %s", type(exc).__name__)
                return None, f"summary check could not run: {type(exc).__name__}: {exc}"
            return report.passed, "; ".join(report.problems)

        return run

    return factory
