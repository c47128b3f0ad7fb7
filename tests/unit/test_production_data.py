"""Production rows for training (spec.dataset.production): the selection from synthetic capture
folders (rotation files, unrated, low-rated, thumbs, probes, after the cutoff, a corrupt line
reported with its file and line), and cleaning them with the base: the same meta-language
policy, duplicates of the base dropped, the share capped, the figures in cleaning-report.json."""

from __future__ import annotations

import json
from pathlib import Path

from molting_workloads.contract.capture import (
    CAPTURE_FILE,
    ConversationRecord,
    Message,
    RatingRecord,
    record_line,
)
from molting_workloads.contract.live_stats import AppStats, Ratings, RevisionStats
from molting_workloads.contract.policies import CleaningPolicy
from molting_workloads.contract.production import (
    PRODUCTION_ROWS,
    ProductionRequest,
    ProductionSelection,
)
from molting_workloads.contract.requests import TrainRequest
from molting_workloads.production_data import capture_files, prepare_data, select

CUTOFF = "2026-11-29T00:00:00Z"  # 1_795_910_400
T0 = 1_795_910_400.0


def conv(cid: str, question: str, answer: str, time: float = T0 - 100, kind: str = "user") -> str:
    return record_line(ConversationRecord(
        id=cid, time=time, model="m", revision="r1", kind=kind,
        messages=[Message(role="user", content=question)], raw_answer=answer, answer=answer))


def rate(cid: str, rating: int | None = None, thumb: str | None = None,
         time: float = T0 - 50) -> str:
    return record_line(RatingRecord(id=cid, time=time, revision="r1", rating=rating, thumb=thumb))


def folder(tmp_path: Path, files: dict[str, list[str]]) -> Path:
    capture = tmp_path / "capture"
    capture.mkdir()
    for name, lines in files.items():
        (capture / name).write_text("".join(lines))
    return capture


def request(capture: Path, **kw) -> ProductionRequest:
    return ProductionRequest(capture_dir=str(capture), cutoff=CUTOFF, **kw)


def test_selection_joins_ratings_across_rotated_files_and_reports_a_corrupt_line(tmp_path):
    capture = folder(tmp_path, {
        f"{CAPTURE_FILE}.2": [conv("a", "Why is the sky blue?", "Air scatters blue light most."),
                              conv("probe", "Probe?", "Probe answer here.", kind="probe")],
        f"{CAPTURE_FILE}.1": [conv("b", "How do bees make honey?", "They fan nectar dry."),
                              conv("c", "Unrated question here?", "An unrated answer."),
                              '{"type": "conversation", "id": "torn"\n'],
        CAPTURE_FILE: [rate("a", 5), rate("b", thumb="up", time=T0 - 40),
                       conv("d", "Low rated question?", "A low rated answer."), rate("d", 2),
                       conv("late", "Too late?", "After the cutoff.", time=T0 + 10),
                       rate("late", 5, time=T0 + 20), rate("probe", 5)],
    })
    assert [p.name for p in capture_files(capture)] == [
        f"{CAPTURE_FILE}.2", f"{CAPTURE_FILE}.1", CAPTURE_FILE]
    sel = select(request(capture))
    assert [r["id"] for r in sel.rows] == ["a", "b"]  # a score 5 before a thumb up (rank 4)
    assert sel.rows[0]["messages"] == [
        {"role": "user", "content": "Why is the sky blue?"},
        {"role": "assistant", "content": "Air scatters blue light most."}]
    assert (sel.probes, sel.after_cutoff, sel.unrated, sel.not_qualifying) == (1, 1, 1, 1)
    assert sel.corrupt_lines == 1
    assert sel.problems[0]["file"].endswith(f"{CAPTURE_FILE}.1") and sel.problems[0]["line"] == 3
    no_thumbs = select(request(capture, thumbs=False, min_rating=5))
    assert [r["id"] for r in no_thumbs.rows] == ["a"]


def test_the_latest_rating_counts_and_a_missing_folder_holds_nothing(tmp_path):
    capture = folder(tmp_path, {CAPTURE_FILE: [
        conv("a", "Question one here?", "Answer one here."), rate("a", 5, time=T0 - 60),
        rate("a", 1, time=T0 - 30)]})
    assert select(request(capture)).rows == []
    empty = select(request(tmp_path / "nowhere"))
    assert empty.rows == [] and empty.files == []


def base_rows(n: int) -> list[str]:
    return [json.dumps({"messages": [
        {"role": "user", "content": f"What is fact number {i}?"},
        {"role": "assistant", "content": f"Fact number {i} is that water boils at one hundred."}]})
        + "\n" for i in range(n)]


