"""Tests of pdelearn.data: loading gridded PDE data."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from pdelearn.data import GridData, from_arrays, load_grid_data
from pdelearn.errors import ConfigError, DataError, ShapeError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

NX, NT = 16, 9
X = np.linspace(-1.0, 1.0, NX)
T = np.linspace(0.0, 0.8, NT)
U = np.sin(np.pi * X)[:, None] * np.exp(-T)[None, :]  # space x time, (16, 9)


def save_npz(tmp_path, name="d.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def save_mat(tmp_path, name="d.mat", **arrays):
    path = tmp_path / name
    scipy.io.savemat(path, arrays)
    return path


# ---------------------------------------------------------------------------------------- files


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(DataError, match="not found") as err:
        load_grid_data(path)
    assert str(path) in str(err.value)


def test_unsupported_extension_lists_supported(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2,3\n")
    with pytest.raises(DataError, match="unsupported") as err:
        load_grid_data(path)
    assert ".npz" in str(err.value) and ".mat" in str(err.value)


@pytest.mark.parametrize("name", ["bad.npz", "bad.mat"])
def test_corrupt_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not a data file" * 10)
    with pytest.raises(DataError, match="cannot read"):
        load_grid_data(path)


def test_matlab_v73_is_reported(tmp_path):
    path = tmp_path / "v73.mat"
    path.write_bytes(b"MATLAB 7.3 MAT-file".ljust(116) + bytes(8) + b"\x00\x02IM" + bytes(64))
    with pytest.raises(DataError, match="v7.3"):
        load_grid_data(path)


def test_npz_roundtrip_float64_c_contiguous(tmp_path):
    path = save_npz(tmp_path, u=U.astype(np.float32), x=X, t=T)
    data = load_grid_data(path)
    assert data.fields["u"].dtype == np.float64 and data.fields["u"].flags.c_contiguous
    assert all(c.dtype == np.float64 and c.ndim == 1 for c in data.coords.values())
    np.testing.assert_allclose(data.fields["u"], U, rtol=1e-6)
    assert list(data.coords) == ["x", "t"] and data.time == "t"


# ---------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("field", ["u", "usol", "uu", "U"])
@pytest.mark.parametrize("tname", ["t", "tt"])
def test_common_names_become_canonical(tmp_path, field, tname):
    path = save_npz(tmp_path, **{field: U, "x": X, tname: T})
    data = load_grid_data(path)
    assert list(data.fields) == ["u"] and list(data.coords) == ["x", "t"] and data.time == "t"


def test_first_common_field_name_wins(tmp_path):
    path = save_npz(tmp_path, usol=U, u=2 * U, x=X, t=T)
    np.testing.assert_array_equal(load_grid_data(path).fields["u"], 2 * U)


def test_explicit_names_are_kept(tmp_path):
    path = save_npz(tmp_path, h=U, v=-U, pos=X, tt=T)
    data = load_grid_data(path, fields=["h", "v"], coords=["pos", "tt"])
    assert list(data.fields) == ["h", "v"] and list(data.coords) == ["pos", "tt"]
    assert data.time == "tt" and data.space == ("pos",)


def test_explicit_time_argument(tmp_path):
    path = save_npz(tmp_path, u=U, x=X, time=T)
    data = load_grid_data(path, coords=["x"], time="time")
    assert list(data.coords) == ["x", "time"] and data.time == "time"
    data = load_grid_data(path, time="time")
    assert data.time == "time"


def test_unknown_field_name_lists_arrays(tmp_path):
    path = save_npz(tmp_path, u=U, x=X, t=T)
    with pytest.raises(DataError, match="--field") as err:
        load_grid_data(path, fields=["w"])
    assert "u (16, 9)" in str(err.value) and "x (16,)" in str(err.value)


def test_unknown_coord_name_lists_arrays(tmp_path):
    path = save_npz(tmp_path, u=U, x=X, t=T)
    with pytest.raises(DataError, match="--coord") as err:
        load_grid_data(path, coords=["xi", "t"])
    assert "u (16, 9)" in str(err.value)


def test_no_field_found(tmp_path):
    path = save_npz(tmp_path, w=U, x=X, t=T)
    with pytest.raises(DataError, match="--field") as err:
        load_grid_data(path)
    assert "w (16, 9)" in str(err.value)


def test_no_time_or_space_found(tmp_path):
    with pytest.raises(DataError, match="time"):
        load_grid_data(save_npz(tmp_path, "a.npz", u=U, x=X, s=T))
    with pytest.raises(DataError, match="--coord"):
        load_grid_data(save_npz(tmp_path, "b.npz", u=U, xi=X, t=T))
    with pytest.raises(DataError, match="time=NAME"):
        load_grid_data(save_npz(tmp_path, "c.npz", u=U, a=X, b=T), coords=["a", "b"])


# ---------------------------------------------------------------------------------------- coordinates


def test_mat_row_and_column_coordinates(tmp_path):
    path = save_mat(tmp_path, usol=U, x=X[None, :], t=T[:, None])
    data = load_grid_data(path)
    assert data.coords["x"].shape == (NX,) and data.coords["t"].shape == (NT,)
    assert data.fields["u"].shape == (NX, NT)
    path = save_mat(tmp_path, "col.mat", uu=U, x=X[:, None], tt=T[None, :])
    assert load_grid_data(path).shape == (NX, NT)


def test_matrix_coordinate_is_shape_error():
    with pytest.raises(ShapeError, match=r"\(1, n\)"):
        from_arrays({"u": U}, {"x": np.stack([X, X]), "t": T})


def test_coordinate_validation():
    with pytest.raises(DataError, match="strictly increasing"):
        from_arrays({"u": U}, {"x": X[::-1], "t": T})
    bent = X + 0.01 * X**2
    with pytest.raises(DataError, match="non-uniform grid in x") as err:
        from_arrays({"u": U}, {"x": bent, "t": T})
    assert "resample to a uniform grid" in str(err.value)
    with pytest.raises(DataError, match="at least 5"):
        from_arrays({"u": U[:, :4]}, {"x": X, "t": T[:4]})
    bad = T.copy()
    bad[3] = np.inf
    with pytest.raises(DataError, match=r"1 of its 9 values are NaN or inf \(first at index \(3,\)\)"):
        from_arrays({"u": U}, {"x": X, "t": bad})


def test_tiny_jitter_and_float32_grids_are_uniform():
    jitter = X + 1e-9 * np.cos(np.arange(NX)) * (X[1] - X[0])
    assert from_arrays({"u": U}, {"x": jitter, "t": T}).shape == (NX, NT)
    x32 = np.linspace(-8, 8, 256, dtype=np.float32)  # rounding is ~1e-5 of the step
    data = from_arrays({"u": np.ones((256, NT))}, {"x": x32, "t": T})
    np.testing.assert_allclose(np.diff(data.coords["x"]), 16 / 255, rtol=1e-12)


def test_time_must_be_a_coordinate():
    with pytest.raises(DataError, match="time coordinate 't' not found"):
        from_arrays({"u": U}, {"x": X, "s": T})


# ---------------------------------------------------------------------------------------- fields


def test_nonfinite_field_reports_count_and_first_index():
    bad = U.copy()
    bad[1, 2] = np.nan
    bad[4, 0] = -np.inf
    with pytest.raises(DataError, match=r"2 of its 144 values are NaN or inf \(first at index \(1, 2\)\)"):
        from_arrays({"u": bad}, {"x": X, "t": T})


def test_non_numeric_field():
    with pytest.raises(DataError, match="numeric"):
        from_arrays({"u": np.full((NX, NT), "a")}, {"x": X, "t": T})


def test_fields_must_share_shape():
    with pytest.raises(ShapeError, match="matches no order"):
        from_arrays({"u": U, "v": U[:-1]}, {"x": X, "t": T})
    with pytest.raises(ShapeError, match="must have shape"):
        GridData({"u": U, "v": U[:, :-1]}, {"x": X, "t": T})


def test_field_and_coordinate_names_must_differ():
    with pytest.raises(ConfigError, match="differ from the coordinate names"):
        from_arrays({"x": U}, {"x": X, "t": T})


def test_complex_with_tiny_imaginary_part_becomes_real():
    data = from_arrays({"u": U + 1e-8j * U}, {"x": X, "t": T})
    assert list(data.fields) == ["u"] and data.fields["u"].dtype == np.float64
    np.testing.assert_array_equal(data.fields["u"], U)


def test_complex_field_is_split():
    data = from_arrays({"u": (U + 2j * U).T}, {"x": X, "t": T})
    assert list(data.fields) == ["a", "b"]
    np.testing.assert_array_equal(data.fields["a"], U)
    np.testing.assert_array_equal(data.fields["b"], 2 * U)
    data = from_arrays({"u": U + 1j * U}, {"x": X, "t": T}, complex_names=("re", "im"))
    assert list(data.fields) == ["re", "im"]


def test_complex_names_collision_and_validation():
    with pytest.raises(ConfigError, match="are taken"):
        from_arrays({"u": U + 1j * U, "a": U}, {"x": X, "t": T})
    with pytest.raises(ConfigError, match="are taken"):
        from_arrays({"u": U + 1j * U, "v": U - 1j * U}, {"x": X, "t": T})
    with pytest.raises(ConfigError, match="two different names"):
        from_arrays({"u": U}, {"x": X, "t": T}, complex_names=("a", "a"))


# ---------------------------------------------------------------------------------------- layout


def test_transposed_layout_is_detected(tmp_path):
    data = load_grid_data(save_npz(tmp_path, u=U.T, x=X, t=T))
    np.testing.assert_array_equal(data.fields["u"], U)
    assert data.fields["u"].flags.c_contiguous


def test_ambiguous_layout_asks_for_layout():
    x = np.linspace(0, 1, NT)
    with pytest.raises(DataError, match="--layout xt or --layout tx") as err:
        from_arrays({"u": U[:NT]}, {"x": x, "t": T})
    assert "ambiguous" in str(err.value) and 'layout="xt"' in str(err.value)


def test_explicit_layout():
    x = np.linspace(0, 1, NT)
    sq = np.arange(NT * NT, dtype=float).reshape(NT, NT)
    np.testing.assert_array_equal(from_arrays({"u": sq}, {"x": x, "t": T}, layout="xt").fields["u"], sq)
    np.testing.assert_array_equal(from_arrays({"u": sq}, {"x": x, "t": T}, layout="tx").fields["u"], sq.T)
    named = from_arrays({"u": sq}, {"pos": x, "time": T}, time="time", layout="time,pos")
    np.testing.assert_array_equal(named.fields["u"], sq.T)


@pytest.mark.parametrize("layout", ["xx", "x", "xtq", "xty", "", 3])
def test_invalid_layout_is_config_error(layout):
    with pytest.raises(ConfigError, match="exactly once|must be a string"):
        from_arrays({"u": U}, {"x": X, "t": T}, layout=layout)


def test_layout_that_contradicts_shape():
    with pytest.raises(ShapeError, match="does not fit"):
        from_arrays({"u": U}, {"x": X, "t": T}, layout="tx")


def test_shape_matching_no_permutation():
    with pytest.raises(ShapeError, match=r"shape \(15, 9\).*x: 16, t: 9"):
        from_arrays({"u": U[:-1]}, {"x": X, "t": T})
    with pytest.raises(ShapeError, match="3 axes"):
        from_arrays({"u": U[..., None]}, {"x": X, "t": T})


def test_two_space_dimensions(tmp_path):
    y = np.linspace(0, 2, 11)
    u = X[:, None, None] + 10 * y[None, :, None] + 100 * T[None, None, :]  # (x, y, t)
    data = load_grid_data(save_npz(tmp_path, u=u.transpose(2, 0, 1), x=X, y=y, t=T))  # stored t, x, y
    assert data.space == ("x", "y") and data.shape == (NX, 11, NT)
    np.testing.assert_array_equal(data.fields["u"], u)
    data = load_grid_data(save_npz(tmp_path, "e.npz", u=u.transpose(1, 0, 2), x=X, y=y, t=T), layout="yxt")
    np.testing.assert_array_equal(data.fields["u"], u)
    # a y array is ignored when the field has only one space axis
    assert load_grid_data(save_npz(tmp_path, "f.npz", u=U, x=X, y=y, t=T)).space == ("x",)


# ---------------------------------------------------------------------------------------- GridData


def test_properties_repr_and_summary():
    data = from_arrays({"u": U}, {"t": T, "x": X})  # time moved last
    assert data.space == ("x",) and data.shape == (NX, NT) and list(data.coords) == ["x", "t"]
    assert data.spacing == pytest.approx({"x": 2 / 15, "t": 0.1})
    assert "u(16, 9)" in repr(data) and "x: 16 points" in data.summary()
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.time = "x"


def test_subset():
    data = from_arrays({"u": U}, {"x": X, "t": T})
    sub = data.subset(x=slice(3, -3), t=slice(None, None, 2))
    assert sub.shape == (10, 5)
    np.testing.assert_array_equal(sub.fields["u"], U[3:-3, ::2])
    np.testing.assert_array_equal(sub.coords["x"], X[3:-3])
    assert sub.spacing["t"] == pytest.approx(0.2)
    with pytest.raises(DataError, match="at least 5"):
        data.subset(x=slice(0, 3))
    with pytest.raises(ConfigError, match="unknown coordinate 'y'"):
        data.subset(y=slice(1, 2))
    with pytest.raises(ConfigError, match="positive step"):
        data.subset(x=slice(None, None, -1))


# ---------------------------------------------------------------------------------------- real files


def real(name):
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return path


@pytest.mark.parametrize("name, shape", [("burgers.mat", (256, 101)), ("kdv.mat", (512, 201)),
                                         ("AC.mat", (512, 201)), ("burgers_shock.mat", (256, 100))])
def test_real_single_field_files(name, shape):
    data = load_grid_data(real(name))
    assert list(data.fields) == ["u"] and data.shape == shape and data.space == ("x",)
    u = data.fields["u"]
    assert u.dtype == np.float64 and u.shape == shape and u.flags.c_contiguous


def test_real_burgers_initial_condition():
    data = load_grid_data(real("burgers.mat"))
    x = data.coords["x"]
    np.testing.assert_allclose(data.fields["u"][:, 0], np.exp(-((x + 2) ** 2)), atol=1e-6)
    assert data.spacing == pytest.approx({"x": 0.0625, "t": 0.1})


def test_real_kuramoto_sivashinsky_names():
    path = real("kuramoto_sivishinky.mat")
    raw = scipy.io.loadmat(path)
    assert "uu" in raw and "tt" in raw and raw["x"].shape == (1024, 1)
    data = load_grid_data(path)
    assert list(data.fields) == ["u"] and list(data.coords) == ["x", "t"]
    assert data.shape == (1024, 251) and data.coords["x"].shape == (1024,)


def test_real_nls_is_transposed_and_split():
    path = real("nls.mat")
    data = load_grid_data(path)
    assert list(data.fields) == ["a", "b"] and data.shape == (512, 501)
    usol = scipy.io.loadmat(path)["usol"]  # (501, 512): time x space
    np.testing.assert_array_equal(data.fields["a"], usol.real.T)
    np.testing.assert_array_equal(data.fields["b"], usol.imag.T)
