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


def test_rejects_a_file_without_a_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "bad.csv").write_text("1,2\n3,4\n")
    assert scorecsv.main([str(tmp_path / "bad.csv")]) == 2
    assert "header" in capsys.readouterr().err


def sensor_rows(n: int = 900, fault_at: int = 700):
    """Three metrics of one pump: flow ~ current, pressure; at ``fault_at`` the flow drops
    while current and pressure carry on (a broken relation, no single metric extreme)."""
    rng = np.random.default_rng(3)
    load = 10 + np.cumsum(rng.normal(0, 0.05, n))
    current = load + rng.normal(0, 0.2, n)
    flow = 3 * load + rng.normal(0, 0.3, n)
    pressure = 2 + 0.1 * load + rng.normal(0, 0.02, n)
    flow[fault_at:] -= 6.0
    return current, flow, pressure


def test_scores_the_metrics_of_one_sensor_with_semicolons_and_ignored_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    current, flow, pressure = sensor_rows()
    label = (np.arange(current.size) >= 700).astype(int)
    lines = ["datetime;current;flow;pressure;anomaly"] + [
        f"2020-03-09 10:{i // 60:02d}:{i % 60:02d};{c:.4f};{f:.4f};{p:.4f};{a}"
        for i, (c, f, p, a) in enumerate(zip(current, flow, pressure, label, strict=True))
    ]
    path = tmp_path / "pump.csv"
    path.write_text("\n".join(lines) + "\n")
    assert scorecsv.main([str(path), "--ignore", "anomaly"]) == 0
    s = scores_of(capsys.readouterr().out)
    assert s.shape == (current.size,)
    assert s[700:720].max() >= 0.5  # the fault's onset
    assert s[300:700].max() < 0.5  # nothing before it (after warm-up)
    # The label column is not a metric: scoring it too would change the scores.
    assert scorecsv.main([str(path)]) == 0
    assert not np.array_equal(scores_of(capsys.readouterr().out), s)


def test_a_prefix_of_a_file_scores_as_the_same_rows_of_the_whole_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    current, flow, pressure = sensor_rows(n=2_500, fault_at=1_800)
    stamps = [1_700_000_000 + i for i in range(current.size)]
    rows = list(zip(stamps, current, flow, pressure, strict=True))
    full = tmp_path / "full.csv"
    full.write_text("t,c,f,p\n" + "\n".join(f"{t},{c},{f},{p}" for t, c, f, p in rows) + "\n")
    assert scorecsv.main([str(full)]) == 0
    whole = scores_of(capsys.readouterr().out)
    for cut in (1, 700, 1_801, 2_499):
        part = tmp_path / f"p{cut}.csv"
        part.write_text(
            "t,c,f,p\n" + "\n".join(f"{t},{c},{f},{p}" for t, c, f, p in rows[:cut]) + "\n"
        )
        assert scorecsv.main([str(part)]) == 0
        np.testing.assert_array_equal(scores_of(capsys.readouterr().out), whole[:cut])


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
