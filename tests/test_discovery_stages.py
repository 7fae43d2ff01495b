"""The stages of discover (pdelearn.discovery_stages): strings mapped to objects at the edge, own stages accepted,
one report per equation."""

from __future__ import annotations

import numpy as np
import pytest

from pdelearn.data import from_arrays
from pdelearn.discovery import OutputErrorCheck, discover, stages_from_options
from pdelearn.discovery_stages import (
    BootstrapIntervals,
    EquationReport,
    Findings,
    GLSRefit,
    Stages,
    StrongFormSystem,
    WeakFormSystem,
    build_system,
    report_equation,
    select_terms,
)
from pdelearn.errors import ConfigError
from pdelearn.grid import GridDerivative
from pdelearn.terms import polynomial_library
from pdelearn.weak import WeakForm


@pytest.fixture(scope="module")
def heat():
    """u_t = 0.5 u_xx on a periodic grid, two modes (so that u_xx is not a multiple of u)."""
    x = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    t = np.linspace(0, 1, 201)
    u = np.exp(-0.5 * t) * np.sin(x)[:, None] + np.exp(-2 * t) * np.sin(2 * x)[:, None]
    return {"u": u}, {"x": x, "t": t}


def same(a, b):
    assert str(a.equation) == str(b.equation)
    assert a.warnings == b.warnings and a.notes == b.notes and a.unexplained == b.unexplained
    for ra, rb in zip(a.reports, b.reports):
        np.testing.assert_array_equal(ra.support, rb.support)
        np.testing.assert_array_equal(ra.coefficients, rb.coefficients)


def test_option_strings_become_stage_objects():
    stages = stages_from_options(method="strong", derivative="spectral", bootstrap=5, refit="gls", refine="none")
    assert isinstance(stages.system, StrongFormSystem)
    assert stages.system.space.name == "spectral" and stages.system.time.name == "fd"  # time is never periodic
    assert isinstance(stages.refit, GLSRefit) and stages.verifier is None
    assert isinstance(stages.intervals, BootstrapIntervals) and stages.intervals.resamples == 5
    default = stages_from_options()
    assert isinstance(default.system, WeakFormSystem) and isinstance(default.verifier, OutputErrorCheck)
    assert default.verifier.how == "auto" and default.intervals is None
    assert stages_from_options(refit="none", method="strong", derivative="smooth").system.time.name == "smooth"
    assert stages_from_options(refit="none").refit is None


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "weird"}, "method must be 'weak' or 'strong'"),
    ({"derivative": "bad"}, "derivative must be one of"),
    ({"refit": 3}, "refit must be 'gls' or 'none'"),
    ({"refine": object()}, "refine must be one of"),
])
def test_stage_options_are_checked(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        stages_from_options(**kwargs)


def test_own_differentiator_and_system_builder_match_the_strings(heat):
    fields, coords = heat
    by_name = discover(fields, coords, method="strong", derivative="spectral", max_power=2, max_order=2)
    same(by_name, discover(fields, coords, method="strong", derivative=GridDerivative("spectral"), max_power=2,
                           max_order=2))
    builder = StrongFormSystem(GridDerivative("spectral"), time_derivative=GridDerivative("fd"))
    own = discover(fields, coords, method=builder, max_power=2, max_order=2)
    same(by_name, own)
    assert own.options["method"] == "strong" and own.options["derivative"] == "spectral"
    assert str(by_name.equation) == "u_t = 0.5 u_xx"


def test_weak_builder_object_records_its_test_functions(heat):
    fields, coords = heat
    form = WeakForm(radius=0.15)
    a = discover(fields, coords, weak=form, max_power=2, max_order=2)
    b = discover(fields, coords, method=WeakFormSystem(form), max_power=2, max_order=2)
    same(a, b)
    assert a.options == b.options and b.options["weak"]["radius"] == 0.15


class NoteVerifier:
    """A verifier that never changes the equation and says so."""

    name = "note-only"

    def __init__(self):
        self.calls = []

    def verify(self, system, j, report, doubts, also, selector, say):
        self.calls.append((report.lhs, list(report.names(system.library))))
        return None, Findings(notes=[f"{report.lhs}: looked at {', '.join(report.names(system.library))}"])


class NoRefit:
    name = "kept"

    def refit(self, system, j, report, selector, say):
        return None, Findings(warnings=[f"{report.lhs}: not refitted"])


def test_own_verifier_and_refit_write_into_the_report(heat):
    fields, coords = heat
    verifier = NoteVerifier()
    found = discover(fields, coords, method="strong", derivative="spectral", refine=verifier, refit=NoRefit(),
                     max_power=2, max_order=2)
    assert verifier.calls == [("u_t", ["u_xx"])]
    assert found.notes == ["u_t: looked at u_xx"] and found.warnings == ["u_t: not refitted"]
    assert found.options["refine"] == "note-only" and found.options["refit"] == "kept"
    assert found.reports[0].notes == found.notes and found.reports[0].warnings == found.warnings
    assert found.refits == [None] and found.refinements == [None]


def test_stages_composed_by_hand_give_discovers_result(heat):
    fields, coords = heat
    data = from_arrays(fields, coords)
    lib = polynomial_library(["u"], ["x"], 2, 2)
    stages = Stages(refit=GLSRefit(), verifier=None)
    system = build_system(stages.system, data, lib, ["u_t"])
    fits = select_terms(stages.selector, system, stages.budget)
    reports = [report_equation(stages, system, j, fit, lambda m: None) for j, fit in enumerate(fits)]
    assert isinstance(reports[0], EquationReport)
    found = discover(fields, coords, library=lib, refine="none")
    assert str(reports[0].equation(lib)) == str(found.equation)
    np.testing.assert_array_equal(reports[0].coefficients, found.reports[0].coefficients)


def test_reports_hold_each_equations_findings():
    x = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    t = np.linspace(0, 1, 41)
    rng = np.random.default_rng(3)
    found = discover({"u": rng.standard_normal((64, 41))}, {"x": x, "t": t}, max_power=2, max_order=2)
    assert [r.unexplained for r in found.reports] == found.unexplained and len(found.unexplained) == 1
    assert not found.reliable
