"""Errors shared by both sides.

    MoltingError
    ├── SpecError(problems)          a resource or request that does not validate
    ├── DatasetError(file, reason)   a dataset that cannot be used (too many bad lines, empty)
    ├── ModelLoadError(source, reason)
    └── ServeConfigError             a serve config or Serve REST call that failed
"""

from __future__ import annotations

from dataclasses import dataclass


class MoltingError(Exception):
    """Base of every error Molting raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (a dotted path, maybe a line) and why."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path}: {self.reason}"


class SpecError(MoltingError):
    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = problems
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__("\n".join(prefix + str(p) for p in problems))


class DatasetError(MoltingError):
    def __init__(self, file: str, reason: str) -> None:
        self.file, self.reason = file, reason
        super().__init__(f"{file}: {reason}")


class ModelLoadError(MoltingError):
    def __init__(self, source: str, reason: str) -> None:
        self.source, self.reason = source, reason
        super().__init__(f"cannot load model {source!r}: {reason}")


class ServeConfigError(MoltingError):
    """A serve config that cannot be built or applied."""
