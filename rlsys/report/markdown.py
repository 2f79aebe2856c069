"""`report.md` of a run: the results table in the shape of the reference's Table 1
(rows base / SFT / SFT+RL, then any other evaluated stage) and the training-curve plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rlsys.metrics import read_metrics
from rlsys.report.bootstrap import paired_bootstrap, per_question_scores
from rlsys.report.eval_files import EVAL_DIR, load_evals
from rlsys.report.plots import plot_rl_curve, plot_sft_loss

REPORT_FILE = "report.md"
REPORT_JSON = "report.json"
# differences between the main rows, each with a paired bootstrap interval
COMPARISONS = (("base", "sft"), ("sft", "rl"), ("base", "rl"))
SFT_PLOT = "sft_loss.png"
RL_PLOT = "rl_curve.png"
TAXONOMY_COLUMNS = (
    ("interface_misuse", "interface misuse"),
    ("silent_execution", "silent exec."),
    ("gave_up", "gave up"),
    ("wrong_answer_gold_visible", "wrong, gold seen"),
    ("wrong_answer_never_found", "wrong, never found"),
    ("infra_error", "infra error"),
)
# episodes whose search missed (`taxonomy.search_class`), shares of the scored episodes
SEARCH_COLUMNS = (("missed_then_recovered", "missed, recovered"), ("missed_never_retried", "missed, no retry"))


class ReportError(ValueError):
    """A run directory with nothing to report."""


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def results_table(records: list[dict[str, Any]]) -> str:
    """The markdown table: one row per eval record, shares of the failure taxonomy as columns."""
    head = (["model", "n", "questions × samples", "accuracy", "greedy", "answered", "mean turns", "tool calls"]
            + [t for _, t in TAXONOMY_COLUMNS]
            + [t for _, t in SEARCH_COLUMNS])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 2)]
    for rec in records:
        s = rec["summary"]
        shares = s.get("taxonomy_share", {})
        label = rec["label"] + (f" (step {rec['step']})" if rec.get("step") is not None and rec["stage"] != "rl" else "")
        questions = s.get("questions")  # eval files written before these columns have none
        shape = f"{questions} × {s['samples_per_question']:g}" if questions else "n/a"
        greedy = _pct(s["greedy"]["accuracy"]) if isinstance(s.get("greedy"), dict) else "–"
        cells = [
            label, str(s.get("scored", "")), shape, _pct(s["accuracy"]), greedy, _pct(s["answered_rate"]),
            f"{s['mean_turns']:.2f}", f"{s['mean_tool_calls']:.2f}",
        ] + [_pct(shares.get(key, 0.0)) for key, _ in TAXONOMY_COLUMNS]
        searches = s.get("search_share")  # eval files written before these columns have none
        cells += [_pct(searches.get(key, 0.0)) if searches is not None else "n/a" for key, _ in SEARCH_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _signed_pct(x: float) -> str:
    return f"{100 * x:+.1f}"


def row_differences(records: list[dict[str, Any]], resamples: int = 2000) -> list[dict[str, Any]]:
    """SFT - base, SFT+RL - SFT and SFT+RL - base (where both stages were evaluated with their
    episodes kept): the accuracy difference in points over shared questions, with a paired
    bootstrap 95% interval (`rlsys/report/bootstrap.py`) — of the sampled episodes (each question's
    mean over its samples) and, where both rows have them, of the greedy episodes."""
    out = []
    for metric, key in (("sampled", "episodes"), ("greedy", "greedy_episodes")):
        by_stage = {r["stage"]: r for r in records if r.get(key)}
        for before, after in COMPARISONS:
            if before in by_stage and after in by_stage:
                a, b = by_stage[before], by_stage[after]
                result = paired_bootstrap(per_question_scores(a[key]), per_question_scores(b[key]), resamples=resamples)
                out.append({"before": before, "after": after, "metric": metric,
                            "label": f"{b['label']} − {a['label']}", **result})
    return out


def differences_table(diffs: list[dict[str, Any]]) -> str:
    lines = ["| difference | episodes | questions | accuracy (points) | 95% interval (paired bootstrap) | excludes 0 |",
             "|---|---|---:|---:|---:|---|"]
    for d in diffs:
        metric = d.get("metric", "sampled")
        if d["diff"] is None:
            lines.append(f"| {d['label']} | {metric} | 0 | – | – | – |")
            continue
        lines.append(f"| {d['label']} | {metric} | {d['questions']} | {_signed_pct(d['diff'])} | "
                     f"[{_signed_pct(d['low'])}, {_signed_pct(d['high'])}] | {'yes' if d['excludes_zero'] else 'no'} |")
    return "\n".join(lines)


def write_report(run_dir: str | Path) -> Path:
    """Write `run_dir/report.md` and its PNG plots from `eval/*.json` and `metrics.jsonl`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"run directory not found: {run_dir}")
    records = load_evals(run_dir)
    rows = read_metrics(run_dir)
    sft_png = plot_sft_loss(rows, run_dir / SFT_PLOT)
    rl_png = plot_rl_curve(rows, run_dir / RL_PLOT)
    if not records and not rows and not sft_png:
        raise ReportError(f"{run_dir} has no evaluations ({EVAL_DIR}/*.json), metrics.jsonl or SFT losses to report")

    diffs = row_differences(records) if records else []
    parts = [f"# rlsys report: `{run_dir.name}`", ""]
    if records:
        splits = sorted({str(r.get("split", "?")) for r in records})
        parts += [
            f"Held-out evaluation (split: {', '.join(splits)}). Accuracy is correct / all episodes (an infra "
            "error is not an answer; its share is the last column); answered rate and the other failure "
            "columns are over scored episodes (n). Failure classes: see `rlsys/report/taxonomy.py`.",
            "",
            results_table(records),
            "",
        ]
        if diffs:
            parts += ["Differences between rows, paired by question (each question's accuracy is the mean over "
                      "its samples), with 95% paired-bootstrap intervals over questions:", "",
                      differences_table(diffs), ""]
    else:
        parts += ["No evaluations yet (`eval/*.json`).", ""]
    parts += ["## Training curves", ""]
    parts.append(f"![SFT loss]({SFT_PLOT})" if sft_png else "No SFT loss in `metrics.jsonl`.")
    parts.append("")
    parts.append(f"![GRPO reward and accuracy per step]({RL_PLOT})" if rl_png else "No GRPO steps in `metrics.jsonl`.")
    parts.append("")
    out = run_dir / REPORT_FILE
    out.write_text("\n".join(parts))
    summary = {
        "rows": [{k: r.get(k) for k in ("stage", "label", "step", "split", "summary")} for r in records],
        "differences": diffs,
    }
    (run_dir / REPORT_JSON).write_text(json.dumps(summary, indent=1) + "\n")
    return out
