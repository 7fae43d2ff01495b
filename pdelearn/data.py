"""Loading gridded PDE data for equation discovery.

A data set is a :class:`GridData`: real fields sampled on a uniform tensor grid, with the space axes
first (in coordinate order) and time last. :func:`load_grid_data` reads ``.npz`` and MATLAB v5 ``.mat``
files, :func:`from_arrays` builds one from in-memory arrays. Both detect the axis order, split complex
fields into real and imaginary parts and reject non-finite, non-monotonic or non-uniform grids.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pdelearn.errors import ConfigError, DataError, ShapeError
from pdelearn.limits import MAX_DATA_BYTES, MAX_FIELD_SCALE, MAX_GRID_POINTS, MIN_FIELD_SCALE

__all__ = ["GridData", "from_arrays", "load_grid_data", "MIN_POINTS", "UNIFORM_RTOL", "COMPLEX_RTOL"]

MIN_POINTS = 5  #: fewest grid points allowed along any axis
UNIFORM_RTOL = 1e-6  #: largest allowed deviation of a grid step, relative to the mean step
COMPLEX_RTOL = 1e-5  #: max|imag| <= COMPLEX_RTOL * max|field| means the field is real
FIELD_NAMES = ("u", "usol", "uu", "U")  # searched in this order; the field is then called "u"
TIME_NAMES = ("t", "tt")  # the time coordinate is then called "t"
SPACE_NAMES = ("x", "y", "z")
SUFFIXES = {".npz": "numpy .npz", ".mat": "MATLAB v5 .mat"}


def _order(coords: Mapping, time: str) -> dict[str, np.ndarray]:
    """Validate all coordinates and move time last."""
    if time not in coords:
        raise DataError(f"time coordinate {time!r} not found among the coordinates {list(coords)}; "
                        f"pass the name of the time array with --time NAME (Python: time=NAME)")
    if len(coords) < 2:
        raise DataError(f"need a space coordinate besides time {time!r}, got {list(coords)}; "
                        f"pass --coord NAME")
    return {k: _coord(k, coords[k]) for k in [k for k in coords if k != time] + [time]}


def _numeric(kind: str, name: str, value) -> np.ndarray:
    """Return ``value`` as a numeric array with only finite entries, else raise DataError."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iufc":
        raise DataError(f"{kind} {name!r} must be a numeric array, got dtype {arr.dtype} with shape "
                        f"{arr.shape}; check that --{kind} names a numeric array")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{kind} {name!r} must be finite, but {int(bad.sum())} of its {arr.size} values "
                        f"are NaN or inf (first at index {first}); clean or interpolate the data first")
    return arr


def _check_scale(small_what: str, small: float, large_what: str, large: float) -> None:
    """Refuse data whose magnitude leaves double precision no room (MIN_FIELD_SCALE, MAX_FIELD_SCALE)."""
    if 0 < small < MIN_FIELD_SCALE.value:
        raise DataError(MIN_FIELD_SCALE.message(small, small_what, above=False))
    if large > MAX_FIELD_SCALE.value:
        raise DataError(MAX_FIELD_SCALE.message(large, large_what))


def _coord(name: str, value) -> np.ndarray:
    """Validate one coordinate; shape (n,), (1, n) or (n, 1) -> float64 array of shape (n,)."""
    arr = _numeric("coord", name, value)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ShapeError(f"coordinate {name!r} must be a vector of shape (n,), (1, n) or (n, 1), got shape "
                         f"{arr.shape}; pass --coord with the name of a 1-D coordinate array")
    if np.iscomplexobj(arr):
        if np.any(arr.imag):
            raise DataError(f"coordinate {name!r} must be real, got complex values; pass a real array")
        arr = arr.real
    low = arr.dtype.kind == "f" and arr.dtype.itemsize < 8  # float16/float32 storage
    c = arr.astype(np.float64)
    if c.size < MIN_POINTS:
        raise DataError(f"coordinate {name!r} needs at least {MIN_POINTS} points for derivatives, got "
                        f"{c.size}; use a finer grid or a wider subset")
    step = np.diff(c)
    if np.any(step <= 0):
        i = int(np.argmax(step <= 0))
        raise DataError(f"coordinate {name!r} must be strictly increasing, but {name}[{i}] = {c[i]:g} >= "
                        f"{name}[{i + 1}] = {c[i + 1]:g}; sort the data along {name} (flip both the "
                        f"coordinate and the field axis if the grid is decreasing)")
    h = (c[-1] - c[0]) / (c.size - 1)
    _check_scale(f"the grid step of coordinate {name!r}", h, f"max|{name}|", float(np.max(np.abs(c))))
    tol = UNIFORM_RTOL  # float32 storage rounds each value: that is not what this check is for
    if low:
        tol = max(tol, 4 * float(np.finfo(arr.dtype).eps) * float(np.max(np.abs(c))) / h)
    dev = float(np.max(np.abs(step - h)) / h)
    if dev > tol:
        raise DataError(f"non-uniform grid in {name}: steps range from {step.min():g} to {step.max():g} "
                        f"(relative deviation {dev:.2g}, allowed {tol:.1g}); resample to a uniform grid "
                        f"(uniform grids are required for finite differences and the weak form)")
    if low:  # rebuild the rounded grid exactly in float64
        c = c[0] + h * np.arange(c.size)
    return c


