"""Evaluation summaries, the failure taxonomy and the run report (`rlsys report RUN_DIR`)."""

from rlsys.report.eval_files import (
    EvalFileError,
    load_eval,
    load_evals,
    summarise_eval,
    write_eval,
)
from rlsys.report.markdown import ReportError, results_table, write_report
from rlsys.report.taxonomy import FAILURE_CLASSES, SEARCH_CLASSES, classify_failure, search_class

__all__ = [
    "EvalFileError", "load_eval", "load_evals", "summarise_eval", "write_eval", "ReportError",
    "results_table", "write_report", "FAILURE_CLASSES", "classify_failure", "SEARCH_CLASSES", "search_class",
]
