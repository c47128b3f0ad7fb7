"""Conversation capture: the policy's checks (spec and serve config), the builder resolving the
folder for both drivers, the record format, and the writer: redaction, sampling, rotation at the
cap, and a full queue that drops and counts without blocking."""

from __future__ import annotations

import threading
import time

import pytest
from pydantic import ValidationError

from molting_operator.api.spec import CaptureSpec, MoltingModelSpec
from molting_operator.builders import serve_app
from molting_operator.planning.actions import ApplyTraffic
from molting_workloads.contract.capture import (
    CAPTURE_FILE,
    CapturePolicy,
    CaptureSettings,
    ConversationRecord,
    Message,
    RatingRecord,
    read_record,
    record_line,
)
from molting_workloads.contract.serve_config import validate_config
from molting_workloads.serving.capture import CaptureWriter, Redactor, RotatingFile, sampled

SPEC = {"baseModel": {"source": "tiny"}, "dataset": {"path": "d.jsonl"}}
ACTION = ApplyTraffic(weights=(("r1", 100),), adapters=(("r1", "/artifacts/m/r1/adapter"),))


def conversation(cid: str = "chatcmpl-stable-1-2-3", answer: str = "Sure.") -> ConversationRecord:
    return ConversationRecord(
        id=cid, time=1.0, model="m", revision="stable",
        messages=[Message(role="user", content="Mail me at ann.lee@example.com or call +1 555-123-4567")],
        raw_answer="Let me check. " + answer, answer=answer, filtered=True,
    )


