"""The training Job's production rows (``spec.dataset.production``): read a capture folder,
join conversations to their ratings, keep the user conversations whose latest rating qualifies
and that were answered by the cutoff (and, with ``preferred``, the answers that won a human
evaluation vote by then), and write them as chat rows to ``production.jsonl`` (with a digest)
for cleaning, which treats them as it treats the base dataset and then drops those the
base holds and caps their share (cleaning.py, ``production=``).

A corrupt capture or vote line is reported with its file and line and skipped, never fatal: the
files are appended by a running app, and a torn last line is expected after a crash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from molting_workloads.contract.capture import (
    CAPTURE_FILE,
    ConversationRecord,
    RatingRecord,
    read_record,
)
from molting_workloads.contract.layout import CLEANING_REPORT
from molting_workloads.contract.production import PRODUCTION_ROWS, ProductionRequest
from molting_workloads.contract.requests import TrainRequest

MAX_PROBLEMS = 20  # corrupt lines listed in the report (all are counted)


@dataclass
class Selection:
    """What the capture folder held and what was offered to cleaning."""

    capture_dir: str
    cutoff: str
    files: list[str] = field(default_factory=list)
    conversations: int = 0  # user conversations answered by the cutoff
    probes: int = 0  # probe conversations (never trained on)
    after_cutoff: int = 0
    ratings: int = 0
    unrated: int = 0
    not_qualifying: int = 0  # rated, but below minRating or a thumb down
    votes: int = 0  # human evaluation votes cast by the cutoff (with ``preferred``)
    ties: int = 0
    preferred: int = 0  # rows from the answers those votes preferred
    corrupt_lines: int = 0
    problems: list[dict] = field(default_factory=list)  # {file, line, reason}, the first ones
    offered: int = 0
    rows_file: str = ""
    digest: str = ""  # sha256 of rows_file
    rows: list[dict] = field(default_factory=list, repr=False)


def capture_files(folder: Path) -> list[Path]:
    """The capture files, oldest first: capture.jsonl.N .. capture.jsonl.1, capture.jsonl."""
    rotated = []
    for path in folder.glob(f"{CAPTURE_FILE}.*"):
        suffix = path.name[len(CAPTURE_FILE) + 1:]
        if suffix.isdigit():
            rotated.append((int(suffix), path))
    current = folder / CAPTURE_FILE
    return [p for _, p in sorted(rotated, reverse=True)] + ([current] if current.is_file() else [])


def epoch(moment: str) -> float:
    """Epoch seconds of an RFC 3339 time such as 2026-11-29T10:00:00Z."""
    return datetime.fromisoformat(moment).timestamp()  # Python 3.11 reads the Z itself


def select(request: ProductionRequest) -> Selection:
    """The qualifying conversations of ``request.capture_dir``, highest rated then newest first
    (a missing folder holds none)."""
    sel = Selection(capture_dir=request.capture_dir, cutoff=request.cutoff)
    cutoff = epoch(request.cutoff)
    conversations: dict[str, ConversationRecord] = {}
    latest: dict[str, RatingRecord] = {}
    for path in capture_files(Path(request.capture_dir)):
        sel.files.append(str(path))
        for record in _records(path, sel):
            if isinstance(record, RatingRecord):
                sel.ratings += 1
                if record.id not in latest or record.time >= latest[record.id].time:
                    latest[record.id] = record
            elif record.kind == "probe":
                sel.probes += 1
            elif record.time > cutoff:
                sel.after_cutoff += 1
            else:
                conversations[record.id] = record
    sel.conversations = len(conversations)
    chosen = []
    for cid, conv in conversations.items():
        rating = latest.get(cid)
        if rating is None or rating.time > cutoff:
            sel.unrated += 1
        elif not request.qualifies(rating.rating, rating.thumb):
            sel.not_qualifying += 1
        else:
            chosen.append(_row(conv, rating, request.min_rating))
    if request.preferred and request.votes_file:
        chosen += _preferred(Path(request.votes_file), cutoff, request.min_rating, sel)
    chosen.sort(key=lambda r: (-r["rank"], -r["time"], r["id"]))
    sel.rows, sel.offered = chosen, len(chosen)
    return sel


def _records(path: Path, sel: Selection, read=read_record):
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield read(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValidationError, ValueError) as error:
                sel.corrupt_lines += 1
                if len(sel.problems) < MAX_PROBLEMS:
                    reason = str(error).splitlines()[0][:200]
                    sel.problems.append({"file": str(path), "line": number, "reason": reason})


def _vote(line: str) -> dict:
    """One votes.jsonl line (serving/eval_votes.py writes them), checked for what a row needs."""
    vote = json.loads(line)
    if not isinstance(vote, dict):
        raise ValueError("a vote must be a JSON object")
    winner, answers = vote.get("winner"), vote.get("answers")
    if not isinstance(vote.get("question"), str) or not isinstance(vote.get("time"), int | float):
        raise ValueError("a vote needs a question (text) and a time (epoch seconds)")
    if winner is not None and not (isinstance(answers, dict) and isinstance(answers.get(winner), str)):
        raise ValueError(f"the vote's winner {winner!r} has no answer in 'answers'")
    return vote


def _preferred(path: Path, cutoff: float, rank: int, sel: Selection) -> list[dict]:
    """A row for each answer a vote cast by the cutoff preferred (ranked as a qualifying
    rating at the bar); a missing file holds none."""
    if not path.is_file():
        return []
    sel.files.append(str(path))
    rows = []
    for number, vote in enumerate(_records(path, sel, _vote), start=1):
        if vote["time"] > cutoff:
            continue
        sel.votes += 1
        winner = vote.get("winner")
        if winner is None:
            sel.ties += 1
            continue
        messages = [{"role": "user", "content": vote["question"]},
                    {"role": "assistant", "content": vote["answers"][winner]}]
        rows.append({"messages": messages, "id": f"vote-{number}", "time": vote["time"],
                     "revision": winner, "rating": None, "thumb": None, "rank": rank,
                     "preferred": True})
    sel.preferred = len(rows)
    return rows


def _row(conv: ConversationRecord, rating: RatingRecord, min_rating: int) -> dict:
    messages = [{"role": m.role, "content": m.content} for m in conv.messages]
    messages.append({"role": "assistant", "content": conv.answer})
    rank = rating.rating if rating.rating is not None else min_rating  # a thumb up: the bar
    return {"messages": messages, "id": conv.id, "time": conv.time, "revision": conv.revision,
            "rating": rating.rating, "thumb": rating.thumb, "rank": rank}


def write_rows(sel: Selection, path: Path) -> None:
    """``production.jsonl`` in the selection's order, and its digest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps({k: v for k, v in row.items() if k != "rank"}, ensure_ascii=False,
                              sort_keys=True) + "\n" for row in sel.rows)
    path.write_text(text, encoding="utf-8")
    sel.rows_file, sel.digest = str(path), hashlib.sha256(text.encode()).hexdigest()


def prepare_data(req: TrainRequest, data_dir: Path):
    """The training Job's cleaning: the base dataset alone, or with the production rows (the
    selection's figures then join cleaning's under ``production`` in cleaning-report.json)."""
    from molting_workloads.cleaning import clean_dataset

    if req.production is None:
        return clean_dataset(req.dataset, data_dir, req.cleaning, format=req.dataset_format)
    sel = select(req.production)
    write_rows(sel, data_dir / PRODUCTION_ROWS)
    report = clean_dataset(req.dataset, data_dir, req.cleaning, format=req.dataset_format,
                           production=data_dir / PRODUCTION_ROWS,
                           max_share=req.production.max_share)
    figures = {k: v for k, v in asdict(sel).items() if k != "rows"}
    report.production = {**figures, **(report.production or {})}
    path = data_dir / CLEANING_REPORT
    written = json.loads(path.read_text())
    written["production"] = report.production
    path.write_text(json.dumps(written, indent=2, ensure_ascii=False) + "\n")
    return report
