"""Where a revision's files live under the artifacts root (a PVC in a cluster, a folder locally).

Both drivers and the builders use these paths, so a Job, the Serve app and the planner agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    root: str

    def revision_dir(self, name: str, revision: str) -> str:
        return f"{self.root.rstrip('/')}/{name}/{revision}"

    def adapter(self, name: str, revision: str) -> str:
        return f"{self.revision_dir(name, revision)}/adapter"

    def eval_dir(self, name: str, revision: str) -> str:
        return f"{self.revision_dir(name, revision)}/eval"

    def train_report(self, name: str, revision: str) -> str:
        return f"{self.revision_dir(name, revision)}/train-report.json"

    def progress(self, name: str, revision: str) -> str:
        return f"{self.revision_dir(name, revision)}/progress.json"

    def validation_split(self, name: str, revision: str) -> str:
        """The cleaned validation split, used as questions when the spec names none."""
        return f"{self.revision_dir(name, revision)}/data/validation.jsonl"
