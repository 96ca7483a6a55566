"""One seed of every fault class of the matrix (bench/faults.py runs twenty and more)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sqnflash.tools import faultmatrix as fm

CLASSES = list(fm.FAULT_CLASSES)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> fm.Files:
    return fm.Files(tmp_path_factory.mktemp("matrix"))


@pytest.mark.parametrize("fault", CLASSES)
def test_every_fault_class_ends_completed_or_diagnosed_and_recoverable(
        files: fm.Files, fault: str, tmp_path: Path) -> None:
    # Class number i runs seed i: across the classes every flow gets its turn.
    (case,) = fm.cases([CLASSES.index(fault)], [fault])
    result = fm.run_case(case, files, tmp_path / "journal.db")
    assert result.outcome != "unrecoverable", result
    assert result.hit, result  # the fault did happen: the run proves something
    if result.outcome != "completed":
        assert result.code.startswith("SQF-E"), result  # stopped with a typed diagnosis


@pytest.mark.parametrize("seed", range(len(fm.FLOWS)))
def test_one_percent_corruption_completes_on_every_flow(files: fm.Files, tmp_path: Path,
                                                        seed: int) -> None:
    (case,) = fm.cases([seed], ["flip-1%"])  # seed n runs flow number n
    result = fm.run_case(case, files, tmp_path / "journal.db")
    assert result.outcome == "completed", result


def test_the_table_counts_each_outcome_once_per_run() -> None:
    case = fm.Case("x", 0, "diff", "")
    results = [fm.CaseResult(case, "completed", hit=True),
               fm.CaseResult(case, "recovered", "SQF-E501", hit=True),
               fm.CaseResult(fm.Case("y", 0, "diff", ""), "unrecoverable")]
    assert fm.table(results) == [("x", "2", "1", "0", "1", "0", "2"),
                                 ("y", "1", "0", "0", "0", "1", "0")]


def test_cases_are_reproducible_from_their_seed() -> None:
    assert fm.cases(range(3)) == fm.cases(range(3))
    assert len(fm.cases(range(20))) == 20 * len(CLASSES)


@pytest.mark.slow
def test_bench_prints_the_table_and_the_last_line() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "faults.py"), "--seeds", "2", "--jobs", "1",
         "--class", "hcrc-zero", "--class", "no-reply"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["fault", "runs", "completed", "stopped", "recovered",
                                "unrecoverable", "fault", "hit"]
    assert lines[1].split() == ["hcrc-zero", "2", "2", "0", "0", "0", "2"]
    assert lines[-1] == "fault-matrix: 4 runs, 0 unrecoverable"
