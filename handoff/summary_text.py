"""The summary for people: plain text (email, Slack-style targets) and compact markdown (inbox, tickets).

Both lead with the headline — the one line a busy agent needs — then what to do, then the details.
"""

from __future__ import annotations

from handoff.models import HandoffSummary


def _when(summary: HandoffSummary) -> str:
    bh = summary.business_hours
    return ("within business hours" if bh.within else "OUTSIDE business hours") + f"; customer told: {bh.customer_told}"


def _customer(summary: HandoffSummary) -> str:
    c = summary.customer
    if not c.verified:
        return f"unverified visitor{' calling themselves ' + c.name if c.name else ''} (no account data shown)"
    bits = [c.name or "?", f"id {c.customer_id}", c.status or "", c.plan or ""]
    if c.lifetime_value:
        bits.append(f"LTV {c.lifetime_value}")
    return ", ".join(b for b in bits if b) + " (verified)"


def render_text(summary: HandoffSummary) -> str:
    """Plain text, for email and chat-style targets."""
    lines = [
        summary.headline,
        "",
        f"Next step: {summary.suggested_next_step}",
        f"Problem: {summary.problem}",
        f"Reason: {summary.reason_code} - {summary.reason}",
        f"Customer: {_customer(summary)}",
        f"Priority: {summary.priority.level} (rule {summary.priority.rule}: {summary.priority.why})",
        f"Sentiment: {summary.sentiment}",
        f"Hours: {_when(summary)}",
    ]
    if summary.verified_facts:
        lines += ["", "Verified from our systems:"]
        for f in summary.verified_facts:
            as_of = f", as of {f.as_of:%Y-%m-%d %H:%M} UTC" if f.as_of else ""
            lines.append(f"  - {f.label}: {f.value} [{f.source}{as_of}]")
    if summary.customer_claims:
        lines += ["", "Customer says (not verified):"]
        lines += [f"  - {c.claim}" for c in summary.customer_claims]
    if summary.promises:
        lines += ["", "Promised to the customer:"]
        lines += [f"  - ({p.by}) {p.text}" for p in summary.promises]
    if summary.bot_attempts:
        lines += ["", "The bot already said:"]
        for a in summary.bot_attempts:
            cited = f" [cited: {', '.join(c.title for c in a.cited)}]" if a.cited else ""
            lines.append(f"  - {a.said}{cited}")
    col = summary.collected
    info = []
    if col.order_numbers:
        info.append("orders " + ", ".join(col.order_numbers))
    if col.tracking_numbers:
        info.append("tracking " + ", ".join(col.tracking_numbers))
    if col.amounts:
        info.append("amounts " + ", ".join(col.amounts))
    if col.photos_mentioned:
        info.append("photos mentioned")
    if col.preferred_contact:
        info.append(f"contact: {col.preferred_contact}")
    info += [f"{k}: {v}" for k, v in col.lead.items()]
    if info:
        lines += ["", "Collected: " + "; ".join(info)]
    if summary.unsupported_removed:
        lines += ["", f"Removed {len(summary.unsupported_removed)} unsupported fact(s) the model wrote."]
    lines += ["", f"Transcript: {summary.transcript_url}", f"Written by: {summary.written_by}"]
    return "\n".join(lines)


def render_markdown(summary: HandoffSummary) -> str:
    """Compact markdown, for the inbox page and ticket bodies."""
    out = [
        f"**{summary.headline}**",
        "",
        f"**Next step:** {summary.suggested_next_step}  ",
        f"**Problem:** {summary.problem}  ",
        f"**Reason:** `{summary.reason_code}` — {summary.reason}  ",
        f"**Customer:** {_customer(summary)}  ",
        f"**Priority:** {summary.priority.level} (`{summary.priority.rule}`: {summary.priority.why}) · "
        f"**Sentiment:** {summary.sentiment}  ",
        f"**Hours:** {_when(summary)}",
    ]
    if summary.verified_facts:
        out += ["", "**Verified**", ""]
        for f in summary.verified_facts:
            as_of = f", {f.as_of:%Y-%m-%d %H:%M}Z" if f.as_of else ""
            out.append(f"- {f.label}: {f.value} _({f.source}{as_of})_")
    if summary.customer_claims:
        out += ["", "**Customer says (unverified)**", ""] + [f"- {c.claim}" for c in summary.customer_claims]
    if summary.promises:
        out += ["", "**Promised**", ""] + [f"- {p.text}" for p in summary.promises]
    if summary.bot_attempts:
        out += ["", "**Bot tried**", ""]
        for a in summary.bot_attempts:
            cited = " — " + ", ".join(f"[{c.title}]({c.url})" for c in a.cited) if a.cited else ""
            out.append(f"- {a.said}{cited}")
    out += ["", f"[Full transcript]({summary.transcript_url}) · written by {summary.written_by}"]
    return "\n".join(out)
