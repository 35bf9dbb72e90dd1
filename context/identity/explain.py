"""Readable renderings of the identity graph: a tree of edges per customer, a waterfall per pair."""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from context.identity.models import IdentityEdge
from context.identity.service import CustomerExplanation, PairExplanation


def _describe(key: str, info: dict[str, Any]) -> str:
    parts = [info.get("name"), info.get("email"), info.get("phone"), info.get("company"), info.get("postcode")]
    return f"[bold]{key}[/]  " + " · ".join(str(p) for p in parts if p)


def _why(edge: IdentityEdge) -> str:
    when = edge.created_at.strftime("%Y-%m-%d %H:%M")
    if edge.kind == "deterministic":
        value = edge.evidence[0].get("left") if edge.evidence else "?"
        return f"same {edge.rule} [cyan]{value}[/] (deterministic rule '{edge.rule}', {edge.approved_by}, {when})"
    if edge.kind == "manual":
        return f"linked by [magenta]{edge.approved_by}[/] ({edge.rule}, {when})"
    agreeing = [
        f"{e['field']} {e['level']} ({e['bits']:+.1f})"
        for e in edge.evidence
        if e.get("field") != "prior" and e.get("bits", 0) > 0
    ]
    return f"probable match p={edge.score:.4f} (Fellegi–Sunter, {edge.approved_by}, {when}): " + ", ".join(agreeing)


def customer_tree(ex: CustomerExplanation) -> Tree:
    """Why each record is in the customer: a spanning tree from its best-ranked record, edges as evidence."""
    title = f"[bold]Customer {ex.customer_id}[/] — {len(ex.records)} records"
    if ex.aliases:
        title += f" (absorbed ids: {', '.join(ex.aliases)})"
    tree = Tree(title)
    adjacent: dict[str, list[tuple[str, IdentityEdge]]] = defaultdict(list)
    for e in sorted(ex.edges, key=lambda e: ({"manual": 0, "deterministic": 1}.get(e.kind, 2), -e.score)):
        adjacent[e.record_a].append((e.record_b, e))
        adjacent[e.record_b].append((e.record_a, e))
    if not ex.root:
        return tree
    nodes = {ex.root: tree.add(_describe(ex.root, ex.records[ex.root]) + "  [dim](anchor: best-ranked record)[/]")}
    queue = deque([ex.root])
    while queue:
        key = queue.popleft()
        for other, edge in adjacent[key]:
            if other in nodes or other not in ex.records:
                continue
            nodes[other] = nodes[key].add(_describe(other, ex.records[other]) + "\n  ← " + _why(edge))
            queue.append(other)
    for key in sorted(set(ex.records) - set(nodes)):
        tree.add(_describe(key, ex.records[key]) + "  [red](no edge found: run `identity resolve`)[/]")
    return tree


def pair_waterfall(ex: PairExplanation) -> Table:
    """The per-field contributions (log2 Bayes factors) and the running probability, as a text waterfall."""
    table = Table(title=f"{ex.a}  vs  {ex.b}  (model: {ex.model_origin})", show_lines=False)
    for column in ("field", "left", "right", "level", "bits", "cumulative", "p"):
        table.add_column(column, justify="right" if column in ("bits", "cumulative", "p") else "left")
    total = ex.score.prior_bits
    table.add_row("prior", "", "", "two random records", f"{total:+.2f}", f"{total:+.2f}", f"{_p(total):.4f}")
    for c in ex.score.contributions:
        total += c.bits
        bar = Text(("+" if c.bits > 0 else "-") * min(int(abs(c.bits)), 20), style="green" if c.bits > 0 else "red")
        level = c.level + (" (tf)" if c.tf_adjusted else "")
        table.add_row(
            c.field,
            c.left or "∅",
            c.right or "∅",
            level,
            Text(f"{c.bits:+.2f} ").append(bar),
            f"{total:+.2f}",
            f"{_p(total):.4f}",
        )
    table.caption = _caption(ex)
    return table


def _caption(ex: PairExplanation) -> str:
    lines = [f"match probability {ex.score.probability:.4f}"]
    for kind, value, status in ex.shared:
        lines.append(f"shared {kind} {value}: {status}")
    if ex.do_not_link:
        lines.append("do-not-link constraint: these records are kept apart")
    same = ex.customer_a is not None and ex.customer_a == ex.customer_b
    lines.append(f"customers: {ex.customer_a} / {ex.customer_b}" + (" (same customer)" if same else ""))
    return "\n".join(lines)


def _p(bits: float) -> float:
    return 1.0 / (1.0 + 2.0 ** (-bits)) if bits > -1000 else 0.0
