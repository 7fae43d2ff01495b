"""Robustness and feature analyses of trained classifiers (``pdelearn evaluate`` / ``pdelearn compare``).

:mod:`.core` loads a run and measures conditions, :mod:`.attacks` holds FGSM and PGD in pixel space,
:mod:`.shifts` the out-of-distribution transforms, :mod:`.features` the t-SNE of ``h_task``,
:mod:`.report` the tables and files. torchvision and scikit-learn are imported on use.
"""

from .attacks import ATTACKS, EPS_MAX, Normalized, fgsm, parse_eps, pgd
from .core import DEFAULT_EPS, EVALUATION, FIXED_STEP, ClassifierRun, evaluate_run, load_classifier
from .report import compare_runs, evaluate_folder, format_table, load_evaluation, write_evaluation
from .shifts import SHIFTS

__all__ = ["ATTACKS", "ClassifierRun", "DEFAULT_EPS", "EPS_MAX", "EVALUATION", "FIXED_STEP", "Normalized", "SHIFTS",
           "compare_runs", "evaluate_folder", "evaluate_run", "fgsm", "format_table", "load_classifier", "load_evaluation",
           "parse_eps",
           "pgd", "write_evaluation"]
