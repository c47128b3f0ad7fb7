"""The local state directory: the resource's status (the same shape as `.status` in a cluster),
annotations set by `molting rollback|promote|retrain`, events, and the artifacts root.

    <root>/<name>/status.json        written atomically after every planning pass
    <root>/<name>/annotations.json   manual controls (merged over the resource's annotations)
    <root>/<name>/events.jsonl       one line per event
    <root>/artifacts/<name>/<rev>/   what the train and eval processes write (Layout)
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from molting_operator.api.status import MoltingModelStatus
from molting_workloads.contract.layout import Layout

DEFAULT_ROOT = Path(".molting")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class StateDir:
    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = Path(root).resolve()
        self.layout = Layout(str(self.root / "artifacts"))

    def model_dir(self, name: str) -> Path:
        return self.root / name

    def names(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/status.json"))

    def load_status(self, name: str) -> MoltingModelStatus:
        path = self.model_dir(name) / "status.json"
        if not path.exists():
            return MoltingModelStatus()
        return MoltingModelStatus.model_validate_json(path.read_text())

    def save_status(self, name: str, status: MoltingModelStatus) -> None:
        _write_atomic(self.model_dir(name) / "status.json",
                      json.dumps(status.to_wire(), indent=2, ensure_ascii=False))

    def save_meta(self, name: str, meta: dict[str, Any]) -> None:
        """What `molting get` shows beside the status (creation time, the resource file)."""
        path = self.model_dir(name) / "meta.json"
        if path.exists():
            meta = {**json.loads(path.read_text()), **{k: v for k, v in meta.items()
                                                      if k != "creationTimestamp"}}
        _write_atomic(path, json.dumps(meta, indent=2))

    def load_meta(self, name: str) -> dict[str, Any]:
        path = self.model_dir(name) / "meta.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def annotations(self, name: str) -> dict[str, str]:
        path = self.model_dir(name) / "annotations.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def annotate(self, name: str, key: str, value: str | None = None) -> str:
        """Set a manual-control annotation; the value is a fresh token unless given."""
        token = value or datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        notes = {**self.annotations(name), key: token}
        _write_atomic(self.model_dir(name) / "annotations.json", json.dumps(notes, indent=2))
        return token

    def record_event(self, name: str, at: str, reason: str, message: str, warning: bool) -> None:
        path = self.model_dir(name) / "events.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        line = {"at": at, "type": "Warning" if warning else "Normal", "reason": reason,
                "message": message}
        with path.open("a") as handle:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")

    def events(self, name: str, last: int = 10) -> list[dict[str, Any]]:
        path = self.model_dir(name) / "events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()[-last:]]
