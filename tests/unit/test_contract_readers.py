"""The contract's readers: what a Job writes, both drivers read back the same way."""

from molting_workloads.contract.layout import Layout
from molting_workloads.contract.progress import TrainingProgress, parse_progress, progress_line
from molting_workloads.contract.summaries import TrainSummary, read_summary, termination_text


def test_a_progress_line_reads_back_as_written() -> None:
    line = progress_line(12, 30, 1.9, 40.0)
    assert line.startswith("molting-progress ")
    assert parse_progress(f"loading\n{line}\n") == TrainingProgress(
        step=12, total=30, loss=1.9, eta_seconds=40.0)


def test_the_last_valid_progress_line_wins() -> None:
    log = "\n".join([progress_line(3, 30, 2.5, None), progress_line(12, 30, 1.9, 40.0),
                     'molting-progress {"step": "x"}', "molting-progress not json", "done"])
    assert parse_progress(log).step == 12
    assert parse_progress("no progress here") is None


def test_a_summary_reads_back_from_a_termination_message_and_from_a_log() -> None:
    summary = TrainSummary(revision="r1", ok=True, adapter="/a", steps=5)
    text = termination_text(summary)
    assert read_summary(text, revision="r1", kind="train") == summary.to_wire()
    log = f"step 1\n{text}\nTraceback-free exit\n"
    assert read_summary(log, revision="r1", kind="train") == summary.to_wire()


def test_a_summary_of_another_job_or_a_crash_is_not_read() -> None:
    text = termination_text(TrainSummary(revision="r1", ok=True))
    assert read_summary(text, revision="r2", kind="train") is None
    assert read_summary(text, revision="r1", kind="eval") is None
    assert read_summary("exit code 137\n{not json", revision="r1", kind="train") is None


def test_the_layout_puts_a_revision_in_one_folder() -> None:
    layout = Layout("/artifacts/")
    assert layout.adapter("m", "r1") == "/artifacts/m/r1/adapter"
    assert layout.validation_split("m", "r1") == "/artifacts/m/r1/data/validation.jsonl"
    assert layout.eval_dir("m", "r1") == "/artifacts/m/r1/eval"
