"""`flask studio facebank generate` and the worker's default-bank fill, on a bank in tmp_path."""

from __future__ import annotations

import threading

from ml.face_bank import KIND_GENERATED, FaceBank
from webapp.studio.facebank import bank_dir, filling_lock, start_default_fill


def test_generate_adds_generated_faces_of_the_asked_gender(app, tmp_path):
    app.config["FACEBANK_DIR"] = str(tmp_path / "bank")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["studio", "facebank", "generate", "--count", "2", "--gender",
                                 "female"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "added 2 generated faces" in result.output
    donors = FaceBank(tmp_path / "bank").donors
    assert len(donors) == 2
    assert all(d.kind == KIND_GENERATED and d.gender == "female" for d in donors)
    assert len({d.seed for d in donors}) == 2


def test_generate_refuses_bad_options_and_a_busy_bank(app, tmp_path):
    app.config["FACEBANK_DIR"] = str(tmp_path / "bank")
    runner = app.test_cli_runner()
    for args in (["--count", "0"], ["--count", "2", "--gender", "other"],
                 ["--count", "2", "--age-band", "old"]):  # fmt: skip
        result = runner.invoke(args=["studio", "facebank", "generate", *args])
        assert result.exit_code == 2, (args, result.output)
    with filling_lock(bank_dir(app.config)):
        result = runner.invoke(args=["studio", "facebank", "generate", "--count", "1"])
    assert result.exit_code == 1 and "another process is filling" in result.output
    assert not FaceBank(tmp_path / "bank").donors


def test_default_fill_runs_in_the_background_with_progress_lines(app, tmp_path):
    app.config["FACEBANK_DIR"] = str(tmp_path / "bank")
    lines: list[str] = []
    thread = start_default_fill(app, echo=lines.append, size=2, per_cell=0)
    assert isinstance(thread, threading.Thread) and thread.daemon
    thread.join(timeout=600)
    assert not thread.is_alive()
    assert lines[0].startswith("face bank: generating 2 faces")
    assert any("2/2 generated faces" in line for line in lines), lines
    assert len(FaceBank(tmp_path / "bank").donors) == 2
    # Filled: a second start does nothing.
    lines.clear()
    start_default_fill(app, echo=lines.append, size=2, per_cell=0).join(timeout=60)
    assert lines == []