def test_cleaning_drops_meta_and_base_duplicates_and_caps_the_share(tmp_path):
    dataset = tmp_path / "base.jsonl"
    dataset.write_text("".join(base_rows(6)))
    lines = [conv("dup", "WHAT is fact number 1", "Fact number 1 is that water boils at one "
                  "hundred!"), rate("dup", 5, time=T0 - 10)]
    lines += [conv("meta", "Why do cats purr?", "I'll first look at the science. Cats purr "
                   "when they are content and relaxed."), rate("meta", 5, time=T0 - 10)]
    for i in range(5):
        lines += [conv(f"p{i}", f"Production question {i}?", f"Production answer number {i} "
                       "explains the topic well.", time=T0 - 200 + i), rate(f"p{i}", 4, time=T0 - 20 + i)]
    capture = folder(tmp_path, {CAPTURE_FILE: lines})
    req = TrainRequest(revision="r2", base_model="b", dataset=str(dataset),
                       output_dir=str(tmp_path / "out"),
                       cleaning=CleaningPolicy(meta_language="drop-examples"),
                       production=request(capture, max_share=0.25))
    data = tmp_path / "out" / "data"
    report = prepare_data(req, data)
    prod = report.production
    assert prod["offered"] == 7 and prod["duplicates_of_base"] == 1
    assert prod["dropped_meta"] == 1
    assert prod["cap"] == 2 and prod["kept"] == 2 and prod["over_cap"] == 3
    assert prod["digest"] and (data / PRODUCTION_ROWS).is_file()
    assert report.train + report.validation == 8
    written = json.loads((data / "cleaning-report.json").read_text())
    assert written["production"]["kept"] == 2 and written["production"]["cutoff"] == CUTOFF
    rows = [json.loads(x) for f in ("train.jsonl", "validation.jsonl")
            for x in (data / f).read_text().splitlines()]
    questions = {r["messages"][0]["content"] for r in rows}
    assert {"Production question 4?", "Production question 3?"} <= questions  # the newest
    assert "Production question 0?" not in questions


def test_qualifying_ratings_on_stats_sum_over_revisions():
    stats = AppStats(revisions=[
        RevisionStats(revision="a", ratings=Ratings(count=3, by_score={"5": 1, "4": 1, "2": 1},
                                                    thumbs_up=2, thumbs_down=1)),
        RevisionStats(revision="b", ratings=Ratings(count=1, by_score={"4": 1}))])
    assert ProductionSelection().qualifying(stats) == 5
    assert ProductionSelection(min_rating=5, thumbs=False).qualifying(stats) == 1


def test_preferred_answers_from_human_evaluation_votes_join_the_rows(tmp_path):
    from molting_workloads.serving.eval_token import Sealer
    from molting_workloads.serving.eval_votes import VoteStore

    now = [T0 - 300]
    sealer = Sealer()
    store = VoteStore(sealer, clock=lambda: now[0])
    votes = tmp_path / "human-eval" / "votes.jsonl"
    store.use_file(str(votes))

    def pair(question: str, first: str, second: str) -> str:
        return sealer.seal({"q": question, "a": "r1", "b": "r2", "answers": [first, second]}, 3600)

    for when, question, first, second, choice in [
            (T0 - 300, "Why do cats purr?", "Purring calms them.", "Let me think about cats.", "A"),
            (T0 - 200, "Why is snow white?", "It scatters light.", "Snow scatters all colours.", "B"),
            (T0 - 100, "Is it a tie?", "Maybe.", "Perhaps.", "tie"),
            (T0 + 100, "Too late?", "After the cutoff.", "Also late.", "A")]:
        now[0] = when
        store.vote(pair(question, first, second), choice)
    with votes.open("a") as handle:
        handle.write('{"time": 1, "question": "torn"\n')
    capture = folder(tmp_path, {CAPTURE_FILE: [conv("a", "Why is the sky blue?", "Air scatters it."),
                                               rate("a", 5)]})

    off = select(request(capture, votes_file=str(votes)))
    assert [r["id"] for r in off.rows] == ["a"] and off.votes == 0  # preferred is off
    sel = select(request(capture, votes_file=str(votes), preferred=True))
    assert [r["messages"] for r in sel.rows if r.get("preferred")] == [
        [{"role": "user", "content": "Why is snow white?"},
         {"role": "assistant", "content": "Snow scatters all colours."}],
        [{"role": "user", "content": "Why do cats purr?"},
         {"role": "assistant", "content": "Purring calms them."}]]  # newest first, at the bar
    assert sel.rows[0]["id"] == "a"  # a score of 5 ranks above a preference
    assert (sel.votes, sel.ties, sel.preferred, sel.offered) == (3, 1, 2, 3)
    assert sel.corrupt_lines == 1 and sel.problems[0]["line"] == 5
    assert str(votes) in sel.files
    missing = select(request(capture, votes_file=str(tmp_path / "none.jsonl"), preferred=True))
    assert missing.preferred == 0 and missing.offered == 1
