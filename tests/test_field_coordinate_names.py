"""A name is a field or a coordinate, never both (issue 27, case ``export_field_named_x``), and the ODE placeholder
coordinate that makes this hold for systems without space derivatives (``x, y, z`` states over ``s``)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pdelearn import Equation, EquationSystem, ParseError, TermLibrary
from pdelearn.cli import main
from pdelearn.terms import PLACEHOLDER_COORDS, bridge, placeholder_coord, register_bridge

LORENZ = ["x_t = -10*x + 10*y", "y_t = 28*x - y - x*z", "z_t = x*y - 2.6666667*z"]


@pytest.mark.parametrize("make", [
    lambda: Equation.from_dict({"lhs": "x_t", "terms": {"x_xx": 0.1}, "fields": ["x"], "coords": ["x"]}),
    lambda: Equation.parse("x_t = 0.1*x_xx"),
    lambda: Equation.parse("u_t = u_xx", fields=["u", "x"], coords=["x"]),
    lambda: Equation("u_t", {"u": 1.0}, fields=["u"], coords=["u"]),
    lambda: EquationSystem.from_dict({"fields": ["u", "v"], "coords": ["v"],
                                      "equations": [{"lhs": "u_t", "terms": {"u": 1.0}}]}),
])
def test_a_field_named_like_a_coordinate_is_a_parse_error(make):
    with pytest.raises(ParseError, match=r"a name cannot be a field and a coordinate at once.*rename the field") as info:
        make()
    assert "\n" not in str(info.value)


def test_export_of_an_equation_whose_field_is_a_coordinate_exits_2(tmp_path):
    path = tmp_path / "eq.json"
    path.write_text(json.dumps({"lhs": "x_t", "terms": {"x_xx": 0.1}, "fields": ["x"], "coords": ["x"]}))
    res = CliRunner().invoke(main, ["export", str(path), "--text"])
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.startswith("Error: ") and res.stderr.count("\n") == 1 and "field and a coordinate" in res.stderr


def test_an_ode_system_over_x_y_z_gets_the_placeholder_coordinate_s():
    sys = EquationSystem.parse(LORENZ)
    assert sys.fields == ("x", "y", "z") and sys.coords == ("s",)
    assert str(sys).splitlines()[0] == "x_t = -10 x + 10 y"
    assert EquationSystem.from_dict(json.loads(json.dumps(sys.to_dict()))) == sys
    assert Equation.parse("u_t = -u").coords == ("x",)  # unchanged where x is free


def test_placeholder_coord_is_never_a_field():
    assert placeholder_coord(["u"]) == "x"
    assert placeholder_coord(["x", "y", "z"]) == "s"
    assert placeholder_coord(list(PLACEHOLDER_COORDS)) == "s0"
    assert placeholder_coord([*PLACEHOLDER_COORDS, "s0"]) == "s1"


def test_the_core_calls_only_a_registered_bridge():
    with pytest.raises(ImportError, match="no nope bridge is registered; import pdelearn.nope first"):
        bridge("nope")
    seen = []

    class Fake:
        @staticmethod
        def equation_from_pysindy(model, fields, coords, custom):
            seen.append((model, fields))
            return "converted"

    import pdelearn.terms as terms

    saved = terms._BRIDGES["pysindy"]
    register_bridge("pysindy", lambda: Fake)
    try:
        assert Equation.from_pysindy("model", fields=["a"]) == "converted" and seen == [("model", ["a"])]
    finally:
        register_bridge("pysindy", saved)


def test_the_package_plugs_in_the_pysindy_bridge():
    ps = pytest.importorskip("pysindy")
    import numpy as np

    t = np.linspace(0, 6, 1201)
    X = np.stack([np.cos(t), np.sin(t), np.exp(-t)], axis=1)  # x' = -y, y' = x, z' = -z
    model = ps.SINDy(feature_library=ps.PolynomialLibrary(degree=1), optimizer=ps.STLSQ(threshold=0.1))
    model.fit(X, t=t, feature_names=["x", "y", "z"])
    found = Equation.from_pysindy(model)
    assert found.fields == ("x", "y", "z") and found.coords == ("s",)
    res = found.compare(EquationSystem.parse(["x_t = -y", "y_t = x", "z_t = -z"]))
    assert res["exact_support"] and res["max_rel_error"] < 1e-2, res
    assert TermLibrary.from_pysindy(model.feature_library, fields=["x", "y", "z"]).coords == ("s",)
