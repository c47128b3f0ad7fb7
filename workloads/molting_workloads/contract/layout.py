"""Where a revision's files live under the artifacts root (a PVC in a cluster, a folder locally).

One place for the artifacts layout: the planner's requests point the Jobs at these paths, the
Jobs write their files under these names, and the Serve app loads the adapters from them.

```
<root>/<name>/judge-cache/         the judge's replies, shared by the model's revisions
<root>/<name>/<revision>/          a revision's folder: the training Job's output dir
    adapter/                       the LoRA adapter
    train-report.json              the loss curve and training figures
    progress.json                  a heartbeat for people (the drivers read the log's lines)
    data/train.jsonl               the cleaned splits, with rejects.jsonl and cleaning-report.json
    data/validation.jsonl          (the questions when the spec names none)
    eval/                          the evaluation Job's output dir
        eval-report.json, eval-report.html
<root>/<name>/capture/             conversation capture, when spec.serving.capture is on
    capture.jsonl, capture.jsonl.1 ..  (contract.capture; the folder can be set elsewhere)
<root>/<name>/human-eval/votes.jsonl   the human evaluation's votes, when serving.humanEval is on
```
"""

from __future__ import annotations

from dataclasses import dataclass

from molting_workloads.contract.capture import CAPTURE_DIR

# Names inside a training Job's output folder (a revision's folder).
ADAPTER_DIR = "adapter"
TRAIN_REPORT = "train-report.json"
PROGRESS_FILE = "progress.json"
DATA_DIR = "data"
# Names inside the cleaned data folder.
TRAIN_SPLIT = "train.jsonl"
VALIDATION_SPLIT = "validation.jsonl"
REJECTS = "rejects.jsonl"
CLEANING_REPORT = "cleaning-report.json"
# Names inside an evaluation Job's output folder.
EVAL_DIR = "eval"
EVAL_REPORT_JSON = "eval-report.json"
EVAL_REPORT_HTML = "eval-report.html"
# A model's judge replies, per (judge model, rubric, question, answer): a re-evaluation, and a
# stable adapter's unchanged answers, do not pay the judge twice.
JUDGE_CACHE_DIR = "judge-cache"
HUMAN_EVAL_VOTES = "human-eval/votes.jsonl"


@dataclass(frozen=True)
class Layout:
    root: str

    def revision_dir(self, name: str, revision: str) -> str:
        return f"{self.root.rstrip('/')}/{name}/{revision}"

    def adapter(self, name: str, revision: str) -> str:
        return f"{self.revision_dir(name, revision)}/{ADAPTER_DIR}"

    def eval_dir(self, name: str, revision: str) -> str:
        return f"{self.revision_dir(name, revision)}/{EVAL_DIR}"

    def judge_cache(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}/{JUDGE_CACHE_DIR}"

    def capture_dir(self, name: str, path: str | None = None) -> str:
        """The capture folder: ``path`` (relative to the root) or <name>/capture."""
        return f"{self.root.rstrip('/')}/{(path or f'{name}/{CAPTURE_DIR}').rstrip('/')}"

    def human_eval_votes(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}/{HUMAN_EVAL_VOTES}"

    def train_report(self, name: str, revision: str) -> str:
        return f"{self.revision_dir(name, revision)}/{TRAIN_REPORT}"

    def progress(self, name: str, revision: str) -> str:
        return f"{self.revision_dir(name, revision)}/{PROGRESS_FILE}"

    def validation_split(self, name: str, revision: str) -> str:
        """The cleaned validation split, used as questions when the spec names none."""
        return f"{self.revision_dir(name, revision)}/{DATA_DIR}/{VALIDATION_SPLIT}"