@dataclass(frozen=True, eq=False)
class GridData:
    """Real fields on a uniform tensor grid, space axes first and time last.

    Parameters
    ----------
    fields : dict of str to ndarray
        Each of shape ``(n_c1, ..., n_cd, n_t)``: one axis per coordinate, in the order of ``coords``.
        Stored as C-contiguous float64 copies.
    coords : dict of str to ndarray
        Space coordinates then time, each 1-D of shape ``(n_c,)``, float64, strictly increasing,
        uniform and with at least :data:`MIN_POINTS` points. The time coordinate is moved last.
    time : str, default "t"
        Name of the time coordinate.

    Raises
    ------
    DataError, ShapeError, ConfigError
        On non-finite values, bad grids, shapes that disagree with the coordinates or name clashes.
    """

    fields: dict[str, np.ndarray]
    coords: dict[str, np.ndarray]
    time: str = "t"

    def __post_init__(self):
        coords = _order(self.coords, self.time)
        shape = tuple(c.size for c in coords.values())
        MAX_GRID_POINTS.check(int(np.prod(shape, dtype=np.float64)), f"the grid {' x '.join(map(str, shape))}")
        if not self.fields:
            raise DataError("need at least one field, got none; pass --field NAME")
        fields = {}
        for name, value in self.fields.items():
            if not isinstance(name, str) or not name or name in coords:
                raise ConfigError(f"field names must be non-empty and differ from the coordinate names "
                                  f"{list(coords)}, got {name!r}; rename the field")
            arr = _numeric("field", name, value)
            if np.iscomplexobj(arr):
                raise DataError(f"field {name!r} is complex; use from_arrays or load_grid_data, which "
                                f"split it into real and imaginary parts")
            if arr.shape != shape:
                dims = ", ".join(f"{k}: {c.size}" for k, c in coords.items())
                raise ShapeError(f"field {name!r} must have shape {shape} ({dims}), got {arr.shape}; "
                                 f"all fields must share the grid (use from_arrays to reorder axes)")
            fields[name] = np.array(arr, dtype=np.float64, order="C")
            top = float(np.max(np.abs(fields[name]))) if arr.size else 0.0
            _check_scale(f"max|{name}|", top, f"max|{name}|", top)
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "coords", coords)

    @property
    def space(self) -> tuple[str, ...]:
        """Names of the space coordinates, in axis order."""
        return tuple(k for k in self.coords if k != self.time)

    @property
    def shape(self) -> tuple[int, ...]:
        """Grid shape ``(n_c1, ..., n_cd, n_t)``, shared by all fields."""
        return tuple(c.size for c in self.coords.values())

    @property
    def spacing(self) -> dict[str, float]:
        """Grid step of each coordinate, ``(c[-1] - c[0]) / (n - 1)``."""
        return {k: float((c[-1] - c[0]) / (c.size - 1)) for k, c in self.coords.items()}

    def subset(self, **slices: slice) -> GridData:
        """Return the data restricted by one ``slice`` per coordinate, e.g. ``subset(x=slice(10, -10))``.

        The result is validated like any GridData (at least :data:`MIN_POINTS` points per axis).
        """
        index = [slice(None)] * len(self.coords)
        for name, s in slices.items():
            if name not in self.coords:
                raise ConfigError(f"subset got unknown coordinate {name!r}; the coordinates are "
                                  f"{list(self.coords)}")
            if not isinstance(s, slice) or (s.step is not None and s.step <= 0):
                raise ConfigError(f"subset({name}=...) must be a slice with a positive step, such as "
                                  f"slice(10, -10), got {s!r}")
            index[list(self.coords).index(name)] = s
        coords = {k: c[s] for (k, c), s in zip(self.coords.items(), index)}
        fields = {k: f[tuple(index)] for k, f in self.fields.items()}
        return GridData(fields, coords, self.time)

    def summary(self) -> str:
        """Multi-line description of the fields and the grid."""
        lines = [f"GridData: {len(self.fields)} field(s) on a {' x '.join(map(str, self.shape))} grid "
                 f"({', '.join(self.coords)})"]
        for k, f in self.fields.items():
            lines.append(f"  field {k}: shape {f.shape}, range [{f.min():.6g}, {f.max():.6g}]")
        for k, c in self.coords.items():
            role = "time" if k == self.time else "space"
            lines.append(f"  {role} {k}: {c.size} points on [{c[0]:.6g}, {c[-1]:.6g}], "
                         f"d{k} = {self.spacing[k]:.6g}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}{f.shape}" for k, f in self.fields.items())
        coords = ", ".join(f"{k}[{c[0]:.6g}..{c[-1]:.6g}, n={c.size}]" for k, c in self.coords.items())
        return f"GridData(fields: {fields}; coords: {coords}; time={self.time!r})"


