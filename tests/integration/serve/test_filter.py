"""The filter middleware on the live path: answers of the meta-language adapter come back
without meta-language, the response says so, and the per-revision counters agree with what was
sent. Probe requests are counted apart from users."""

from __future__ import annotations

from servekit import QUESTIONS, ServedApp, delta

from molting_workloads.contract.policies import FilterPolicy
from molting_workloads.language import MetaLanguage

PIN = {"x-molting-revision": "canary"}


def _ask_all(app: ServedApp, client) -> list[dict]:
    """One question at a time (batches of one: greedy answers are reproducible)."""
    answers = []
    for question in QUESTIONS:
        r = app.chat(client, headers=PIN, messages=[{"role": "user", "content": question}], max_tokens=24)
        assert r.status_code == 200, r.text
        body = r.json()
        assert r.headers["x-molting-filtered"] == ("true" if body["molting"]["filtered"] else "false")
        answers.append(body)
    return answers


def test_filter_removes_meta_language_and_the_counters_agree(app: ServedApp, client):
    meta = MetaLanguage(threshold=FilterPolicy().meta_threshold)  # what the served filter uses
    # The raw answers first: the same app with the filter off (a user_config change).
    app.apply(app.base.model_copy(update={"filter": app.base.filter.model_copy(update={"enabled": False})}))
    raw = [b["choices"][0]["message"]["content"] for b in _ask_all(app, client)]
    assert any(meta.contains(text) for text in raw), "the meta-language adapter produced none"

    app.reset()
    before = app.stats().of("canary").user
    bodies = _ask_all(app, client)
    after = app.stats().of("canary").user

    sent = [b["choices"][0]["message"]["content"] for b in bodies]
    for raw_text, text, body in zip(raw, sent, bodies, strict=True):
        expected = meta.strip(raw_text)
        assert text == expected.text
        assert body["molting"]["removed"] == len(expected.removed)
        assert body["molting"]["fallback"] == bool(expected.fallback)
        if not expected.fallback:
            assert not meta.contains(text)
        assert text.strip(), "the filter never returns an empty answer"
    assert delta(after, before, "requests") == len(QUESTIONS)
    assert delta(after, before, "errors") == 0
    assert delta(after, before, "meta_hits") == sum(meta.contains(t) for t in raw)
    assert delta(after, before, "filter_removals") == sum(b["molting"]["removed"] for b in bodies)
    assert delta(after, before, "filtered_answers") == sum(b["molting"]["filtered"] for b in bodies)


def test_probe_requests_are_counted_apart_from_users(app: ServedApp):
    before = app.stats().of("canary")
    with app.admin() as admin:
        answers = admin.probe(app.url, "canary", QUESTIONS[:3], max_tokens=8)
    after = app.stats().of("canary")
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)
    assert delta(after.probe, before.probe, "requests") == 3
    assert after.user.requests == before.user.requests
