"""`rlsys judge calibrate` on the calibration fixture (real v4 questions and golds, the 81 expert
answers, rephrasings with a careful grader's verdicts), with the targets of issue 16 asserted."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from rlsys.cli import main
from rlsys.judge.calibration import CalibrationFileError, Row, cohen_kappa, load_rows, report_for
from rlsys.judge.server_thread import ServerThread
from rlsys.judge.types import Category, Verdict

from .scripted_server import ScriptedChat
from .trajectories import FIXTURES

CALIBRATION = FIXTURES / "calibration.jsonl"
pytestmark = pytest.mark.timeout(300)


def test_fixture_covers_the_answer_shapes_of_the_issue():
    rows = [json.loads(line) for line in CALIBRATION.open()]
    assert len(rows) >= 300
    kinds = Counter(r["kind"] for r in rows)
    for kind in ["expert", "sentence", "list_reordered", "list_missing_item", "year_as_date", "date_reformatted",
                 "give_up", "give_up_phrase_with_answer", "number_form", "possessive", "plural", "hedge",
                 "candidates", "contradiction", "aside_only", "empty", "alias", "paraphrase"]:
        assert kinds[kind] >= 1, kind
    assert 0.3 < sum(r["verdict"] for r in rows) / len(rows) < 0.7  # both classes well represented
    assert kinds["expert"] == 81 and all(r["verdict"] for r in rows if r["kind"] == "expert")


def test_calibrate_the_rule_judge_meets_the_targets(tmp_path, capsys):
    out = tmp_path / "report.json"
    assert main(["judge", "calibrate", str(CALIBRATION), "--judge", "rule", "--show", "5", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Cohen's kappa" in text and "precision of correct" in text and "disagreements (first" in text
    report = json.loads(out.read_text())
    assert report["judge"] == "rule" and report["rows"] == report["judged"] >= 300
    assert report["agreement"] >= 0.90
    assert report["kappa"] >= 0.75
    assert report["precision_correct"] >= 0.90  # a lenient judge is a reward hack
    c = report["confusion"]
    assert c["tp"] + c["fp"] + c["fn"] + c["tn"] == report["judged"]
    assert len(report["disagreements"]) == min(5, c["fp"] + c["fn"])
    assert report["verdicts_per_s"] > 0 and report["categories"].get("unsure", 0) > 0


def test_calibrate_on_the_hand_written_answers(tmp_path):
    """146 answers written by hand in model styles (see heldout_rows.py); same targets."""
    out = tmp_path / "heldout.json"
    assert main(["judge", "calibrate", str(FIXTURES / "calibration_heldout.jsonl"), "--json", str(out),
                 "--set", "judge.kind=rule"]) == 0
    report = json.loads(out.read_text())
    assert report["rows"] == 146
    assert report["agreement"] >= 0.90 and report["kappa"] >= 0.75 and report["precision_correct"] >= 0.90


def test_kappa_and_confusion_against_hand_computed_values():
    # 20 rows: tp 8, fp 2, fn 1, tn 9 -> po = 0.85, pe = (10*9 + 10*11)/400 = 0.5, kappa = 0.7
    assert cohen_kappa(8, 2, 1, 9) == pytest.approx(0.7)
    rows = [Row("q", "g", "a", ref) for ref in [True] * 9 + [False] * 11]
    said = [Category.CORRECT] * 8 + [Category.INCORRECT] + [Category.CORRECT] * 2 + [Category.UNSURE] * 9
    report = report_for(rows + [Row("q", "g", "a", True)], [Verdict(c) for c in said] + [Verdict(Category.JUDGE_ERROR)], 1.0)
    assert report.confusion == {"tp": 8, "fp": 2, "fn": 1, "tn": 9} and report.judge_errors == 1
    assert report.agreement == pytest.approx(0.85) and report.kappa == pytest.approx(0.7)
    assert report.precision_correct == pytest.approx(0.8) and report.recall_correct == pytest.approx(8 / 9)


def test_bad_rows_get_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "gold": "g", "response": "a", "verdict": true}\n{"question": "q", "gold": "g"}\n')
    with pytest.raises(CalibrationFileError, match="bad.jsonl:2: missing response, verdict"):
        load_rows(bad)
    assert main(["judge", "calibrate", str(bad)]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err
    bad.write_text('{"question": "q", "gold": "g", "response": "a", "verdict": "yes"}\n')
    with pytest.raises(CalibrationFileError, match="verdict must be true or false"):
        load_rows(bad)


def test_calibrate_an_http_judge(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in [
        {"question": "Who?", "gold": "Ty Simpkins", "response": "Ty Simpkins", "verdict": True},
        {"question": "Who?", "gold": ["Ty Simpkins", "Simpkins"], "response": "Jake Gyllenhaal", "verdict": False},
        {"question": "Who?", "gold": "Ty Simpkins", "response": None, "verdict": False},
    ]))
    chat = ScriptedChat()
    out = tmp_path / "http.json"
    with ServerThread(chat.app) as server:
        code = main(["judge", "calibrate", str(rows), "--judge", "http", "--json", str(out),
                     "--set", f"judge.base_url={server.url}/v1", "--set", "judge.cross_check=off"])
    assert code == 0 and chat.total == 3
    report = json.loads(out.read_text())
    assert report["confusion"] == {"tp": 1, "fp": 2, "fn": 0, "tn": 0}  # the scripted judge says correct to all
    assert "Gold answer: Ty Simpkins | Simpkins" in " ".join(m["content"] for b in chat.bodies for m in b["messages"])


def test_calibrate_an_llm_judge_on_the_tiny_model(tmp_path, nano_model_dir):
    """The `--judge llm` path end to end (engine built from judge.model); the random model's
    replies never parse, so every row is a judge error, counted apart from the agreement."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"question": "Who?", "gold": "Ty Simpkins", "response": "Ty Simpkins", "verdict": True}) + "\n")
    out = tmp_path / "llm.json"
    assert main(["judge", "calibrate", str(rows), "--judge", "llm", "--json", str(out),
                 "--set", f"judge.model={nano_model_dir}", "--set", "judge.engine=hf",
                 "--set", "judge.max_new_tokens=4", "--set", "judge.parse_retries=0"]) == 0
    report = json.loads(out.read_text())
    assert report["rows"] == 1 and report["judge_errors"] == 1 and report["judged"] == 0
