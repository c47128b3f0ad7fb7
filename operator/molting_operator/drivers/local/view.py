"""What `molting up`, `get` and `describe` print: the `kubectl get moltingmodels` table, training
progress, gate verdicts and the canary weight."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from molting_operator.api.status import MoltingModelStatus
from molting_operator.drivers.local.state import StateDir

COLUMNS = ("NAME", "PHASE", "STABLE", "CANDIDATE", "CANARY", "META-LANG", "AGE")
PHASE_STYLE = {"Serving": "green", "Canary": "yellow", "Training": "cyan", "Evaluating": "cyan",
               "GateFailed": "red", "RolledBack": "magenta", "Failed": "red", "Pending": "dim"}


def age(created: str | None, now: datetime | None = None) -> str:
    if not created:
        return "-"
    seconds = int(((now or datetime.now(UTC)) - datetime.fromisoformat(created)).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def row(name: str, status: MoltingModelStatus, created: str | None) -> list[str]:
    return [
        name,
        status.phase.value,
        status.stable.revision if status.stable else "<none>",
        status.candidate.revision if status.candidate else "<none>",
        f"{status.canary_weight}%" if status.canary_weight is not None else "-",
        status.meta_language_rate_text or "-",  # the META-LANG column's own field
        age(created),
    ]


def table(state: StateDir, names: list[str]) -> Table:
    out = Table(box=None, header_style="bold", pad_edge=False)
    for col in COLUMNS:
        out.add_column(col)
    for name in names:
        status = state.load_status(name)
        cells = row(name, status, state.load_meta(name).get("creationTimestamp"))
        cells[1] = f"[{PHASE_STYLE.get(cells[1], '')}]{cells[1]}[/]"
        out.add_row(*cells)
    return out


def gates(status: MoltingModelStatus) -> RenderableType | None:
    ref = status.candidate if status.candidate and status.candidate.evaluation else status.stable
    if not ref or not ref.evaluation or not ref.evaluation.gates:
        return None
    lines = Text(f"gates of {ref.revision}: ")
    gates_ = ref.evaluation.gates
    for i, g in enumerate(gates_):
        error = g.state == "Error"
        lines.append(("✓ " if g.passed else "! " if error else "✗ ") + g.name,
                     style="green" if g.passed else "red")
        following = gates_[i + 1] if i + 1 < len(gates_) else None
        if following is not None and (following.reason, following.state, following.advisory) == (
                g.reason, g.state, g.advisory):
            lines.append(", ")  # the judge's gates share one error: said once, after the last
            continue
        lines.append(f" ({'Error: ' if error else ''}{g.reason}"
                     f"{'; advisory' if g.advisory else ''})  ")
    return lines


def live(state: StateDir, name: str, events: list[str], error: str | None) -> Group:
    status = state.load_status(name)
    parts: list[RenderableType] = [table(state, [name])]
    if status.progress and status.progress.total:
        p = status.progress
        loss = f" loss {p.loss:.3f}" if p.loss is not None else ""
        eta = f" ETA {p.eta_seconds:.0f}s" if p.eta_seconds is not None else ""
        parts.append(Group(Text(f"training {status.candidate.revision}: step {p.step}/{p.total}"
                                f"{loss}{eta}"), ProgressBar(total=p.total, completed=p.step, width=50)))
    if (g := gates(status)) is not None:
        parts.append(g)
    if status.traffic:
        split = "  ".join(f"{t.revision} {'█' * (t.weight // 5)} {t.weight}%" for t in status.traffic)
        parts.append(Text(f"traffic: {split}"))
    if status.canary and status.canary.analysis:
        parts.append(Text(f"canary step {status.canary.step + 1}: {status.canary.analysis}", style="dim"))
    if (p := production(status)) is not None:
        parts.append(p)
    if status.phase.value == "Canary" and (v := verdict(status)) is not None:
        parts.append(v)
    parts += [Text(e, style="dim") for e in events[-6:]]
    if error:
        parts.append(Text(error, style="yellow"))
    return Group(*parts)


def _figure(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" + (f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None
                             else "")


def production(status: MoltingModelStatus) -> RenderableType | None:
    """Where the production loop stands (spec.dataset.production): the cutoff revisions train
    on, and the qualifying ratings the app had counted then."""
    mark = status.production
    if mark is None:
        return None
    rated = f"; {mark.rated} qualifying ratings counted then" if mark.rated is not None else ""
    return Text(f"production: new revisions train on conversations captured up to {mark.cutoff}"
                f"{rated}")


def verdict(status: MoltingModelStatus) -> RenderableType | None:
    """The canary's last not-worse verdict: each revision's figure with its interval."""
    v = status.verdict
    if v is None:
        return None
    title = (f"Not-worse verdict ({v.at}): {v.decision.value}, {v.metric}, margin {v.margin}, "
             f"confidence {v.confidence:.0%}")
    table_ = Table(title=title, box=None, header_style="bold", title_justify="left")
    for col in ("ROLE", "REVISION", "N", f"{v.metric} [{v.confidence:.0%} interval]"):
        table_.add_column(col)
    table_.add_row("candidate", v.candidate_revision, str(v.candidate.n),
                   _figure(v.candidate.value, v.candidate.low, v.candidate.high))
    table_.add_row("stable", v.stable_revision, str(v.stable.n),
                   _figure(v.stable.value, v.stable.low, v.stable.high))
    table_.add_row("difference", "", "", _figure(v.difference, v.difference_low, v.difference_high)
                   + f"  (one-sided {v.confidence:.0%})")
    table_.caption, table_.caption_justify = v.reason, "left"
    return table_


def describe(state: StateDir, name: str) -> Group:
    status = state.load_status(name)
    parts: list[RenderableType] = [table(state, [name])]
    cond = Table(title="Conditions", box=None, header_style="bold", title_justify="left")
    for col in ("TYPE", "STATUS", "REASON", "MESSAGE", "SINCE"):
        cond.add_column(col)
    for c in status.conditions:
        cond.add_row(c.type, c.status, c.reason, c.message, c.last_transition_time)
    parts.append(cond)
    refs = Table(title="Revisions", box=None, header_style="bold", title_justify="left")
    for col in ("ROLE", "REVISION", "ADAPTER", "META-LANG", "LENGTH", "RELEVANCE", "PRODUCTION",
                "REPORT"):
        refs.add_column(col)
    for role, ref in (("stable", status.stable), ("previous", status.previous),
                      ("candidate", status.candidate)):
        if ref is None:
            continue
        ev = ref.evaluation
        report = _html(ev.report) if ev and ev.report else "-"
        refs.add_row(role, ref.revision, ref.adapter or "-",
                     f"{ev.meta_language_rate:.2f}" if ev and ev.meta_language_rate is not None else "-",
                     f"{ev.mean_length:.0f}" if ev and ev.mean_length is not None else "-",
                     f"{ev.relevance:.2f}" if ev and ev.relevance is not None else "-",
                     _production_rows(ref), report)
    parts.append(refs)
    if (p := production(status)) is not None:
        parts.append(p)
    if (g := gates(status)) is not None:
        parts.append(g)
    if (v := verdict(status)) is not None:
        parts.append(v)
    hist = Table(title="History", box=None, header_style="bold", title_justify="left")
    for col in ("AT", "REVISION", "OUTCOME", "REASON"):
        hist.add_column(col)
    for h in status.history:
        hist.add_row(h.at, h.revision, h.outcome, h.reason)
    parts.append(hist)
    ev_table = Table(title="Events", box=None, header_style="bold", title_justify="left")
    for col in ("AT", "TYPE", "REASON", "MESSAGE"):
        ev_table.add_column(col)
    for e in state.events(name, last=15):
        ev_table.add_row(e["at"], e["type"], e["reason"], e["message"])
    parts.append(ev_table)
    return Group(*parts)


def _production_rows(ref) -> str:
    """A revision's production data: "12 rows to <cutoff>", or "-" without any."""
    if ref.production is None:
        return "-"
    rows = ref.production.rows
    count = "? rows" if rows is None else f"{rows} row{'' if rows == 1 else 's'}"
    return f"{count} to {ref.production.cutoff}"


def _html(report: str) -> str:
    html = Path(report).with_suffix(".html")
    return str(html if html.exists() else report)
