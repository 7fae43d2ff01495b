"""The output-error engine: simulate an equation, fit its coefficients and initial state to data, and test supports.

- :mod:`.policy`: the rules (test levels, time step, initial-state modes, noise floor, resolution), named once;
- :mod:`.model`: where the observations sit on the periodic solver grid, the initial state's Fourier modes;
- :mod:`.fit`: :func:`fit_output_error` (Levenberg-Marquardt, Fisher standard errors), :func:`f_test`;
- :mod:`.engine`: one refinement's fits under the policy, the initial state's growth, the resolution check;
- :mod:`.search`: score tests to add terms, F-tests to drop them, with the caller's acceptance rule.

Grid refinement (:mod:`pdelearn.refine`), joint refinement (:mod:`pdelearn.problems.joint_refine`) and
``problem: inverse`` use it. Names are loaded on first use, so :mod:`.policy` stays a leaf without torch.
"""

_LAZY = {"fit_output_error": "fit", "OutputErrorFit": "fit", "f_test": "fit", "evidence": "fit",
         "grid_layout": "model", "smoothed_initial_state": "model", "Engine": "engine"}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'pdelearn.output_error' has no attribute {name!r}")
