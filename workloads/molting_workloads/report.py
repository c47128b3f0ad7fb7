"""eval-report.html: the page a person reads after `molting eval`, rendered from the report dict.

One self-contained file: inline CSS, matplotlib plots as base64 PNG (Agg, no pyplot state),
every piece of model output or input escaped.
"""

from __future__ import annotations

import base64
import io
import json
from html import escape
from typing import Any

from molting_workloads.contract.ab_stats import wilson

# (key in EvalMetrics' wire form, label, how a gate reads it)
RATE_METRICS = (
    ("metaLanguageRate", "meta-\nlanguage", "maxMetaLanguageRate", "≤"),
    ("inWindowRate", "in length\nwindow", None, ""),
    ("relevance", "relevance", "minRelevance", "≥"),
    ("repetition", "repetition", "maxRepetition", "≤"),
    ("emptyRate", "empty\nanswers", "maxEmptyRate", "≤"),
)
# Which gate verdict speaks for a metric row of the table.
GATE_OF = {"metaLanguageRate": "metaLanguage", "meanLength": "answerLength",
           "relevance": "relevance", "repetition": "repetition", "emptyRate": "emptyAnswers"}
TABLE_METRICS = (
    ("n", "questions", "{:.0f}"),
    ("metaLanguageRate", "meta-language rate", "{:.0%}"),
    ("meanLength", "mean length (chars)", "{:.0f}"),
    ("medianLength", "median length (chars)", "{:.0f}"),
    ("inWindowRate", "answers in length window", "{:.0%}"),
    ("relevance", "relevance (cosine)", "{:.3f}"),
    ("repetition", "repetition", "{:.3f}"),
    ("emptyRate", "empty answers", "{:.0%}"),
)
CANDIDATE_COLOUR, STABLE_COLOUR = "#2f6fdf", "#9aa3ad"

CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2329;
background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px}
.sub{color:#5b6570}.badge{display:inline-block;padding:3px 12px;border-radius:12px;color:#fff;
font-weight:600;margin-left:10px;font-size:15px;vertical-align:middle}
.pass{background:#1f8a4c}.fail{background:#c8352e}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border:1px solid #dde1e6;padding:6px 10px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1f8a4c;font-weight:700}.no{color:#c8352e;font-weight:700}
.plots img{max-width:100%;background:#fff;border:1px solid #dde1e6;margin:0 12px 12px 0}
.q{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:0 0 16px;padding:12px 14px}
.q h3{font-size:15px;margin:0 0 10px}.pair{display:grid;gap:12px;
grid-template-columns:repeat(auto-fit,minmax(300px,1fr))}
.ans{border-left:4px solid #ccd;padding:4px 10px;white-space:pre-wrap;word-wrap:break-word}
.ans.candidate{border-color:#2f6fdf}.ans.stable{border-color:#9aa3ad}
.who{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#5b6570}
mark{background:#ffd6d2;color:#8a1c14;border-radius:2px;padding:0 1px}
.chips span{display:inline-block;font-size:12px;background:#eef1f4;border-radius:10px;
padding:1px 8px;margin:4px 4px 0 0}.chips span.bad{background:#ffd6d2;color:#8a1c14}
pre{background:#fff;border:1px solid #dde1e6;padding:10px;overflow-x:auto;white-space:pre-wrap;
font-size:12px}
.empty{color:#8a1c14;font-style:italic}
.judge{margin-top:8px;font-size:13px;white-space:normal}.judge ul{margin:2px 0;padding-left:18px}
"""


def render_html(report: dict) -> str:
    """The whole page for an eval-report dict (as written to eval-report.json)."""
    metrics = report.get("metrics", {})
    sections = [
        _header(report),
        _metrics_table(metrics, report.get("policy", {}), report.get("gates", [])),
        _intervals(metrics),
        _gates(report.get("gates", [])),
        _judge(report.get("judge")),
        _plots(metrics, report.get("policy", {}), report.get("lossCurve") or []),
        _answers(report.get("questions", []), "stable" in metrics),
        _details(report),
        _termination(report.get("terminationMessage", "")),
    ]
    title = f"Molting eval · {report.get('revision', '')}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(sections)}</main></body></html>\n"
    )


def _header(report: dict) -> str:
    ok = report.get("passed")
    badge = '<span class="badge pass">gates passed</span>' if ok else (
        '<span class="badge fail">gates failed</span>'
    )
    against = report.get("stableRevision") or report.get("stableAdapter")
    versus = f" against stable <b>{escape(str(against))}</b>" if against else " (no stable adapter)"
    return (
        f"<h1>Evaluation of revision {escape(str(report.get('revision', '')))}{badge}</h1>"
        f"<p class=\"sub\">Candidate adapter <b>{escape(str(report.get('adapter', '')))}</b>"
        f"{versus}, on base model {escape(str(report.get('baseModel', '')))}.</p>"
    )


def _metrics_table(metrics: dict, policy: dict, gates: list[dict]) -> str:
    who = [w for w in ("candidate", "stable") if w in metrics]
    head = "".join(f"<th>{w}</th>" for w in who)
    window = policy.get("answerLength", {})
    limits = {
        "metaLanguageRate": f"≤ {policy.get('maxMetaLanguageRate', '')}",
        "meanLength": f"{window.get('min', '')}–{window.get('max', '')}",
        "relevance": f"≥ {policy.get('minRelevance', '')}",
        "repetition": f"≤ {policy.get('maxRepetition', '')}",
        "emptyRate": f"≤ {policy.get('maxEmptyRate', '')}",
    }
    verdicts = {g.get("name"): g.get("passed") for g in gates}
    rows = []
    for key, label, fmt in TABLE_METRICS:
        cells = "".join(
            f"<td class=\"num\">{escape(_fmt(fmt, metrics[w].get(key)))}</td>" for w in who
        )
        verdict = verdicts.get(GATE_OF.get(key))
        mark = "" if verdict is None else (
            ' <span class="ok">✓</span>' if verdict else ' <span class="no">✗</span>'
        )
        rows.append(f"<tr><td>{label}</td>{cells}<td>{escape(limits.get(key, ''))}{mark}</td></tr>")
    return (
        f"<h2>Metrics</h2><table><tr><th>metric</th>{head}<th>gate</th></tr>{''.join(rows)}"
        "</table>"
    )


# Rates the evaluation counts over its n answers, shown with a Wilson interval.
INTERVAL_METRICS = (("metaLanguageRate", "meta-language rate"), ("emptyRate", "empty answers"))


def interval_rows(metrics: dict, confidence: float = 0.95) -> list[tuple[str, str, str]]:
    """(metric, side, "rate [low, high]") for each rate the eval has, per revision."""
    rows = []
    for key, label in INTERVAL_METRICS:
        for who in ("candidate", "stable"):
            side = metrics.get(who) or {}
            n, rate = side.get("n"), side.get(key)
            if not n or rate is None:
                continue
            est = wilson(round(rate * n), int(n), confidence)
            rows.append((label, who, f"{est.value:.0%} [{est.low:.0%}, {est.high:.0%}] of {n}"))
    return rows


def _intervals(metrics: dict) -> str:
    rows = "".join(
        f"<tr><td>{escape(label)}</td><td>{who}</td><td class=\"num\">{escape(text)}</td></tr>"
        for label, who, text in interval_rows(metrics)
    )
    if not rows:
        return ""
    return (
        "<h2>Rates with 95% intervals</h2><p class=\"sub\">Wilson score intervals over the "
        "evaluation's answers: with few questions a gap between the revisions can be noise. "
        "(No ratings or rubric scores in this evaluation.)</p>"
        f"<table><tr><th>metric</th><th>revision</th><th>rate [95% interval]</th></tr>{rows}"
        "</table>"
    )


def _fmt(fmt: str, value: Any) -> str:
    return "–" if value is None else fmt.format(value)


def _gate_mark(g: dict) -> str:
    return "✓" if g.get("passed") else "!" if g.get("state") == "Error" else "✗"


def _gates(gates: list[dict]) -> str:
    rows = "".join(
        f"<tr><td class=\"{'ok' if g.get('passed') else 'no'}\">{_gate_mark(g)}"
        f"{' Error' if g.get('state') == 'Error' else ''}</td><td>{escape(str(g.get('name', '')))}</td>"
        f"<td>{escape(str(g.get('threshold', '')))}</td><td>{escape(str(g.get('reason', '')))}"
        f"{' (advisory: not counted)' if g.get('advisory') else ''}</td></tr>"
        for g in gates
    )
    return (
        "<h2>Gates</h2><table><tr><th></th><th>gate</th><th>threshold</th><th>result</th></tr>"
        f"{rows}</table>"
    )


def _judge(judge: dict | None) -> str:
    """The judge, its rubric and the mean score per criterion (or why there is none)."""
    if not judge:
        return ""
    means = judge.get("means") or {}
    rows = "".join(
        f"<tr><td>{escape(str(c.get('name')))}</td><td>{escape(str(c.get('description')))}</td>"
        f"<td class=\"num\">{escape(_fmt('{:.2f}', means.get(c.get('name'))))}</td>"
        f"<td>≥ {escape(str(c.get('minScore')))}</td></tr>"
        for c in judge.get("criteria", [])
    )
    error = judge.get("error")
    note = (f"<p class=\"no\">The judge gave no scores: {escape(str(error))}</p>" if error else
            f"<p class=\"sub\">{judge.get('n', 0)} answers scored out of 10 "
            f"({judge.get('cached', 0)} replies from the cache).</p>")
    return (
        f"<h2>Judge</h2><p class=\"sub\">Model <b>{escape(str(judge.get('model', '')))}</b> at "
        f"{escape(str(judge.get('url', '')))}.</p>{note}<table><tr><th>criterion</th>"
        f"<th>what it scores</th><th>mean</th><th>gate</th></tr>{rows}</table>"
    )


def _judged(row: dict | None) -> str:
    """One answer's judge scores with the judge's reasons, or its refusal with the reply."""
    if not row:
        return ""
    if "scores" in row:
        items = "".join(
            f"<li><b>{escape(name)}</b> {s.get('score', 0):g}/10 — "
            f"{escape(s.get('reason') or '(no reason given)')}</li>"
            for name, s in row["scores"].items()
        )
        return f"<div class=\"judge\"><div class=\"who\">judge</div><ul>{items}</ul></div>"
    return (f"<div class=\"judge\"><div class=\"who\">judge</div>"
            f"<p class=\"no\">{escape(str(row.get('error', '')))}</p></div>")


def _plots(metrics: dict, policy: dict, loss: list[dict]) -> str:
    images = [f'<img alt="metrics, candidate vs stable" src="{plot_metrics(metrics, policy)}">']
    if loss:
        images.append(f'<img alt="training loss curve" src="{plot_loss(loss)}">')
    note = "" if loss else "<p class=\"sub\">No training loss curve (no train-report.json).</p>"
    return f"<h2>Plots</h2><div class=\"plots\">{''.join(images)}</div>{note}"


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def plot_metrics(metrics: dict, policy: dict) -> str:
    """Rates (0..1) as grouped bars with gate marks, and lengths against the target window."""
    from matplotlib.figure import Figure

    who = [w for w in ("stable", "candidate") if w in metrics]
    colours = {"stable": STABLE_COLOUR, "candidate": CANDIDATE_COLOUR}
    fig = Figure(figsize=(10.5, 3.8))
    rates, lengths = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1.3]})
    width = 0.8 / len(who)
    for i, (key, _label, gate, sign) in enumerate(RATE_METRICS):
        for j, w in enumerate(who):
            x = i - 0.4 + width * (j + 0.5)
            value = metrics[w].get(key) or 0.0
            rates.bar(x, value, width, color=colours[w], label=w if i == 0 else None)
            rates.text(x, value + 0.02, f"{value:.2f}", ha="center", fontsize=8)
        if gate and gate in policy:
            rates.hlines(policy[gate], i - 0.45, i + 0.45, colors="#c8352e", linestyles="--")
            rates.text(i + 0.45, policy[gate] + 0.01, f"{sign}{policy[gate]}", color="#c8352e",
                       fontsize=8, va="bottom", ha="right")
    rates.set_xticks(range(len(RATE_METRICS)), [m[1] for m in RATE_METRICS], fontsize=9)
    rates.set_ylim(min(0.0, *(metrics[w].get("relevance", 0) for w in who)) - 0.02, 1.12)
    rates.set_title("Rates, candidate vs stable (dashed red: gate)", fontsize=11)
    rates.legend(loc="upper right", fontsize=9, frameon=False)
    window = policy.get("answerLength", {})
    if window:
        lengths.axhspan(window["min"], window["max"], color="#1f8a4c", alpha=0.12,
                        label=f"target {window['min']}–{window['max']}")
    for j, w in enumerate(who):
        for i, key in enumerate(("meanLength", "medianLength")):
            x = i - 0.4 + width * (j + 0.5)
            lengths.bar(x, metrics[w].get(key) or 0.0, width, color=colours[w])
    lengths.set_xticks([0, 1], ["mean", "median"], fontsize=9)
    lengths.set_title("Answer length (chars)", fontsize=11)
    lengths.legend(loc="upper right", fontsize=8, frameon=False)
    for ax in (rates, lengths):
        ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def plot_loss(points: list[dict]) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.2))
    ax = fig.subplots()
    ax.plot([p["step"] for p in points], [p["loss"] for p in points], color=CANDIDATE_COLOUR,
            marker="." if len(points) < 60 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("Training loss of the candidate", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def highlight(text: str, spans: list[dict]) -> str:
    """``text`` escaped, with each meta-language span in <mark>; overlapping spans merge."""
    out, at = [], 0
    for span in sorted(spans, key=lambda s: s["start"]):
        start, end = max(span["start"], at), span["end"]
        if end <= start:
            continue
        out.append(escape(text[at:start]))
        why = "meta-language: " + ", ".join(span.get("matches", []))
        if "score" in span:
            why = f"meta-language (detector score {span['score']:.2f}): " + ", ".join(
                m for m in span.get("matches", []) if m != span.get("text"))
        out.append(f'<mark title="{escape(why)}">{escape(text[start:end])}</mark>')
        at = end
    out.append(escape(text[at:]))
    return "".join(out)


def _answer(who: str, row: dict) -> str:
    text = row.get("answer", "")
    body = highlight(text, row.get("metaSpans", [])) if text.strip() else (
        '<span class="empty">(empty answer)</span>'
    )
    chips = [
        (f"{row.get('length', 0)} chars", not row.get("inWindow", True)),
        ("meta-language" if row.get("metaLanguage") else "no meta-language",
         bool(row.get("metaLanguage"))),
        (f"relevance {row.get('relevance', 0):.2f}", False),
        (f"repetition {row.get('repetition', 0):.2f}", False),
    ]
    chip_html = "".join(
        ('<span class="bad">' if bad else "<span>") + f"{escape(label)}</span>"
        for label, bad in chips
    )
    return (
        f"<div class=\"ans {who}\"><div class=\"who\">{who}</div>{body}"
        f"<div class=\"chips\">{chip_html}</div>{_judged(row.get('judge'))}</div>"
    )


def _answers(questions: list[dict], with_stable: bool) -> str:
    blocks = []
    for q in questions:
        pair = (_answer("stable", q["stable"]) if with_stable and "stable" in q else "") + (
            _answer("candidate", q["candidate"])
        )
        blocks.append(
            f"<div class=\"q\"><h3>Q{q.get('index', '')}. {escape(q.get('question', ''))}</h3>"
            f"<div class=\"pair\">{pair}</div></div>"
        )
    legend = "<p class=\"sub\">Highlighted: meta-language the filter would remove.</p>"
    return f"<h2>Answers</h2>{legend}{''.join(blocks)}"


def _details(report: dict) -> str:
    rel = report.get("relevance", {})
    backend = f"{rel.get('backend', '?')}: {rel.get('description', '')}"
    if rel.get("fallbackReason"):
        backend += f" (fallback because: {rel['fallbackReason']})"
    gen = report.get("generation", {})
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in report.get("timings", {}).items())
    rows = [
        ("questions file", report.get("questionsFile")),
        ("stable adapter", report.get("stableAdapter") or "none"),
        ("generation", f"greedy, max {gen.get('maxNewTokens')} new tokens, seed {gen.get('seed')}"),
        ("relevance backend", backend),
        ("training report", report.get("trainReport") or "none"),
        ("timings", timings),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return f"<h2>Run</h2><table>{body}</table>"


def _termination(text: str) -> str:
    """The summary the Job wrote as its termination message, indented for reading."""
    size = len(text.encode())
    try:
        shown = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except json.JSONDecodeError:
        shown = text
    return (
        f"<h2>Termination message</h2><p class=\"sub\">What the Job reports to Kubernetes "
        f"({size} of 4096 bytes, written compact):</p><pre>{escape(shown)}</pre>"
    )
