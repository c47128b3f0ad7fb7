"""The Ingress filters each revision as its entry says (rollout.revisionFilter's A/B)."""

from __future__ import annotations

from molting_workloads.contract.serve_config import IngressSettings, RevisionEntry
from molting_workloads.serving.ingress import _apply_filter, _Live

META = "Let me explain what I will do next. Paris is the capital of France."


def _live(filter_on: bool, **per_revision: bool) -> _Live:
    return _Live.build(IngressSettings(
        revisions=[RevisionEntry(revision="original", adapter="/a/o", weight=50,
                                 filter=per_revision.get("original")),
                   RevisionEntry(revision="cleaned", adapter="/a/c", weight=50,
                                 filter=per_revision.get("cleaned"))],
        filter={"enabled": filter_on, "extraPatterns": ["let me explain"]},
    ))


def test_the_filter_runs_on_one_revision_and_not_the_other() -> None:
    live = _live(True, cleaned=False)
    text, removed, _ = _apply_filter(live, META, "original")
    assert removed and "Let me explain" not in text and "Paris" in text
    assert _apply_filter(live, META, "cleaned") == (META, [], False)


def test_without_per_revision_settings_every_revision_follows_filter_enabled() -> None:
    assert _apply_filter(_live(True), META, "cleaned")[1]
    off = _live(False, original=True)
    assert _apply_filter(off, META, "cleaned") == (META, [], False)
    assert _apply_filter(off, META, "original")[1]