def wait_until(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# -- the policy -------------------------------------------------------------------------------

def test_capture_is_off_by_default_with_email_and_number_redaction():
    policy = MoltingModelSpec.model_validate(SPEC).serving.capture
    assert not policy.enabled and policy.path is None
    redact = Redactor(policy.redact)
    assert redact("ann.lee@example.com, order 123456, call 555-123-4567, 2 cats") == \
        "[redacted], order [redacted], call [redacted], 2 cats"


def test_a_bad_redaction_pattern_is_refused_naming_its_path():
    spec = SPEC | {"serving": {"capture": {"enabled": True, "redact": ["ok", "(unclosed"]}}}
    with pytest.raises(ValidationError, match=r"(?s)serving\.capture\.redact.*redact\[1\]: invalid regular expression"):
        MoltingModelSpec.model_validate(spec)
    with pytest.raises(ValueError, match=r"redact\[0\]: .*matches the empty string"):
        CapturePolicy(redact=["x*"])


@pytest.mark.parametrize(("field", "value"), [
    ("sampleRate", 1.5), ("sampleRate", -0.1), ("maxBytes", 10), ("maxFiles", 0),
    ("path", "/etc"), ("path", "../up"), ("path", "a/../../b"),
])
def test_out_of_range_capture_fields_are_refused_naming_them(field, value):
    spec = SPEC | {"serving": {"capture": {"enabled": True, field: value}}}
    with pytest.raises(ValidationError, match=field):
        MoltingModelSpec.model_validate(spec)


def test_the_builder_puts_the_folder_under_each_drivers_artifacts_root():
    spec = MoltingModelSpec.model_validate(SPEC | {"serving": {"capture": {"enabled": True, "sampleRate": 0.5}}})
    cluster = serve_app.serve_app_config("m", spec, ACTION)
    local = serve_app.serve_app_config("m", spec, ACTION, "/home/u/.molting/artifacts")
    assert cluster.capture.directory == "/artifacts/m/capture"
    assert local.capture.directory == "/home/u/.molting/artifacts/m/capture"
    assert cluster.capture.sample_rate == 0.5
    custom = spec.model_copy(update={"serving": spec.serving.model_copy(
        update={"capture": CaptureSpec(enabled=True, path="captures/bot/")})})
    assert serve_app.serve_app_config("m", custom, ACTION).capture.directory == "/artifacts/captures/bot"
    off = serve_app.serve_app_config("m", MoltingModelSpec.model_validate(SPEC), ACTION)
    assert not off.capture.enabled and off.capture.directory is None
    # A capture edit changes the fingerprint: the driver applies the config again.
    assert serve_app.spec_fingerprint("m", spec, cluster.revisions) != \
        serve_app.spec_fingerprint("m", MoltingModelSpec.model_validate(SPEC), cluster.revisions)


def test_the_serve_config_refuses_capture_without_a_folder():
    with pytest.raises(Exception, match="capture.directory"):
        validate_config({"name": "m", "baseModel": "b", "capture": {"enabled": True}})


def test_records_read_back_by_type():
    back = read_record(record_line(conversation()))
    assert isinstance(back, ConversationRecord) and back.raw_answer.startswith("Let me check")
    rating = read_record(record_line(RatingRecord(id="x", time=2.0, revision="r", thumb="up")))
    assert isinstance(rating, RatingRecord) and rating.thumb == "up" and rating.rating is None


# -- the writer -------------------------------------------------------------------------------

def settings(tmp_path, **fields) -> CaptureSettings:
    return CaptureSettings(enabled=True, directory=str(tmp_path / "capture"), **fields)


def lines(tmp_path, name: str = CAPTURE_FILE) -> list:
    return [read_record(line) for line in (tmp_path / "capture" / name).read_text().splitlines()]


def test_the_writer_redacts_and_appends_conversations_and_ratings(tmp_path):
    results: list[bool] = []
    writer = CaptureWriter(settings(tmp_path), on_result=results.append)
    writer.offer(conversation(answer="Write to bob@corp.io."))
    writer.offer(RatingRecord(id="chatcmpl-stable-1-2-3", time=2.0, revision="stable", rating=4,
                              comment="my number is 0123 456 789"))
    writer.close()
    first, second = lines(tmp_path)
    assert first.messages[0].content == "Mail me at [redacted] or call [redacted]"
    assert first.answer == "Write to [redacted]." and first.raw_answer == "Let me check. Write to [redacted]."
    assert second.comment == "my number is [redacted]" and second.rating == 4
    assert results == [True, True]


def test_the_file_rotates_at_the_cap_and_keeps_max_files(tmp_path):
    line_bytes = len(record_line(conversation("chatcmpl-x-0")).encode())
    rotating = RotatingFile(str(tmp_path / "capture"), max_bytes=3 * line_bytes, max_files=3)
    for i in range(10):
        assert rotating.write(record_line(conversation(f"chatcmpl-x-{i}")))
    rotating.close()
    files = sorted(p.name for p in (tmp_path / "capture").iterdir())
    assert files == [CAPTURE_FILE, CAPTURE_FILE + ".1", CAPTURE_FILE + ".2"]
    for name in files:
        assert (tmp_path / "capture" / name).stat().st_size <= 3 * line_bytes
    assert [r.id for r in lines(tmp_path)] == ["chatcmpl-x-9"]
    assert [r.id for r in lines(tmp_path, CAPTURE_FILE + ".1")] == [f"chatcmpl-x-{i}" for i in (6, 7, 8)]
    assert [r.id for r in lines(tmp_path, CAPTURE_FILE + ".2")] == [f"chatcmpl-x-{i}" for i in (3, 4, 5)]
    # A line longer than the cap is refused, not written.
    assert not RotatingFile(str(tmp_path / "other"), max_bytes=10, max_files=2).write("x" * 11)


def test_sampling_is_decided_by_the_id_at_about_the_rate():
    ids = [f"chatcmpl-r-{i:x}-abc" for i in range(4000)]
    kept = [cid for cid in ids if sampled(cid, 0.25)]
    assert 800 < len(kept) < 1200
    assert kept == [cid for cid in ids if sampled(cid, 0.25)]  # the same every time
    assert all(sampled(c, 1.0) for c in ids[:50]) and not any(sampled(c, 0.0) for c in ids[:50])


def test_a_full_queue_drops_and_counts_without_blocking(tmp_path, monkeypatch):
    gate = threading.Event()
    written = RotatingFile.write

    def stuck(self, line):  # the disk hangs: the writer thread waits on the gate
        gate.wait(30)
        return written(self, line)

    monkeypatch.setattr(RotatingFile, "write", stuck)
    results: list[bool] = []
    writer = CaptureWriter(settings(tmp_path), queue_size=4, on_result=results.append)
    offered = []
    started = time.monotonic()
    for i in range(50):
        offered.append(writer.offer(conversation(f"chatcmpl-x-{i}")))
    elapsed = time.monotonic() - started
    assert elapsed < 5.0  # far below the 30 s the writer thread is stuck for
    assert offered.count(False) >= 45  # at most the queue and the record being written got in
    assert results.count(False) == offered.count(False)
    gate.set()
    writer.close()
    wait_until(lambda: len(results) == 50)
    assert results.count(True) == offered.count(True) == len(lines(tmp_path))


def test_a_failing_volume_drops_and_counts(tmp_path):
    blocker = tmp_path / "capture"
    blocker.write_text("a file where the folder should be")
    results: list[bool] = []
    writer = CaptureWriter(settings(tmp_path), on_result=results.append)
    writer.offer(conversation())
    writer.close()
    assert results == [False]
