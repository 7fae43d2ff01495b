"""The output-error engine: simulate an equation, fit its coefficients and initial state to data, test supports
(docs/output_error.md: :mod:`.policy`, :mod:`.model`, :mod:`.fit`, :mod:`.engine`, :mod:`.search`). Names are
loaded on first use, so :mod:`.policy` stays a leaf without torch."""

_LAZY = {"fit_output_error": "fit", "OutputErrorFit": "fit", "f_test": "fit", "evidence": "fit",
         "grid_layout": "model", "smoothed_initial_state": "model", "Engine": "engine"}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    import importlib

    if name not in _LAZY:
        raise AttributeError(f"module 'pdelearn.output_error' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