def _layout_str(names: Sequence[str]) -> str:
    return "".join(names) if all(len(n) == 1 for n in names) else ",".join(names)


def _parse_layout(layout, names: list[str]) -> list[str]:
    """Turn "tx", "xyt" or "x,time" into coordinate names in axis order."""
    example = _layout_str(names)
    if not isinstance(layout, str):
        raise ConfigError(f"layout must be a string such as {example!r}, got {layout!r}")
    tokens = re.split(r"[,\s]+", layout.strip()) if re.search(r"[,\s]", layout.strip()) else list(layout)
    axes = []
    for tok in tokens:
        hits = [tok] if tok in names else [n for n in names if n[:1] == tok and len(tok) == 1]
        axes.append(hits[0] if len(hits) == 1 else None)
    if None in axes or sorted(axes) != sorted(names):
        raise ConfigError(f"layout {layout!r} must name each coordinate of {names} exactly once, in axis "
                          f"order; pass e.g. --layout {example}")
    return axes


def _orient(name: str, arr: np.ndarray, coords: dict[str, np.ndarray], layout) -> np.ndarray:
    """Transpose ``arr`` so that its axes follow the order of ``coords``."""
    names = list(coords)
    sizes = {k: c.size for k, c in coords.items()}
    dims = ", ".join(f"{k}: {n}" for k, n in sizes.items())
    if arr.ndim != len(names):
        raise ShapeError(f"field {name!r} has shape {arr.shape} ({arr.ndim} axes) but {len(names)} "
                         f"coordinates were given ({dims}); pass one --coord NAME per axis")
    if layout is not None:
        axes = _parse_layout(layout, names)
        if any(arr.shape[i] != sizes[k] for i, k in enumerate(axes)):
            raise ShapeError(f"layout {layout!r} does not fit field {name!r}: shape {arr.shape} vs "
                             f"coordinate lengths {dims}; fix --layout or the --coord names")
    else:
        fits = [p for p in itertools.permutations(names)
                if all(arr.shape[i] == sizes[k] for i, k in enumerate(p))]
        if not fits:
            raise ShapeError(f"field {name!r} has shape {arr.shape}, which matches no order of the "
                             f"coordinate lengths ({dims}); check --field and --coord")
        if len(fits) > 1:
            opts = [_layout_str(p) for p in fits]
            how = " or ".join(f"--layout {o}" for o in opts[:3]) + (" (or another)" if len(opts) > 3 else "")
            raise DataError(f"axis order of field {name!r} is ambiguous: shape {arr.shape} fits layouts "
                            f"{', '.join(opts)} ({dims}); pass {how} (python: layout=\"{opts[0]}\")")
        axes = list(fits[0])
    return arr.transpose([axes.index(k) for k in names])


