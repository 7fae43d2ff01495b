"""Output-error identification: the fit lives in :mod:`pdelearn.output_error`; this name stays for old imports."""

from .output_error.fit import OutputErrorFit, evidence, f_test, fit_output_error
from .output_error.model import grid_layout, smoothed_initial_state

__all__ = ["OutputErrorFit", "fit_output_error", "f_test", "grid_layout", "smoothed_initial_state", "evidence"]
