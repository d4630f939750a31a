"""gazesam record / gaze-info: results, and one-line errors with a non-zero exit for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gazesam.cli.main import main
from gazesam.gaze.recording import load_recording


def _one_line_error(capsys, rc: int, needle: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert len(err) == 1 and err[0].startswith("gazesam ") and needle in err[0], err


@pytest.mark.data
def test_record_replay_then_gaze_info(shared_data: Path, tmp_path: Path, capsys) -> None:
    raw = shared_data / "tobii-raw" / "participant2" / "5.txt"
    out = tmp_path / "gaze.tsv"
    rc = main(["record", "--source", f"replay:{raw}@max", "--duration", "20", "-o", str(out), "--quiet",
               "--detector", "idt", "--no-updates"])
    assert rc == 0
    assert "recorded 1210 samples" in capsys.readouterr().out
    rec = load_recording(out)
    assert rec.complete and len(rec.samples) == 1210
    assert rec.header["detector"]["method"] == "idt"
    assert {e.kind for e in rec.events} == {"start", "end"}
    assert rec.header["display"]["width_mm"] == pytest.approx(509.174)  # the TX300 file's screen

    rc = main(["gaze-info", str(out), "--json"])
    info = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert info["format"] == "gazesam" and info["samples"] == 1210 and info["complete"] is True
    assert info["sampling_rate_hz"] == pytest.approx(300, rel=0.01)
    assert 0.7 < info["validity"] < 0.8
    assert info["fixations"]["source"] == "recorded events"
    assert info["fixations"]["count"] == sum(e.kind == "end" for e in rec.events)

    rc = main(["gaze-info", str(raw), "--detector", "idt", "--detector-param", "dispersion_threshold=1.5"])
    text = capsys.readouterr().out
    assert rc == 0 and "sampling rate:   29" in text and "fixations:" in text and "1.5" in text

    rc = main(["gaze-info", str(shared_data / "kvasir-gaze" / "fixations.csv")])
    text = capsys.readouterr().out
    assert rc == 0 and "trials:          85" in text and "fixations:       1790 (table)" in text

    bids = tmp_path / "bids"
    rc = main(["gaze-info", str(out), "--bids", str(bids), "--subject", "02"])
    assert rc == 0 and "BIDS: wrote" in capsys.readouterr().out
    assert (bids / "sub-02" / "beh" / "sub-02_task-gaze_recording-eye1_physio.tsv.gz").exists()


def test_bad_arguments_give_one_line_errors(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o.tsv"
    _one_line_error(capsys, main(["record", "--source", "eyelink", "--duration", "1", "-o", str(out)]),
                    "unknown gaze source 'eyelink'")
    _one_line_error(capsys, main(["record", "--source", "mouse", "--duration", "-3", "-o", str(out)]),
                    "--duration must be a positive")
    _one_line_error(capsys, main(["record", "--source", "replay:/no/such.tsv", "--duration", "1", "-o", str(out)]),
                    "no such file")
    _one_line_error(capsys, main(["record", "--source", "lsl", "--duration", "1", "-o",
                                  str(tmp_path / "missing" / "o.tsv")]), "does not exist")
    out.write_text("precious data")
    _one_line_error(capsys, main(["record", "--source", "lsl", "--duration", "1", "-o", str(out)]), "--force")
    assert out.read_text() == "precious data"
    _one_line_error(capsys, main(["record", "--source", "lsl", "--duration", "1", "-o", str(tmp_path / "p.tsv"),
                                  "--detector-param", "speed=3"]), "NAME=VALUE")
    _one_line_error(capsys, main(["record", "--source", "lsl", "--duration", "1", "-o", str(tmp_path / "p.tsv"),
                                  "--screen-px", "big"]), "WIDTHxHEIGHT")
    _one_line_error(capsys, main(["gaze-info", str(tmp_path / "nothing.tsv")]), "no such file")
    (tmp_path / "junk.txt").write_text("hello\nworld\n")
    _one_line_error(capsys, main(["gaze-info", str(tmp_path / "junk.txt")]), "unknown gaze file format")
    _one_line_error(capsys, main(["gaze-info", str(tmp_path / "junk.txt"), "--format", "edf"]),
                    "unknown gaze file format")
    with pytest.raises(SystemExit) as exc:
        main(["record", "--duration", "1", "-o", str(out)])  # --source missing: argparse, exit 2
    assert exc.value.code == 2


@pytest.mark.data
def test_record_a_replayed_fixation_table(shared_data: Path, tmp_path: Path, capsys) -> None:
    table = shared_data / "kvasir-gaze" / "fixations.csv"
    out = tmp_path / "fx.tsv"
    rc = main(["record", "--source", f"replay:{table}@max?trial=cju2lyynuymli0855g7fxgbhe.jpg", "--duration", "10",
               "-o", str(out), "--quiet"])
    assert rc == 0 and "recorded 11 fixations" in capsys.readouterr().out
    rec = load_recording(out)
    assert rec.samples == [] and len(rec.events) == 22
    assert {e.trial for e in rec.events} == {"cju2lyynuymli0855g7fxgbhe.jpg"}
