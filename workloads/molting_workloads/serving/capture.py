"""The capture writer: records go on a bounded queue and one background thread redacts them and
appends them to ``capture.jsonl``, rotating it at ``maxBytes`` and keeping ``maxFiles`` files.

``offer`` never blocks: when the queue is full the record is dropped and counted. A write that
fails (a full or read-only volume) drops the record too. Sampling is decided from the completion
id (``sampled``), so an answer and its rating are captured together, on any replica.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from molting_workloads.contract.capture import (
    CAPTURE_FILE,
    REDACTED,
    CaptureSettings,
    ConversationRecord,
    Message,
    RatingRecord,
    compile_redaction,
    record_line,
)

logger = logging.getLogger(__name__)

QUEUE_SIZE = 1024
Record = ConversationRecord | RatingRecord


def sampled(cid: str, rate: float) -> bool:
    """Whether the answer with this id is captured: the same answer on every replica."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    draw = int.from_bytes(hashlib.sha256(cid.encode()).digest()[:8], "big") / 2.0 ** 64
    return draw < rate


class Redactor:
    def __init__(self, patterns: list[str]) -> None:
        self._patterns = [compile_redaction(p, f"redact[{i}]") for i, p in enumerate(patterns)]

    def __call__(self, text: str) -> str:
        for pattern in self._patterns:
            text = pattern.sub(REDACTED, text)
        return text

    def record(self, record: Record) -> Record:
        if isinstance(record, RatingRecord):
            return record if record.comment is None else record.model_copy(
                update={"comment": self(record.comment)})
        return record.model_copy(update={
            "messages": [Message(role=m.role, content=self(m.content)) for m in record.messages],
            "raw_answer": self(record.raw_answer),
            "answer": self(record.answer),
        })


class RotatingFile:
    """``capture.jsonl`` in ``directory``, rotated to ``.1`` .. ``.<max_files-1>``."""

    def __init__(self, directory: str, max_bytes: int, max_files: int) -> None:
        self.directory = Path(directory)
        self.path = self.directory / CAPTURE_FILE
        self.max_bytes, self.max_files = max_bytes, max_files
        self._handle = None
        self._size = 0

    def write(self, line: str) -> bool:
        """Append one line; False (nothing written) when the line alone exceeds ``max_bytes``."""
        data = line.encode()
        if len(data) > self.max_bytes:
            return False
        if self._handle is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "ab")  # noqa: SIM115 - kept open between writes
            self._size = self._handle.tell()
        if self._size and self._size + len(data) > self.max_bytes:
            self._rotate()
        self._handle.write(data)
        self._size += len(data)
        return True

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _rotate(self) -> None:
        self.close()
        rotated = [self.path.with_name(f"{CAPTURE_FILE}.{i}") for i in range(1, self.max_files)]
        if not rotated:  # one file: start it again
            self.path.unlink(missing_ok=True)
        else:
            rotated[-1].unlink(missing_ok=True)
            for older, newer in zip(reversed(rotated[1:]), reversed(rotated[:-1]), strict=True):
                if newer.exists():
                    os.replace(newer, older)
            os.replace(self.path, rotated[0])
        self._handle = open(self.path, "ab")  # noqa: SIM115
        self._size = 0


class CaptureWriter:
    """One capture folder's writer thread; ``on_result(True)`` per record written,
    ``on_result(False)`` per record dropped."""

    def __init__(self, settings: CaptureSettings, *, queue_size: int = QUEUE_SIZE,
                 on_result: Callable[[bool], None] = lambda ok: None) -> None:
        if not settings.directory:
            raise ValueError("capture.directory: the capture writer needs a folder")
        self.settings = settings
        self._redact = Redactor(settings.redact)
        self._file = RotatingFile(settings.directory, settings.max_bytes, settings.max_files)
        self._queue: queue.Queue[Record] = queue.Queue(maxsize=queue_size)
        self._on_result = on_result
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="molting-capture", daemon=True)
        self._thread.start()

    def offer(self, record: Record) -> bool:
        """Queue a record without waiting; False (counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._on_result(False)
            return False
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is queued, then stop (waiting at most ``timeout_s``)."""
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        failing = False
        while not (self._stop.is_set() and self._queue.empty()):
            try:
                record = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                ok = self._file.write(record_line(self._redact.record(record)))
                if self._queue.empty():
                    self._file.flush()
                failing = False
            except OSError as error:
                ok = False
                if not failing:  # once per run of failures, not per record
                    logger.warning("capture: cannot write to %s: %s", self._file.path, error)
                failing = True
                self._file.close()
            self._on_result(ok)
        self._file.close()