def from_arrays(fields: Mapping, coords: Mapping, *, time: str = "t", layout: str | None = None,
                complex_names: Sequence[str] = ("a", "b")) -> GridData:
    """Build a :class:`GridData` from arrays, detecting the axis order from the coordinate lengths.

    Parameters
    ----------
    fields : mapping of str to array_like
        Field arrays with one axis per coordinate, in any order, e.g. shape ``(n_x, n_t)`` or
        ``(n_t, n_x)``.
    coords : mapping of str to array_like
        Coordinate vectors of shape ``(n,)``, ``(1, n)`` or ``(n, 1)``; space coordinates keep their
        order, time is moved last.
    time : str, default "t"
        Which key of ``coords`` is time.
    layout : str, optional
        Axis order of the field arrays as coordinate initials or names, e.g. ``"tx"``, ``"xyt"`` or
        ``"x,time"``. Needed when coordinate lengths coincide.
    complex_names : (str, str), default ("a", "b")
        Names of the real and imaginary parts of a complex field (``u = a + i b``). Fields whose
        imaginary part is at most ``COMPLEX_RTOL * max|u|`` are made real instead.

    Returns
    -------
    GridData
        Fields of shape ``(n_c1, ..., n_cd, n_t)``, float64, C-contiguous.

    Examples
    --------
    >>> x, t = np.linspace(0, 1, 8), np.linspace(0, 0.5, 6)
    >>> u = np.exp(-t)[:, None] * np.sin(np.pi * x)[None, :]  # time x space, shape (6, 8)
    >>> data = from_arrays({"u": u}, {"x": x, "t": t})
    >>> data.fields["u"].shape, data.space, data.time
    ((8, 6), ('x',), 't')
    """
    names = tuple(complex_names) if isinstance(complex_names, (tuple, list)) else ()
    if len(names) != 2 or not all(isinstance(n, str) and n for n in names) or names[0] == names[1]:
        raise ConfigError(f"complex_names must be two different names, such as ('a', 'b'), "
                          f"got {complex_names!r}")
    coords = _order(coords, time)
    out: dict[str, np.ndarray] = {}
    for name, value in fields.items():
        arr = _orient(name, _numeric("field", name, value), coords, layout)
        if np.iscomplexobj(arr):
            if np.max(np.abs(arr.imag)) <= COMPLEX_RTOL * np.max(np.abs(arr)):
                arr = arr.real
            else:
                clash = [n for n in names if n in out or n in coords or (n != name and n in fields)]
                if clash:
                    raise ConfigError(f"complex field {name!r} is split into {names[0]!r} (real part) and "
                                      f"{names[1]!r} (imaginary part), but the name(s) {clash} are taken; "
                                      f"pass other complex_names")
                out[names[0]], out[names[1]] = arr.real, arr.imag
                continue
        out[name] = arr
    return GridData(out, coords, time)


