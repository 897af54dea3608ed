"""``controlcenter score-csv``: one score in [0, 1] per row, online, any timestamp format."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from controlcenter import scorecsv


def write_csv(path: Path, stamps, values) -> Path:
    lines = ["timestamp,value"] + [f"{t},{v}" for t, v in zip(stamps, values, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def series(n: int = 400, spike_at: int = 300):
    rng = np.random.default_rng(0)
    v = 10 + rng.normal(0, 0.5, n)
    v[spike_at] = 40.0
    return v


def scores_of(out: str) -> np.ndarray:
    return np.array([float(line) for line in out.split()])


def test_scores_every_row_and_flags_the_spike(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    v = series()
    path = write_csv(tmp_path / "a.csv", [1_700_000_000 + 60 * i for i in range(len(v))], v)
    assert scorecsv.main([str(path)]) == 0
    s = scores_of(capsys.readouterr().out)
    assert s.shape == (len(v),)
    assert ((s >= 0) & (s <= 1)).all()
    assert s[300] > 0.9
    assert np.delete(s, [300, 301]).max() < 0.5


def test_iso_and_epoch_timestamps_give_the_same_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    v = series()
    secs = [1_700_000_000 + 60 * i for i in range(len(v))]
    iso = [f"{np.datetime64(s, 's')}Z" for s in secs]
    outs = []
    for name, stamps in [("s", secs), ("ms", [s * 1000 for s in secs]), ("iso", iso)]:
        assert scorecsv.main([str(write_csv(tmp_path / f"{name}.csv", stamps, v))]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] == outs[2]


def test_reads_standard_input(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setattr(sys, "stdin", io.StringIO("timestamp,value\n0,1\n60,1.5\n120,nan\n"))
    assert scorecsv.main([]) == 0
    assert capsys.readouterr().out.split() == ["0.000000", "0.000000", "0.000000"]


def test_rejects_a_file_without_the_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "bad.csv").write_text("time,v\n1,2\n")
    assert scorecsv.main([str(tmp_path / "bad.csv")]) == 2
    assert "timestamp,value" in capsys.readouterr().err


def test_reports_the_line_of_a_bad_timestamp(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "bad.csv").write_text("timestamp,value\n1,2\nyesterday,3\n")
    assert scorecsv.main([str(tmp_path / "bad.csv")]) == 2
    assert "line 3" in capsys.readouterr().err


def test_runs_as_a_module(tmp_path: Path):
    path = write_csv(tmp_path / "a.csv", range(0, 600, 60), range(10))
    done = subprocess.run(
        [sys.executable, "-m", "controlcenter.scorecsv", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert len(done.stdout.split()) == 10