def _read(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(f"data file not found: {path} (expected an existing .npz or .mat file)")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"unsupported data file type {path.suffix or '(none)'!r} for {path}; supported: "
                        f"{', '.join(SUFFIXES.values())}; convert it, e.g. with numpy.savez")
    try:
        _check_declared(path, suffix)  # from the headers, before anything is decompressed
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        from scipy.io import loadmat
        return {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    except DataError:
        raise
    except NotImplementedError as exc:  # scipy's answer to MATLAB v7.3 (HDF5) files
        raise DataError(f"cannot read {path}: MATLAB v7.3 (HDF5) files are not supported; re-save "
                        f"it in MATLAB with save(..., '-v7')") from exc
    except Exception as exc:
        raise DataError(f"cannot read {path} as {SUFFIXES[suffix]} file ({type(exc).__name__}: {exc}); "
                        f"the file may be corrupt or have the wrong extension") from exc


_MAT_BYTES = {"double": 8, "single": 4, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4,
              "int64": 8, "uint64": 8, "logical": 1, "char": 2}


def _check_declared(path: Path, suffix: str) -> None:
    """The arrays' sizes as their headers declare them (npy headers in the zip, MATLAB variable headers), checked
    against MAX_DATA_BYTES and MAX_GRID_POINTS before any array is decompressed or allocated."""
    sizes: list[tuple[str, tuple, int]] = []  # name, shape, bytes per element
    if suffix == ".npz":
        import zipfile

        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                with z.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(fh)
                sizes.append((info.filename.removesuffix(".npy"), tuple(shape), max(dtype.itemsize, 1)))
    else:
        from scipy.io import whosmat

        # the variable headers only; a compressed variable decompresses one 128 kB block (<= 135 MB) for its header
        for name, shape, cls in whosmat(path, verify_compressed_data_integrity=False):
            sizes.append((name, tuple(shape), 16 if cls not in _MAT_BYTES else _MAT_BYTES[cls]))
    total = 0
    for name, shape, itemsize in sizes:
        points = int(np.prod(shape, dtype=np.float64)) if shape else 1
        MAX_GRID_POINTS.check(points, f"array {name!r} of {path} (shape {shape})")
        total += points * itemsize
        MAX_DATA_BYTES.check(total, f"the arrays of {path}, uncompressed,")


def load_grid_data(path, *, fields: Sequence[str] | None = None, coords: Sequence[str] | None = None,
                   time: str | None = None, layout: str | None = None,
                   complex_names: Sequence[str] = ("a", "b")) -> GridData:
    """Load gridded data from a ``.npz`` or MATLAB v5 ``.mat`` file.

    Parameters
    ----------
    path : str or Path
        The file.
    fields : sequence of str, optional
        Names of the field arrays. Default: the first of ``u``, ``usol``, ``uu``, ``U``, called ``u``.
    coords : sequence of str, optional
        Names of the coordinate arrays (space and time). Default: ``x`` (plus ``y``, ``z`` when present
        and the field has enough axes) and ``t`` or ``tt``, called ``t``.
    time : str, optional
        Name of the time array. Default: the coordinate named ``t`` or ``tt``.
    layout, complex_names
        As in :func:`from_arrays`.

    Returns
    -------
    GridData
        Fields of shape ``(n_c1, ..., n_cd, n_t)``; explicit names are kept, found ones are canonical.
    """
    path = Path(path)
    arrays = _read(path)
    listing = ", ".join(f"{k} {np.shape(v)}" for k, v in arrays.items()) or "none"

    def pick(name: str, flag: str) -> np.ndarray:
        if name not in arrays:
            raise DataError(f"no array named {name!r} in {path}; it has: {listing}; pass {flag} NAME")
        return arrays[name]

    if fields is None:
        found = next((k for k in FIELD_NAMES if k in arrays), None)
        if found is None:
            raise DataError(f"no field array ({', '.join(FIELD_NAMES)}) found in {path}; it has: {listing}; "
                            f"pass --field NAME")
        field_arrays = {"u": arrays[found]}
        first = found
    else:
        field_arrays = {k: pick(k, "--field") for k in ([fields] if isinstance(fields, str) else fields)}
    if coords is None:
        found = time or next((k for k in TIME_NAMES if k in arrays), None)
        ndim = max((np.ndim(v) for v in field_arrays.values()), default=2)
        space = [k for k in SPACE_NAMES if k in arrays][: max(ndim - 1, 1)]
        if found is None or "x" not in space:
            raise DataError(f"no {'time (t, tt)' if found is None else 'space (x)'} coordinate found in "
                            f"{path}; it has: {listing}; pass --coord NAME for each coordinate")
        time = time or "t"  # the canonical name, unless the user named the time array
        coord_arrays = {**{k: arrays[k] for k in space}, time: pick(found, "--coord")}
    else:
        names = [coords] if isinstance(coords, str) else list(coords)
        coord_arrays = {k: pick(k, "--coord") for k in names + ([time] if time and time not in names else [])}
        time = time or next((k for k in TIME_NAMES if k in coord_arrays), None)
        if time is None:
            raise DataError(f"cannot tell which of the coordinates {names} is time (none is named t or "
                            f"tt); pass --time NAME (Python: time=NAME)")
    if fields is None:
        used = {k for k, v in arrays.items() if any(v is c for c in coord_arrays.values())}
        others = _sibling_fields(arrays, first, used)
        if others:
            bad = [k for k in [first] + others if not _FIELD_NAME.match(k) or k in coord_arrays]
            if bad:
                raise DataError(f"{path} holds several arrays shaped like the field {first!r}: "
                                f"{', '.join([first] + others)}; the name(s) {bad} cannot name fields (letters and "
                                f"digits only); pass --field NAME for each field to use")
            field_arrays = {k: arrays[k] for k in [first] + others}
    return from_arrays(field_arrays, coord_arrays, time=time, layout=layout, complex_names=complex_names)


_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def _sibling_fields(arrays: Mapping[str, np.ndarray], first: str, used: set) -> list[str]:
    """Other numeric arrays with the shape of ``arrays[first]`` that are not coordinates or coordinate grids.

    A coordinate grid (``numpy.meshgrid`` output) varies along one axis only and is skipped.
    """
    shape = np.shape(arrays[first])
    out = []
    for k, v in arrays.items():
        if k == first or k in used or np.shape(v) != shape or np.asarray(v).dtype.kind not in "iufc":
            continue
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: such an array is refused later, as a field
            varying = sum(bool(np.any(np.diff(v, axis=a) != 0)) for a in range(np.ndim(v)) if np.shape(v)[a] > 1)
        if varying > 1:
            out.append(k)
    return out
