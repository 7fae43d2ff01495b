"""Hostile and mistaken inputs for every ``pdelearn`` command, each judged "handled cleanly" or not (issue 27).

Each case builds its inputs in a fresh temporary folder under the system temp directory, surrounds them with a
"precious" tree of user files (notes, data, a subfolder; also one and two folders up, so that ``--out ..`` has
something to lose), runs one command as a subprocess under a wall-clock timeout and an address-space limit
(``RLIMIT_AS``), with ``OMP_NUM_THREADS=1``, and judges it:

* the exit code is one the case allows (2 bad input, 3 unreliable / over a budget, 0 for legitimate inputs, which
  must keep working: over-eager refusals count too);
* no ``Traceback`` on stderr; exit 2 gives exactly one ``Error:`` line and it is the last line on stderr; exit 3
  gives at least one line saying why;
* it finished within the timeout and the memory limit (peak resident memory from ``wait4``);
* nothing half-written: after exit 2 nothing new exists anywhere in the case's tree; after any exit no temporary
  hidden sibling (``.name.*``) is left outside the output folder;
* zero data loss: every file and folder that existed before the run is byte-identical afterwards (hashes before
  and after), except those a case declares as the command's own output;
* nothing was executed from the input (crafted pickles, YAML tags and expressions try to create ``PWNED``).

Exit 0 where the case expects a refusal, or exit 0 with a wrong answer on a control case, is an "exit-0 wrong
answer". The memory limit is ``--memory-mb`` above the address space that importing ``pdelearn.cli`` (torch
included) already takes (measured at start-up, about 3.4 GB with a CUDA build of torch), because ``RLIMIT_AS``
counts mapped libraries, not only allocations; a peak resident set above ``--memory-mb`` also fails the case.

    python benchmarks/hostile_inputs.py --out /tmp/hostile/results.json            # all cases, ~15 min on 2 cores
    python benchmarks/hostile_inputs.py --only out_dot --only 'yaml_*' --out r.json  # a subset (names, globs)
    python benchmarks/hostile_inputs.py --list                                      # names and categories

Exit status: 0 when the run completed (whatever the verdicts), 1 when --require is given and not met.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import gzip
import hashlib
import io
import json
import os
import platform
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PWNED = "PWNED"  # the file a crafted input would create if any of it were executed
LONG_NAME = "n" * 300

# ---------------------------------------------------------------------------------------------------------------
# cases


@dataclasses.dataclass
class Case:
    name: str
    category: str
    expect: tuple[int, ...]
    args: Any  # list[str] or callable(Ctx) -> list[str]; "pdelearn" args, or ["-m", module, ...] with module=True
    setup: Optional[Callable[["Ctx"], None]] = None
    out: Optional[str] = None  # output target, relative to cwd (or absolute); may be created on exit 0/3
    needs: tuple[str, ...] = ()  # fixtures
    check: Optional[Callable[["Ctx", "Result"], Optional[str]]] = None  # exit 0: None if right, else why wrong
    mutable: tuple[str, ...] = ()  # paths (relative to cwd) the command may legitimately change or create
    module: bool = False  # args start with a module to run with python -m (instead of pdelearn.cli)
    note: str = ""
    extended: bool = False  # only with --extended (kept out of the default run to bound its time)
    #: Ctrl-C: SIGINT to the command once this path (relative to cwd) exists, this text is on its stderr
    #: ("stderr:TEXT") or this many seconds have passed ("after:SECONDS"), then ``interrupt_delay`` more seconds
    interrupt_when: Optional[str] = None
    interrupt_delay: float = 0.0


@dataclasses.dataclass
class Ctx:
    """Where a case runs: ``tree/home/proj/work`` is the working folder; ``tree`` holds only our files."""

    tree: Path
    fixtures: dict[str, Path]

    @property
    def home(self) -> Path:
        return self.tree / "home"

    @property
    def proj(self) -> Path:
        return self.tree / "home" / "proj"

    @property
    def work(self) -> Path:
        return self.tree / "home" / "proj" / "work"

    def fx(self, name: str) -> Path:
        return self.fixtures[name]


@dataclasses.dataclass
class Result:
    rc: Optional[int]
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float
    timed_out: bool


CASES: list[Case] = []


#: cases run only with --extended (variants of default cases; the default run stays near 15 minutes on 2 cores)
EXTENDED = set("""
recipe_utf16_bom recipe_lr_inf recipe_problem_list recipe_deep_nesting_map recipe_python_name_tag
recipe_tab_indent recipe_equation_unicode recipe_ic_division_zero recipe_domain_empty recipe_domain_nan
recipe_depth_0 recipe_is_directory joint_max_power_50 inverse_unknown_parameter set_empty_key set_unknown_deep
set_lr_negative set_alias_bomb set_on_scalar evaluate_eps_negative evaluate_tsne_negative compare_json_list
x_2d t_all_equal structured_dtype fortran_order_field grid_3x3 field_named_like_coord layout_bogus
coord_unknown two_time_steps radius_10 threshold_inf max_power_huge terms_lambda terms_dunder terms_factorial
empty_mat dangling_symlink csv_data set_steps_1e30 recipe_unicode_key resume_missing resume_recipe_deleted
evaluate_max_images_0 evaluate_ood_bogus compare_missing export_binary export_json_list
simulate_options_missing ok_export_json ok_discover_bootstrap nan_in_x no_time_array float32_field
generate_unknown_system terms_1e999 radius_negative max_order_negative generate_out_sys out_slash_dot
recipe_scalar recipe_lr_nan recipe_domain_reversed recipe_missing set_python_tag set_bad_yaml
resume_garbage_checkpoint joint_file_passwd bool_dtype values_1e300 field_1d inf_in_field time_is_field
layout_wrong field_key_python threshold_negative bootstrap_negative terms_empty generate_noise_nan
generate_seed_huge grid_at_limit_noise terms_3000 ok_fit_set fit_seed_negative out_name_newline
dev_urandom_npz text_named_mat gzip_named_npz string_dtype compare_conditions_string resume_discover_run
""".split())


def case(name, category, expect, args, **kw) -> None:
    kw.setdefault("extended", name in EXTENDED)
    if isinstance(expect, int):
        expect = (expect,)
    if any(c.name == name for c in CASES):
        raise ValueError(f"duplicate case name {name}")
    CASES.append(Case(name, category, tuple(expect), args, **kw))


# -- helpers that build inputs --------------------------------------------------------------------------------


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path


def burgers(ctx: Ctx) -> dict[str, np.ndarray]:
    with np.load(ctx.fx("burgers"), allow_pickle=False) as d:
        return {k: d[k] for k in ("u", "x", "t")}


def save_npz(path: Path, **arrays) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:  # np.savez on a path would append ".npz" to other suffixes
        np.savez(fh, **arrays)
    return path


def data_with(rel: str = "data.npz", **changes) -> Callable[[Ctx], None]:
    """Setup: the small Burgers grid with some arrays replaced (value None: removed)."""

    def setup(ctx: Ctx) -> None:
        d = burgers(ctx)
        values = {k: (v(d) if callable(v) else v) for k, v in changes.items()}
        for k, v in values.items():
            if v is None:
                d.pop(k, None)
            else:
                d[k] = v
        save_npz(ctx.work / rel, **d)

    return setup


def copy_data(rel: str = "data.npz") -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        (ctx.work / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ctx.fx("burgers"), ctx.work / rel)

    return setup


def copy_run(fixture: str, rel: str = "run") -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        shutil.copytree(ctx.fx(fixture), ctx.work / rel, symlinks=True)

    return setup


def both(*setups) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        for s in setups:
            s(ctx)

    return setup


def npy_bytes(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


class _Payload:
    """Unpickling this calls open("PWNED", "w"): creates a file in the working folder."""

    def __reduce__(self):
        return (open, (PWNED, "w"))


def pickled_object_array() -> np.ndarray:
    a = np.empty(2, dtype=object)
    a[0], a[1] = _Payload(), _Payload()
    return a


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(3 * 4) for _ in range(4))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def yaml_recipe(text: str, rel: str = "recipe.yaml") -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        write(ctx.work / rel, text)

    return setup


FORWARD = """\
problem: forward
description: tiny Burgers (hostile-input harness)
equation: "u_t = -u*u_x + 0.0031830988618379067*u_xx"
domain: {x: [-1, 1], t: [0, 1]}
initial_condition: "-sin(pi*x)"
boundary: {type: dirichlet, left: "0", right: "0", enforce: exact}
reference: {solver: finite_difference, nx: 32, nt: 11, refine: 2}
model: {type: mlp, width: 8, depth: 2, activation: tanh, periodic_harmonics: 0}
sampling: {collocation: 64, initial: 16, boundary: 8, resample_every: 1}
training: {steps: 4, lr: 1.0e-3, lbfgs_steps: 0, lbfgs_max_iter: 2, time_windows: 1, hard_ic: true, dtype: float32,
           log_every: 1, checkpoint_every: 2}
losses:
  weights: {L_I: 1.0, L_B: 1.0, L_G: 1.0, L_R: 0.0}
seed: 0
device: cpu
"""

JOINT = """\
problem: joint_discovery
data: {DATA, samples: 200, noise: 0.0}
library: {max_power: 1, max_order: 2}
model: {width: 8, depth: 2}
training: {warmup: 5, max_steps: 40, log_every: 10}
sparsity: {every: 10, patience: 1, prune_steps: 5}
uncertainty: {ensemble: 0, bootstrap: 5}
"""

INVERSE = """\
problem: inverse
equation: "u_t = -l1*u*u_x + l2*u_xx"
parameters: {l1: 0.8, l2: 0.05}
estimator: output_error
data: {DATA, samples: 200, noise: 0.0}
output_error: {ic_modes: 2, max_iter: 4}
"""

CLASSIFIER = """\
problem: classification
seed: 0
device: cpu
data: {dataset: digits, val_fraction: 0.1, batch_size: 64, eval_batch_size: 500}
model: {kind: prnet, width: 8, n_down: 0, max_order: 1}
library: {max_power: 1, max_order: 1}
training: {epochs: 3, lr: 0.02, milestones: [10], log_every: 100}
"""


def forward_with(**sections) -> str:
    """The tiny forward recipe with top-level lines replaced, e.g. training="training: {...}"."""
    lines = FORWARD.splitlines()
    out, skip = [], False
    for line in lines:
        key = line.split(":")[0] if line and not line.startswith(" ") else None
        if key is not None:
            skip = key in sections
            if skip:
                out.append(sections[key])
                continue
        if not skip:
            out.append(line)
    return "\n".join(out) + "\n"


def gzip_bomb(path: Path, gigabytes: float, header: bytes = b"") -> None:
    """A gzip file of ``header`` + zeros that decompresses to ``gigabytes`` GB: one 64 MB member repeated."""
    member_bytes = 64 << 20
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as g:
        g.write(bytes(member_bytes))
    member = buf.getvalue()
    first = io.BytesIO()
    with gzip.GzipFile(fileobj=first, mode="wb") as g:
        g.write(header)
    with open(path, "wb") as fh:
        fh.write(first.getvalue())
        for _ in range(int(gigabytes * (1 << 30) / member_bytes)):
            fh.write(member)


def idx_bytes(kind: str, n: int, truncate: Optional[int] = None) -> bytes:
    if kind == "images":
        head = struct.pack(">IIII", 2051, n, 28, 28)
        body = bytes(n * 28 * 28)
    else:
        head = struct.pack(">II", 2049, n)
        body = bytes(n)
    data = head + body
    return data[:truncate] if truncate is not None else data


# -- checks of exit-0 answers ----------------------------------------------------------------------------------


def printed_terms(text: str, lhs: str = "u_t") -> Optional[dict[str, float]]:
    """``{"u u_x": -1.0, "u_xx": 0.1}`` from the last ``u_t = ...`` line printed, or None."""
    import re

    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(lhs + " =")]
    if not lines:
        return None
    rhs = lines[-1].split("=", 1)[1].strip()
    out: dict[str, float] = {}
    for sign, coef, term in re.findall(r"([+-]?)\s*(\d[\d.]*(?:e[+-]?\d+)?)\s+([^+-]+?)(?=\s+[+-]\s|$)", rhs):
        out[term.strip()] = float(coef) * (-1.0 if sign == "-" else 1.0)
    return out


def says_burgers(ctx: Ctx, r: Result) -> Optional[str]:
    """Burgers' support (u u_x, u_xx) with coefficients within 10 % of -1 and 0.1."""
    terms = printed_terms(r.stdout)
    if terms is not None and set(terms) == {"u u_x", "u_xx"} and abs(terms["u u_x"] + 1) < 0.1 \
            and abs(terms["u_xx"] - 0.1) < 0.01:
        return None
    return f"exit 0 but the printed equation is not Burgers': {r.stdout.strip()[-120:]!r}"


def burgers_or_refusal(ctx: Ctx, r: Result) -> Optional[str]:
    return says_burgers(ctx, r)


def exists(*rels: str) -> Callable[[Ctx, Result], Optional[str]]:
    def check(ctx: Ctx, r: Result) -> Optional[str]:
        missing = [p for p in rels if not (ctx.work / p).exists()]
        return f"exit 0 but {', '.join(missing)} not written" if missing else None

    return check


def stdout_has(*words: str) -> Callable[[Ctx, Result], Optional[str]]:
    def check(ctx: Ctx, r: Result) -> Optional[str]:
        missing = [w for w in words if w not in r.stdout]
        return f"exit 0 but stdout lacks {missing}" if missing else None

    return check


def all_of(*checks):
    def check(ctx, r):
        for c in checks:
            why = c(ctx, r)
            if why:
                return why
        return None

    return check


def correct_joint(ctx: Ctx, r: Result) -> Optional[str]:
    try:
        s = json.loads((ctx.work / "run" / "summary.json").read_text())
        terms = set(s.get("terms", {}))
    except Exception as exc:  # noqa: BLE001
        return f"exit 0 but no readable run/summary.json ({exc})"
    if terms == {"u*u_x", "u_xx"}:
        return None
    return f"exit 0 with the wrong support {sorted(terms)} (truth: u*u_x, u_xx)"


# ---------------------------------------------------------------------------------------------------------------
# the cases: first those issue 27 lists, then a fresh set it does not

D = ["data.npz"]


def disc(*extra, data="data.npz", out="run"):
    return ["discover", data, "--out", out, *extra]


# ===== issue 27: --force and the output folder (data loss) =====
C = "issue:force"
case("out_dot", C, 2, disc("--force", out="."), setup=copy_data())
case("out_empty", C, 2, disc("--force", out=""), setup=copy_data())
case("out_dotdot", C, 2, disc("--force", out=".."), setup=copy_data())
case("out_dotdot_nested", C, 2, ["discover", "data.npz", "--out", "../..", "--force"], setup=copy_data())
case("out_cwd_abs", C, 2, lambda c: disc("--force", out=str(c.work)), setup=copy_data())
case("out_data_folder", C, 2, ["discover", "in/data.npz", "--out", "in", "--force"], setup=copy_data("in/data.npz"))
case("out_data_folder_abs", C, 2, lambda c: ["discover", str(c.work / "in/data.npz"), "--out", str(c.work / "in"),
                                              "--force"], setup=copy_data("in/data.npz"))
case("out_is_input_file", C, 2, disc("--force", out="data.npz"), setup=copy_data())
case("out_user_folder", C, 2, disc("--force", out="keep"), setup=copy_data(), note="a folder of user files")
case("out_dot_noforce", C, 2, disc(out="."), setup=copy_data())
case("out_symlink_to_cwd", C, 2, disc("--force", out="link"),
     setup=both(copy_data(), lambda c: os.symlink(".", c.work / "link")))
case("out_slash_dot", C, 2, disc("--force", out="./"), setup=copy_data())
case("out_parent_via_sub", C, 2, disc("--force", out="keep/.."), setup=copy_data())
case("out_home_tilde", C, (0, 2), disc("--force", out="~"), setup=copy_data(), out="~",
     note="'~' is a literal folder name for the tool (no shell): a new folder named ~, or a refusal")
case("fit_out_dot", C, 2, ["fit", "recipe.yaml", "--out", ".", "--force"], setup=yaml_recipe(FORWARD))
case("fit_out_empty", C, 2, ["fit", "recipe.yaml", "--out", "", "--force"], setup=yaml_recipe(FORWARD))
case("fit_out_dotdot", C, 2, ["fit", "recipe.yaml", "--out", "..", "--force"], setup=yaml_recipe(FORWARD))
case("fit_out_recipe_folder", C, 2, ["fit", "cfg/recipe.yaml", "--out", "cfg", "--force"],
     setup=yaml_recipe(FORWARD, "cfg/recipe.yaml"))
case("fit_out_user_folder", C, 2, ["fit", "recipe.yaml", "--out", "keep", "--force"], setup=yaml_recipe(FORWARD))
case("generate_out_dot", C, 2, ["generate", "burgers", "--out", ".", "--force"])
case("generate_out_empty", C, 2, ["generate", "burgers", "--out", "", "--force"])
case("generate_out_user_folder", C, 2, ["generate", "burgers", "--out", "keep", "--force"])
case("generate_over_user_file_noforce", C, 2, ["generate", "burgers", "--out", "notes.md"])
case("evaluate_out_dot_user_folder", C, (0, 2), ["evaluate", "run", "--out", "keep", "--no-ood", "--no-attack",
                                                  "--max-images", "40"],
     needs=("cls_run",), setup=copy_run("cls_run"), mutable=("keep/evaluation.json",),
     note="writes evaluation.json into a user folder: allowed, nothing else may change")

# ===== issue 27: invalid or unwritable --out =====
C = "issue:out-path"
case("out_proc", C, 2, disc(out="/proc/hostile_out/run"), setup=copy_data())
case("out_sys", C, 2, disc(out="/sys/hostile_out"), setup=copy_data())
case("out_long_name", C, 2, disc(out=LONG_NAME), setup=copy_data())
case("fit_out_proc", C, 2, ["fit", "recipe.yaml", "--out", "/proc/hostile_out/run"], setup=yaml_recipe(FORWARD))
case("fit_out_long_name", C, 2, ["fit", "recipe.yaml", "--out", LONG_NAME], setup=yaml_recipe(FORWARD))
case("generate_out_proc", C, 2, ["generate", "burgers", "--out", "/proc/hostile_out.npz"])
case("generate_out_long_name", C, 2, ["generate", "burgers", "--out", LONG_NAME + ".npz"])
case("generate_out_sys", C, 2, ["generate", "burgers", "--out", "/sys/hostile_out.npz"])

# ===== issue 27: YAML =====
C = "issue:yaml"
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))
case("yaml_billion_laughs", C, 2, ["fit", "recipe.yaml"], setup=yaml_recipe("problem: forward\n" + LAUGHS))
case("yaml_billion_laughs_set", C, 2, ["fit", "recipe.yaml", "--set", "training.steps=2"],
     setup=yaml_recipe(FORWARD + LAUGHS.replace("a:", "xa:", 1).replace("\nb:", "\nxb:")))
case("yaml_laughs_in_field", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(LAUGHS + FORWARD.replace("description: tiny Burgers (hostile-input harness)",
                                                "description: *i")))
case("yaml_self_alias", C, 2, ["fit", "recipe.yaml"], setup=yaml_recipe("problem: forward\na: &a [*a]\n"))
case("yaml_self_alias_map", C, 2, ["fit", "recipe.yaml"], setup=yaml_recipe("&a {problem: forward, x: *a}\n"))
case("yaml_duplicate_keys", C, 2, ["fit", "recipe.yaml"], setup=yaml_recipe(FORWARD + "seed: 1\n"))
case("yaml_duplicate_nested", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace("model: {type: mlp,", "model: {type: mlp, width: 4,")))

# ===== issue 27: data files and their declared sizes =====
C = "issue:npz"
case("npz_huge_declared", C, 2, disc(), needs=("huge_npz",),
     setup=lambda c: shutil.copy(c.fx("huge_npz"), c.work / "data.npz"),
     note="2 MB zip whose u.npy declares 16000 x 16000 float64 (2 GB of zeros)")
case("npz_header_lies", C, 2, disc(), setup=lambda c: _npz_header_lies(c.work / "data.npz"),
     note="u.npy declares (10**6, 10**6) float64 but holds 16 bytes")
case("npz_moderate_zeros", C, (2, 3), disc(),
     setup=lambda c: np.savez_compressed(c.work / "data.npz", u=np.zeros((4000, 4000)),
                                         x=np.linspace(0, 1, 4000), t=np.linspace(0, 1, 4000)),
     note="4000 x 4000 zeros, 128 MB decompressed; constant data")
case("mat_header_lies", C, 2, disc(data="data.mat"), setup=lambda c: _mat_lie(c.work / "data.mat"),
     note="MATLAB v5, compressed: u declares 20000 x 20000 doubles (3.2 GB), holds 16 bytes")
case("mat_moderate_zeros", C, (2, 3), disc(data="data.mat"),
     setup=lambda c: _savemat(c.work / "data.mat", u=np.zeros((4000, 4000)), x=np.linspace(0, 1, 4000),
                              t=np.linspace(0, 1, 4000)), note="4000 x 4000 zeros, compressed .mat")
case("scaled_1e-300", C, (0, 2, 3), disc(), setup=data_with(u=lambda d: d["u"] * 1e-300),
     check=lambda c, r: None if ("u_xx" in r.stdout and "u_t = 0" not in r.stdout) else
     f"exit 0 with {r.stdout.strip()[:80]!r}")

# ===== issue 27: the parser, library size, budgets =====
C = "issue:budget"
POW20 = "(u+u_x+u_xx+i)**(-20)"
case("terms_pow20_x11", C, 2, disc("--terms", "+".join(f"(u+u_x+u_xx+{i})**(-20)" for i in range(1, 12))),
     setup=copy_data(), note="one term: 11 such powers summed")
case("terms_pow20_i", C, 2, disc("--terms", "+".join([POW20] * 11)), setup=copy_data(), extended=True)
case("terms_pow20_39", C, 2, disc("--terms", ", ".join(f"(u+u_x+u_xx+{k})**(-20)" for k in range(1, 40))),
     setup=copy_data())
case("recipe_equation_744", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace('"u_t = -u*u_x + 0.0031830988618379067*u_xx"',
                                       '"u_t = ' + "+".join(["(u+u_x+u_xx+1)**(-20)"] * 34) + '"')))
case("max_order_power_40", C, 2, disc("--max-order", "40", "--max-power", "40"), setup=copy_data())
case("bootstrap_1e8", C, 2, disc("--bootstrap", "100000000"), setup=copy_data())
case("export_100k_terms", C, (0, 2), ["export", "eq.json", "--text"],
     setup=lambda c: write(c.work / "eq.json", json.dumps(
         {"lhs": "u_t", "terms": {f"u**{k}": 1.0 for k in range(100000)}, "fields": ["u"], "coords": ["x"]})))
case("terms_u_pow_u", C, 2, disc("--terms", "u**u"), setup=copy_data())
case("simulate_u_pow_u", C, 2, ["simulate", "run"], needs=("disc_run",),
     setup=lambda c: _edit_equation(c, {"u**u": 0.1, "u_xx": 0.1}))

# ===== issue 27: resume, compare =====
C = "issue:runs"
case("resume_after_edit", C, 2, ["fit", "--resume", "run"], needs=("fwd_run",),
     setup=both(copy_run("fwd_run"), lambda c: _edit_text(c.work / "run/recipe.yaml", "width: 8", "width: 16")))
case("compare_edited_eval", C, 2, ["compare", "a", "b"],
     setup=lambda c: (_eval_json(c, "a"), _eval_json(c, "b", conditions=[{"name": "clean", "top1": "high"}])))
case("compare_missing_key", C, 2, ["compare", "a", "b"],
     setup=lambda c: (_eval_json(c, "a"), _eval_json(c, "b", drop="model")))
case("compare_same_twice", C, 2, ["compare", "a", "a"], setup=lambda c: _eval_json(c, "a"))
case("compare_same_via_alias", C, 2, ["compare", "a", "./a/evaluation.json"], setup=lambda c: _eval_json(c, "a"))

# ===== issue 27: confident wrong answers =====
C = "issue:reliability"
NOISE = data_with(u=lambda d: np.random.default_rng(7).standard_normal(d["u"].shape))
CONST = data_with(u=lambda d: np.full(d["u"].shape, 3.0))
case("discover_noise", C, 3, disc(), setup=NOISE, out="run")
case("discover_constant", C, (2, 3), disc(), setup=CONST, out="run")
case("joint_noise", C, 3, ["fit", "recipe.yaml", "--out", "run"], out="run",
     setup=both(NOISE, yaml_recipe(JOINT.replace("DATA", "file: data.npz"))))
case("joint_constant", C, (2, 3), ["fit", "recipe.yaml", "--out", "run"], out="run",
     setup=both(CONST, yaml_recipe(JOINT.replace("DATA", "file: data.npz"))))
case("joint_short_run", C, (0, 3), ["fit", "recipe.yaml", "--out", "run"], out="run", check=correct_joint,
     setup=yaml_recipe(JOINT.replace("DATA", "system: burgers")),
     note="40 steps on clean Burgers: the truth, or exit 3")
SHORT = dict(t=lambda d: d["t"][:6])
INVERSE_SHORT = INVERSE.replace("DATA", "file: data.npz").replace("max_iter: 4", "max_iter: 2")
case("inverse_constant", C, (2, 3), ["fit", "recipe.yaml", "--out", "run"], out="run",
     setup=both(data_with(u=lambda d: np.full((d["u"].shape[0], 6), 3.0), **SHORT), yaml_recipe(INVERSE_SHORT)))
case("inverse_noise", C, (2, 3), ["fit", "recipe.yaml", "--out", "run"], out="run",
     setup=both(data_with(u=lambda d: np.random.default_rng(7).standard_normal((d["u"].shape[0], 6)), **SHORT),
                yaml_recipe(INVERSE_SHORT)))
case("fit_max_minutes", C, 3, ["fit", "recipe.yaml", "--out", "run"], out="run",
     setup=yaml_recipe(forward_with(training="training: {steps: 100000, lr: 1.0e-3, lbfgs_steps: 0, "
                                             "time_windows: 1, hard_ic: true, dtype: float32, log_every: 100, "
                                             "checkpoint_every: 1000, max_minutes: 0.002}")))
case("fit_nan_step0", C, 2, ["fit", "recipe.yaml", "--out", "run"],
     setup=yaml_recipe(forward_with(training="training: {steps: 20, lr: 1.0e+30, lbfgs_steps: 0, time_windows: 1, "
                                             "hard_ic: true, dtype: float32, log_every: 1, checkpoint_every: 1}")),
     note="nothing may be left on disk (no checkpoint.pt)")
case("mnist_truncated_idx", C, 2, ["-m", "pdelearn.vision.get_mnist", "--to", "mn"], module=True,
     setup=lambda c: _mnist_layout(c, truncate=True))
case("mnist_gzip_bomb", C, 2, ["-m", "pdelearn.vision.get_mnist", "--from", "src", "--to", "mn"], module=True,
     setup=lambda c: _mnist_source(c, bomb=True), needs=("mnist_bomb",),
     note="a 4 GB-decompressing .gz with a valid idx header")

case("killed_fit_force_rerun", C, 0, ["fit", "recipe.yaml", "--out", "run", "--force"], needs=("fwd_run",),
     setup=both(yaml_recipe(FORWARD), copy_run("fwd_run"), lambda c: _as_killed(c.work / "run")), out="run",
     mutable=("run",), check=exists("run/summary.json"),
     note="the folder a fit killed after its start leaves (recipe.yaml and the marker): --force replaces it")
case("out_is_user_file", C, 2, disc("--force", out="notes.md"), setup=copy_data())
case("force_run_holding_input", "issue:force", 2, ["discover", "run/data.npz", "--out", "run", "--force"],
     needs=("disc_run",), setup=both(copy_run("disc_run"), copy_data("run/data.npz")),
     note="a folder pdelearn made, but the input now lives in it")

# ===== issue 27: the PySINDy bridge (python -c; exit 3 = the bridge said unreliable, 2 = PdelearnError) =====
C = "issue:bridge"
BRIDGE = """\
import sys, warnings
import numpy as np, pysindy as ps
from pdelearn.errors import PdelearnError
from pdelearn.pysindy import AutoSelect, UnreliableSelectionWarning
from scipy.integrate import solve_ivp
rng = np.random.default_rng(0)
def lorenz(noise):
    f = lambda t, s: [10 * (s[1] - s[0]), s[0] * (28 - s[2]) - s[1], s[0] * s[1] - 8 / 3 * s[2]]
    t = np.arange(0, 10, 0.002)
    X = solve_ivp(f, (0, 10), [-8, 8, 27], t_eval=t, rtol=1e-10, atol=1e-10).y.T
    return X + noise * X.std(axis=0) * rng.standard_normal(X.shape), t
TRUTH = [{"x", "y"}, {"x", "y", "x z"}, {"z", "x y"}]
def run(X, t, names, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = ps.SINDy(optimizer=AutoSelect(), **kw).fit(X, t=t, feature_names=names)
        except PdelearnError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            sys.exit(2)
    model.print()
    feats = model.get_feature_names()
    support = [{feats[j] for j in np.flatnonzero(row)} for row in model.coefficients()]
    print("SUPPORT_EXACT" if support == TRUTH[:len(support)] else f"SUPPORT {support}")
    flagged = [w for w in caught if issubclass(w.category, UnreliableSelectionWarning)]
    if flagged or not getattr(model.optimizer, "reliable", True):
        print("unreliable: " + (str(flagged[0].message) if flagged else "reliable is False"), file=sys.stderr)
        sys.exit(3)
    return model
"""


def bridge(body: str) -> list[str]:
    return ["-c", BRIDGE + body]


def exact_support(ctx: Ctx, r: Result) -> Optional[str]:
    return None if "SUPPORT_EXACT" in r.stdout else f"exit 0 with a wrong support: {r.stdout.strip()[-160:]!r}"


case("bridge_white_noise", C, 3,
     bridge("t = np.arange(2000) * 0.01\nrun(rng.standard_normal((2000, 2)), t, ['x', 'y'])"), module=True,
     note="AutoSelect on white noise must say unreliable")
case("bridge_constant", C, (2, 3),
     bridge("t = np.arange(2000) * 0.01\nrun(np.ones((2000, 2)) * [3.0, 5.0], t, ['x', 'y'])"), module=True)
case("bridge_lorenz_fd_1pct", C, (0, 3), bridge("X, t = lorenz(0.01)\nrun(X, t, ['x', 'y', 'z'])"), module=True,
     check=exact_support, note="1 % noise, PySINDy's default FiniteDifference: exact, or say which term is undecidable")
case("bridge_lorenz_sfd_1pct", C, 0,
     bridge("X, t = lorenz(0.01)\nrun(X, t, ['x', 'y', 'z'], differentiation_method=ps.SmoothedFiniteDifference())"),
     module=True, check=exact_support, note="control: exact with SmoothedFiniteDifference")
case("bridge_duplicate_fields", C, 2, bridge(
    "from pdelearn import Equation\nX, t = lorenz(0.0)\nm = run(X, t, ['x', 'y', 'z'])\n"
    "try:\n    Equation.from_pysindy(m, fields=['u', 'u', 'v'])\nexcept PdelearnError as exc:\n"
    "    print(f'Error: {exc}', file=sys.stderr); sys.exit(2)"), module=True)
case("bridge_write_folder_onto_file", C, 2, bridge(
    "from pdelearn import Equation\nfrom pdelearn.pysindy import write_equation_folder\nX, t = lorenz(0.0)\n"
    "eq = Equation.from_pysindy(run(X, t, ['x', 'y', 'z']))\n"
    "try:\n    write_equation_folder(eq, 'notes.md')\nexcept PdelearnError as exc:\n"
    "    print(f'Error: {exc}', file=sys.stderr); sys.exit(2)"), module=True,
     note="notes.md is the user's file")


# ===== fresh: file types =====
C = "fresh:file-type"
case("png_named_npz", C, 2, disc(), setup=lambda c: write(c.work / "data.npz", tiny_png()))
case("empty_file", C, 2, disc(), setup=lambda c: write(c.work / "data.npz", b""))
case("empty_mat", C, 2, disc(data="data.mat"), setup=lambda c: write(c.work / "data.mat", b""))
case("directory_as_data", C, 2, disc(data="keep"))
case("symlink_loop", C, 2, disc(), setup=lambda c: (os.symlink("loop.npz", c.work / "data.npz"),
                                                     os.symlink("data.npz", c.work / "loop.npz")))
case("dangling_symlink", C, 2, disc(), setup=lambda c: os.symlink("nowhere.npz", c.work / "data.npz"))
case("missing_file", C, 2, disc(data="nothing.npz"))
case("text_named_mat", C, 2, disc(data="data.mat"), setup=lambda c: write(c.work / "data.mat", "u = [1 2 3]\n"))
case("truncated_npz", C, 2, disc(),
     setup=lambda c: write(c.work / "data.npz", (Path(c.fx("burgers")).read_bytes())[:3000]), needs=())
case("npz_member_garbage", C, 2, disc(), setup=lambda c: _zip(c.work / "data.npz", {"u.npy": os.urandom(4096),
                                                                                     "x.npy": b"\x93NUMPY junk"}))
case("gzip_named_npz", C, 2, disc(), setup=lambda c: write(c.work / "data.npz", gzip.compress(b"u,x,t\n" * 100)))
case("csv_data", C, 2, disc(data="data.csv"), setup=lambda c: write(c.work / "data.csv", "1,2,3\n4,5,6\n"))
case("hdf5_named_mat", C, 2, disc(data="data.mat"),
     setup=lambda c: write(c.work / "data.mat", b"\x89HDF\r\n\x1a\n" + bytes(2048)))
case("mat_v5_cell", C, 2, disc(data="data.mat"), setup=lambda c: _mat_cell(c.work / "data.mat"))
case("fifo_as_data", C, 2, disc(), setup=lambda c: os.mkfifo(c.work / "data.npz"),
     note="a named pipe: opening it for reading blocks until a writer comes")
case("dev_zero", C, 2, disc(data="/dev/zero"), note="an endless file")
case("dev_urandom_npz", C, 2, disc(data="/dev/urandom"))
case("npz_many_members", C, (0, 2), disc(), check=says_burgers,
     setup=lambda c: _zip(c.work / "data.npz", {**{f"{k}.npy": npy_bytes(v) for k, v in burgers(c).items()},
                                                **{f"junk{i}.npy": npy_bytes(np.zeros(1)) for i in range(5000)}}))
case("npz_zip_slip_names", C, (0, 2), disc(), check=says_burgers,
     setup=lambda c: _zip(c.work / "data.npz", {**{f"{k}.npy": npy_bytes(v) for k, v in burgers(c).items()},
                                                "../../evil.npy": npy_bytes(np.zeros(1))}),
     note="a member named ../../evil.npy must not be written anywhere")

case("export_dev_zero", C, 2, ["export", "/dev/zero"], note="an endless equation.json")
case("compare_dev_zero", C, 2, ["compare", "a"],
     setup=lambda c: (c.work.joinpath("a").mkdir(), os.symlink("/dev/zero", c.work / "a/evaluation.json")))
case("recipe_dev_zero", C, 2, ["fit", "recipe.yaml"], setup=lambda c: os.symlink("/dev/zero", c.work / "recipe.yaml"))
case("simulate_data_huge", C, 2, ["simulate", "run", "--data", "big.npz"], needs=("disc_run", "huge_npz"),
     setup=both(copy_run("disc_run"), lambda c: shutil.copy(c.fx("huge_npz"), c.work / "big.npz")))
case("terms_3000", "fresh:options", 2,
     disc("--terms", ", ".join(f"sin({k}*u)" for k in range(1, 3001)), "--terms-only"), setup=copy_data(),
     note="3000 custom terms")

# ===== fresh: arrays =====
C = "fresh:arrays"
case("nan_in_field", C, 2, disc(), setup=data_with(u=lambda d: np.where(d["u"] == d["u"].flat[5], np.nan, d["u"])))
case("inf_in_field", C, 2, disc(), setup=data_with(u=lambda d: np.where(d["u"] > 0.9, np.inf, d["u"])))
case("nan_in_x", C, 2, disc(), setup=data_with(x=lambda d: np.where(np.arange(d["x"].size) == 3, np.nan, d["x"])))
case("field_0d", C, 2, disc(), setup=data_with(u=np.array(1.0)))
case("field_1d", C, 2, disc(), setup=data_with(u=lambda d: d["u"][:, 0]))
case("field_5d", C, 2, disc(), setup=data_with(u=lambda d: d["u"].reshape(64, 34, 1, 1, 1)))
case("x_length_mismatch", C, 2, disc(), setup=data_with(x=lambda d: d["x"][:-5]))
case("x_2d", C, 2, disc(), setup=data_with(x=lambda d: np.stack([d["x"], d["x"]])))
case("x_non_monotonic", C, 2, disc(), setup=data_with(x=lambda d: d["x"][np.r_[1, 0, 2:d["x"].size]]))
case("t_repeated", C, 2, disc(), setup=data_with(t=lambda d: np.r_[d["t"][:10], d["t"][9], d["t"][11:]]))
case("t_all_equal", C, 2, disc(), setup=data_with(t=lambda d: np.zeros_like(d["t"])))
case("t_decreasing", C, (0, 2), disc(), check=says_burgers,
     setup=data_with(t=lambda d: d["t"][::-1].copy(), u=lambda d: d["u"][:, ::-1].copy()))
case("x_non_uniform", C, (0, 2), disc(), check=says_burgers,
     setup=data_with(x=lambda d: d["x"] + 0.05 * np.sin(np.arange(d["x"].size))))
case("complex_noise_field", C, (2, 3), disc(),
     setup=data_with(u=lambda d: (np.random.default_rng(1).standard_normal(d["u"].shape)
                                  + 1j * np.random.default_rng(2).standard_normal(d["u"].shape))))
case("object_dtype_pickle", C, 2, disc(), setup=lambda c: _zip(c.work / "data.npz", {
    "u.npy": npy_bytes(pickled_object_array(), allow_pickle=True),
    **{f"{k}.npy": npy_bytes(v) for k, v in burgers(c).items() if k != "u"}}),
     note="unpickling would create PWNED")
case("coord_pickle", C, 2, disc(), setup=lambda c: _zip(c.work / "data.npz", {
    "x.npy": npy_bytes(pickled_object_array(), allow_pickle=True),
    **{f"{k}.npy": npy_bytes(v) for k, v in burgers(c).items() if k != "x"}}))
case("string_dtype", C, 2, disc(), setup=data_with(u=lambda d: d["u"].astype(str)))
case("bool_dtype", C, (2, 3), disc(), setup=data_with(u=lambda d: d["u"] > 0.5))
case("structured_dtype", C, 2, disc(),
     setup=data_with(u=lambda d: np.zeros(d["u"].shape, dtype=[("a", "f8"), ("b", "i4")])))
case("big_endian_field", C, 0, disc(), check=says_burgers, setup=data_with(u=lambda d: d["u"].astype(">f8")),
     note="control: a legitimate big-endian array")
case("fortran_order_field", C, 0, disc(), check=says_burgers, setup=data_with(u=lambda d: np.asfortranarray(d["u"])),
     note="control")
case("float32_field", C, 0, disc(), check=says_burgers, setup=data_with(u=lambda d: d["u"].astype(np.float32)),
     note="control")
case("transposed_layout", C, 0, disc(), check=says_burgers, setup=data_with(u=lambda d: d["u"].T.copy()),
     note="control: t x x layout inferred from the lengths")
case("square_grid_ambiguous", C, 2, disc(),
     setup=data_with(u=lambda d: d["u"][:34], x=lambda d: d["x"][:34]))
case("single_time_step", C, 2, disc(), setup=data_with(u=lambda d: d["u"][:, :1], t=lambda d: d["t"][:1]))
case("two_time_steps", C, (2, 3), disc(), setup=data_with(u=lambda d: d["u"][:, :2], t=lambda d: d["t"][:2]))
case("grid_3x3", C, (2, 3), disc(), setup=data_with(u=lambda d: d["u"][:3, :3], x=lambda d: d["x"][:3],
                                                    t=lambda d: d["t"][:3]))
case("values_1e300", C, (2, 3), disc(), setup=data_with(u=lambda d: d["u"] * 1e300))
case("all_zero_field", C, (2, 3), disc(), setup=data_with(u=lambda d: np.zeros_like(d["u"])))
case("no_field_array", C, 2, disc(), setup=data_with(u=None, v=lambda d: d["u"]))
case("no_time_array", C, 2, disc(), setup=data_with(t=None))
case("field_name_unknown", C, 2, disc("--field", "nosuch"), setup=copy_data())
case("field_name_ansi", C, 2, disc("--field", "u\x1b[2J\x1b[31m"), setup=copy_data())
case("field_name_newline", C, 2, disc("--field", "u\nError: fake"), setup=copy_data())
case("field_key_unicode", C, (0, 2), disc("--field", "\u00fc"), check=stdout_has("u_xx"),
     setup=data_with(u=None, **{"\u00fc": lambda d: d["u"]}))
case("field_key_python", C, 2, disc("--field", "__class__"), setup=data_with(u=None, __class__=lambda d: d["u"]))
case("field_named_like_coord", C, 2, disc("--field", "x"), setup=copy_data())
case("time_is_field", C, 2, disc("--time", "u"), setup=copy_data())
case("coord_unknown", C, 2, disc("--coord", "nosuch"), setup=copy_data())
case("layout_bogus", C, 2, disc("--layout", "zz"), setup=copy_data())
case("layout_wrong", C, 2, disc("--layout", "tx"), setup=copy_data())

# ===== fresh: numeric options =====
C = "fresh:options"
case("radius_0", C, 2, disc("--radius", "0"), setup=copy_data())
case("radius_negative", C, 2, disc("--radius", "-0.1"), setup=copy_data())
case("radius_10", C, 2, disc("--radius", "10"), setup=copy_data())
case("radius_nan", C, 2, disc("--radius", "nan"), setup=copy_data())
case("threshold_nan", C, 2, disc("--regression", "stlsq", "--threshold", "nan"), setup=copy_data())
case("threshold_negative", C, 2, disc("--regression", "stlsq", "--threshold", "-1"), setup=copy_data())
case("threshold_inf", C, (2, 3), disc("--regression", "stlsq", "--threshold", "inf"), setup=copy_data())
case("max_power_negative", C, 2, disc("--max-power", "-1"), setup=copy_data())
case("max_order_0", C, (0, 2, 3), disc("--max-order", "0"), setup=copy_data(),
     check=lambda c, r: "exit 0 with a library without derivatives" if "u_x" not in r.stdout else None)
case("max_order_negative", C, 2, disc("--max-order", "-3"), setup=copy_data())
case("max_power_huge", C, 2, disc("--max-power", "1000000000"), setup=copy_data())
case("bootstrap_negative", C, 2, disc("--bootstrap", "-1"), setup=copy_data())
case("method_bogus", C, 2, disc("--method", "bogus"), setup=copy_data())
case("terms_empty", C, 2, disc("--terms", "", "--terms-only"), setup=copy_data())
case("terms_only_without_terms", C, 2, disc("--terms-only"), setup=copy_data())
case("terms_code_injection", C, 2, disc("--terms", "__import__('os').system('touch PWNED')"), setup=copy_data())
case("terms_dunder", C, 2, disc("--terms", "u.__class__.__mro__"), setup=copy_data())
case("terms_lambda", C, 2, disc("--terms", "lambda: 0"), setup=copy_data())
case("terms_lhs", C, 2, disc("--terms", "u_t"), setup=copy_data())
case("terms_1e999", C, 2, disc("--terms", "1e999*u"), setup=copy_data())
case("terms_order_40", C, 2, disc("--terms", "u_" + "x" * 40), setup=copy_data())
case("terms_huge_int_power", C, 2, disc("--terms", "u**(10**10)"), setup=copy_data())
case("terms_factorial", C, 2, disc("--terms", "factorial(10**9)"), setup=copy_data())
case("terms_nested_parens", C, 2, disc("--terms", "(" * 5000 + "u" + ")" * 5000), setup=copy_data())
case("terms_duplicate", C, (0, 2), disc("--terms", "u*u_x"), setup=copy_data(), check=says_burgers)
case("terms_sin_u", C, (0, 3), disc("--terms", "sin(u)"), setup=copy_data(), check=says_burgers,
     note="control: a legitimate extra term")
case("generate_noise_negative", C, 2, ["generate", "burgers", "--out", "g.npz", "--noise", "-1"])
case("generate_noise_nan", C, 2, ["generate", "burgers", "--out", "g.npz", "--noise", "nan"])
case("generate_noise_huge", C, (0, 2), ["generate", "burgers", "--out", "g.npz", "--noise", "1e308"],
     check=lambda c, r: _finite_npz(c.work / "g.npz"))
case("generate_seed_negative", C, (0, 2), ["generate", "burgers", "--out", "g.npz", "--seed", "-5", "--noise", "0.1"],
     check=exists("g.npz"))
case("generate_seed_huge", C, (0, 2), ["generate", "burgers", "--out", "g.npz", "--seed", str(2 ** 70),
                                       "--noise", "0.1"], check=exists("g.npz"))
case("generate_unknown_system", C, 2, ["generate", "navier-stokes", "--out", "g.npz"])
case("fit_device_cuda", C, 2, ["fit", "recipe.yaml", "--out", "run", "--device", "cuda"], setup=yaml_recipe(FORWARD),
     note="no CUDA on this machine (exit 0 where one exists is fine)")
case("fit_seed_negative", C, (0, 2), ["fit", "recipe.yaml", "--out", "run", "--seed", "-5"], setup=yaml_recipe(FORWARD),
     out="run", check=exists("run/summary.json"))
case("evaluate_device_cuda", C, 2, ["evaluate", "run", "--device", "cuda", "--no-attack", "--no-ood"],
     needs=("cls_run",), setup=copy_run("cls_run"))

# ===== fresh: recipes =====
C = "fresh:recipe"
case("recipe_empty", C, 2, ["fit", "recipe.yaml"], setup=yaml_recipe(""))
case("recipe_list", C, 2, ["fit", "recipe.yaml"], setup=yaml_recipe("- problem: forward\n- 2\n"))
case("recipe_scalar", C, 2, ["fit", "recipe.yaml"], setup=yaml_recipe("42\n"))
case("recipe_binary", C, 2, ["fit", "recipe.yaml"], setup=lambda c: write(c.work / "recipe.yaml", os.urandom(2048)))
case("recipe_utf16_bom", C, 2, ["fit", "recipe.yaml"],
     setup=lambda c: write(c.work / "recipe.yaml", "problem: 42\n".encode("utf-16")))
case("recipe_steps_1e30", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace("steps: 4,", "steps: 1.0e+30,")))
case("recipe_lr_negative", C, 2, ["fit", "recipe.yaml"], setup=yaml_recipe(FORWARD.replace("lr: 1.0e-3", "lr: -1")))
case("recipe_lr_nan", C, 2, ["fit", "recipe.yaml"], setup=yaml_recipe(FORWARD.replace("lr: 1.0e-3", "lr: .nan")))
case("recipe_lr_inf", C, 2, ["fit", "recipe.yaml"], setup=yaml_recipe(FORWARD.replace("lr: 1.0e-3", "lr: .inf")))
case("recipe_unknown_problem", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace("problem: forward", "problem: navier_stokes")))
case("recipe_problem_list", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace("problem: forward", "problem: [forward]")))
case("recipe_deep_nesting", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe("problem: forward\nx: " + "[" * 3000 + "]" * 3000 + "\n"))
case("recipe_deep_nesting_map", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe("problem: forward\nx: " + "{a: " * 2000 + "1" + "}" * 2000 + "\n"))
case("recipe_python_tag", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe("problem: !!python/object/apply:os.system ['touch PWNED']\n"))
case("recipe_python_name_tag", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace("seed: 0", "seed: !!python/name:os.system")))
case("recipe_big_string", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace("tiny Burgers (hostile-input harness)", "x" * (30 << 20))),
     note="a 30 MB recipe")
case("recipe_tab_indent", C, 2, ["fit", "recipe.yaml"], setup=yaml_recipe("problem: forward\nmodel:\n\twidth: 8\n"))
case("recipe_unicode_key", C, 2, ["fit", "recipe.yaml"], setup=yaml_recipe(FORWARD + "s\u00e9ed: 3\n"))
case("recipe_control_chars", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace("u_t = -u*u_x", "u_t = -u\x07*u_x")))
case("recipe_equation_unicode", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace("u_t = -u*u_x + 0.0031830988618379067*u_xx", "u_t = \u00fc*u_xx")))
case("recipe_ic_injection", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace('"-sin(pi*x)"', "\"__import__('os').system('touch PWNED')\"")))
case("recipe_ic_division_zero", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace('"-sin(pi*x)"', '"1/(x-x)"')))
case("recipe_domain_reversed", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace("x: [-1, 1]", "x: [1, -1]")))
case("recipe_domain_empty", C, 2, ["fit", "recipe.yaml"], setup=yaml_recipe(FORWARD.replace("t: [0, 1]", "t: [0, 0]")))
case("recipe_domain_nan", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace("x: [-1, 1]", "x: [-1, .nan]")))
case("recipe_collocation_1e12", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace("collocation: 64", "collocation: 1000000000000")))
case("recipe_width_1e9", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace("width: 8", "width: 1000000000")))
case("recipe_depth_0", C, 2, ["fit", "recipe.yaml"], setup=yaml_recipe(FORWARD.replace("depth: 2", "depth: 0")))
case("recipe_reference_nx_1e9", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace("nx: 32", "nx: 1000000000")))
case("recipe_missing", C, 2, ["fit", "nothing.yaml"])
case("recipe_is_directory", C, 2, ["fit", "keep"])
case("recipe_is_npz", C, 2, ["fit", "data.npz"], setup=copy_data())
case("recipe_none_no_resume", C, 2, ["fit"])
case("joint_file_passwd", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(JOINT.replace("DATA", "file: /etc/passwd")))
case("joint_samples_1e12", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(JOINT.replace("DATA", "system: burgers").replace("samples: 200", "samples: 1000000000000")))
case("joint_max_power_50", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(JOINT.replace("DATA", "system: burgers").replace("max_power: 1, max_order: 2",
                                                                         "max_power: 50, max_order: 50")))
case("inverse_unknown_parameter", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(INVERSE.replace("DATA", "system: burgers").replace("l2: 0.05", "l3: 0.05")))
case("set_no_equals", C, 2, ["fit", "recipe.yaml", "--set", "training.steps"], setup=yaml_recipe(FORWARD))
case("set_empty_key", C, 2, ["fit", "recipe.yaml", "--set", "=5"], setup=yaml_recipe(FORWARD))
case("set_bad_yaml", C, 2, ["fit", "recipe.yaml", "--set", "training.steps=[[["], setup=yaml_recipe(FORWARD))
case("set_unknown_deep", C, 2, ["fit", "recipe.yaml", "--set", "a.b.c.d.e=1"], setup=yaml_recipe(FORWARD))
case("set_steps_1e30", C, 2, ["fit", "recipe.yaml", "--set", "training.steps=1e30"], setup=yaml_recipe(FORWARD))
case("set_lr_negative", C, 2, ["fit", "recipe.yaml", "--set", "training.lr=-1"], setup=yaml_recipe(FORWARD))
case("set_python_tag", C, 2, ["fit", "recipe.yaml", "--set", "seed=!!python/object/apply:os.system ['touch PWNED']"],
     setup=yaml_recipe(FORWARD))
case("set_alias_bomb", C, 2, ["fit", "recipe.yaml", "--set", "description=" + LAUGHS.replace("\n", " ")[:200]],
     setup=yaml_recipe(FORWARD))
case("set_on_scalar", C, 2, ["fit", "recipe.yaml", "--set", "seed.x=1"], setup=yaml_recipe(FORWARD))

# ===== fresh: run folders (resume, export, simulate, evaluate, compare) =====
C = "fresh:runs"
case("resume_not_a_run", C, 2, ["fit", "--resume", "keep"])
case("resume_missing", C, 2, ["fit", "--resume", "nowhere"])
case("resume_discover_run", C, 2, ["fit", "--resume", "run"], needs=("disc_run",), setup=copy_run("disc_run"))
case("resume_garbage_checkpoint", C, 2, ["fit", "--resume", "run"], needs=("fwd_run",),
     setup=both(copy_run("fwd_run"), lambda c: write(c.work / "run/checkpoint.pt", os.urandom(1000))))
case("resume_pickle_checkpoint", C, 2, ["fit", "--resume", "run"], needs=("fwd_run",),
     setup=both(copy_run("fwd_run"), lambda c: _pickle_checkpoint(c.work / "run/checkpoint.pt")),
     note="a checkpoint whose unpickling would create PWNED")
case("resume_recipe_deleted", C, 2, ["fit", "--resume", "run"], needs=("fwd_run",),
     setup=both(copy_run("fwd_run"), lambda c: (c.work / "run/recipe.yaml").unlink()))
case("export_not_a_run", C, 2, ["export", "keep"])
case("export_missing", C, 2, ["export", "nowhere/equation.json"])
case("export_malformed_json", C, 2, ["export", "eq.json"], setup=lambda c: write(c.work / "eq.json", '{"lhs": "u_t", '))
case("export_json_list", C, 2, ["export", "eq.json"], setup=lambda c: write(c.work / "eq.json", "[1, 2, 3]"))
case("export_terms_string", C, 2, ["export", "eq.json"],
     setup=lambda c: write(c.work / "eq.json", json.dumps({"lhs": "u_t", "terms": "u_xx", "fields": ["u"]})))
case("export_coef_string", C, 2, ["export", "eq.json"],
     setup=lambda c: write(c.work / "eq.json", json.dumps({"lhs": "u_t", "terms": {"u_xx": "abc"}, "fields": ["u"]})))
case("export_coef_nan", C, (0, 2), ["export", "eq.json", "--text"],
     setup=lambda c: write(c.work / "eq.json",
                           '{"lhs": "u_t", "terms": {"u_xx": NaN}, "fields": ["u"], "coords": ["x"]}'))
case("export_term_injection", C, 2, ["export", "eq.json"],
     setup=lambda c: write(c.work / "eq.json", json.dumps(
         {"lhs": "u_t", "terms": {"__import__('os').system('touch PWNED')": 1.0}, "fields": ["u"]})))
case("export_deep_json", C, 2, ["export", "eq.json"],
     setup=lambda c: write(c.work / "eq.json", "[" * 100000 + "]" * 100000))
case("export_huge_number", C, (0, 2), ["export", "eq.json", "--text"],
     setup=lambda c: write(c.work / "eq.json", '{"lhs": "u_t", "terms": {"u_xx": 1' + "0" * 5000 + '}, '
                                                '"fields": ["u"], "coords": ["x"]}'))
case("export_binary", C, 2, ["export", "eq.json"], setup=lambda c: write(c.work / "eq.json", os.urandom(512)))
case("simulate_not_a_run", C, 2, ["simulate", "keep"])
case("simulate_data_png", C, 2, ["simulate", "run", "--data", "img.npz"], needs=("disc_run",),
     setup=both(copy_run("disc_run"), lambda c: write(c.work / "img.npz", tiny_png())))
case("simulate_unknown_term", C, 2, ["simulate", "run"], needs=("disc_run",),
     setup=lambda c: _edit_equation(c, {"foo(u)": 1.0}))
case("simulate_blow_up", C, (2, 3), ["simulate", "run"], needs=("disc_run",),
     setup=lambda c: _edit_equation(c, {"u**3": 1e6, "u_xx": 0.1}), note="the equation blows up in finite time")
case("simulate_options_missing", C, 2, ["simulate", "run"], needs=("disc_run",),
     setup=both(copy_run("disc_run"), lambda c: (c.work / "run/options.json").unlink()))
case("evaluate_discover_run", C, 2, ["evaluate", "run"], needs=("disc_run",), setup=copy_run("disc_run"))
case("evaluate_empty_folder", C, 2, ["evaluate", "keep/sub"])
case("evaluate_eps_div0", C, 2, ["evaluate", "run", "--eps", "1/0", "--no-ood"], needs=("cls_run",),
     setup=copy_run("cls_run"))
case("evaluate_eps_negative", C, 2, ["evaluate", "run", "--eps", "-1/255", "--no-ood"], needs=("cls_run",),
     setup=copy_run("cls_run"))
case("evaluate_eps_code", C, 2, ["evaluate", "run", "--eps", "__import__('os').system('touch PWNED')", "--no-ood"],
     needs=("cls_run",), setup=copy_run("cls_run"))
case("evaluate_max_images_0", C, 2, ["evaluate", "run", "--max-images", "0", "--no-attack", "--no-ood"],
     needs=("cls_run",), setup=copy_run("cls_run"))
case("evaluate_tsne_negative", C, 2, ["evaluate", "run", "--tsne", "-1", "--no-attack", "--no-ood"],
     needs=("cls_run",), setup=copy_run("cls_run"))
case("evaluate_ood_bogus", C, 2, ["evaluate", "run", "--ood", "bogus", "--no-attack"], needs=("cls_run",),
     setup=copy_run("cls_run"))
case("evaluate_weights_garbage", C, 2, ["evaluate", "run", "--no-attack", "--no-ood"], needs=("cls_run",),
     setup=both(copy_run("cls_run"), lambda c: [write(p, os.urandom(300)) for p in (c.work / "run").glob("*.pt")]))
case("compare_nothing", C, 2, ["compare"])
case("compare_missing", C, 2, ["compare", "nowhere"])
case("compare_conditions_string", C, 2, ["compare", "a", "b"],
     setup=lambda c: (_eval_json(c, "a"), _eval_json(c, "b", conditions="x")))
case("compare_json_list", C, 2, ["compare", "a"], setup=lambda c: write(c.work / "a/evaluation.json", "[]"))
case("compare_deep_json", C, 2, ["compare", "a"],
     setup=lambda c: write(c.work / "a/evaluation.json", '{"conditions": ' + "[" * 100000 + "]" * 100000 + "}"))
case("compare_top1_nan", C, (0, 2), ["compare", "a", "b"],
     setup=lambda c: (_eval_json(c, "a"), _eval_json(c, "b", conditions=[{"name": "clean", "top1": float("nan")}])))

# ===== fresh: budgets on legal but large inputs, names that collide with the parser, special files in recipes =====
C = "fresh:stress"
case("grid_4M_noise", C, (2, 3), disc(), note="2000 x 1999 Gaussian noise (4M points, 32 MB)",
     setup=lambda c: save_npz(c.work / "data.npz", u=np.random.default_rng(3).standard_normal((2000, 1999)),
                              x=np.linspace(0, 1, 2000, endpoint=False), t=np.linspace(0, 1, 1999)))
case("grid_at_limit_noise", C, (2, 3), disc(), note="4000 x 3999 Gaussian noise (16M points, 128 MB)",
     setup=lambda c: save_npz(c.work / "data.npz", u=np.random.default_rng(3).standard_normal((4000, 3999)),
                              x=np.linspace(0, 1, 4000, endpoint=False), t=np.linspace(0, 1, 3999)))
case("refine_output_error_noisy", C, (0, 3), disc("--refine", "output-error"), check=says_burgers,
     setup=data_with(u=lambda d: d["u"] + 0.1 * d["u"].std() * np.random.default_rng(5).standard_normal(d["u"].shape)),
     out="run", note="10 % noise, output-error refinement forced: bounded in time")
case("bootstrap_5000", C, (0, 2, 3), disc("--bootstrap", "5000"), setup=copy_data(), out="run",
     check=says_burgers, note="legal but large: bounded in time, or capped")
case("library_order_power_10", C, (0, 2, 3), disc("--max-order", "10", "--max-power", "10"), setup=copy_data(),
     out="run", check=says_burgers)
case("joint_max_minutes", C, 3, ["fit", "recipe.yaml", "--out", "run"], out="run",
     setup=yaml_recipe(JOINT.replace("DATA", "system: burgers").replace("max_steps: 40", "max_steps: 1000000")
                       .replace("log_every: 10", "log_every: 10, max_minutes: 0.02")
                       .replace("patience: 1", "patience: 1000")),
     note="stopped by its time budget: unreliable unless a stated target is met")
case("joint_tiny_converged", C, (0, 3), ["fit", "recipe.yaml", "--out", "run"], out="run", check=correct_joint,
     setup=yaml_recipe(JOINT.replace("DATA", "system: burgers").replace("max_steps: 40", "max_steps: 5000")),
     note="clean Burgers, a tiny network that 'converges' (patience 1): the truth, or exit 3")
case("cls_mnist_missing", C, 2, ["fit", "recipe.yaml", "--out", "run"],
     setup=yaml_recipe(CLASSIFIER.replace("dataset: digits,", "dataset: mnist, root: nowhere,")))
case("evaluate_dataset_missing", C, 2, ["evaluate", "run", "--dataset", "mnist", "--root", "nowhere", "--no-attack",
                                        "--no-ood"], needs=("cls_run",), setup=copy_run("cls_run"))
case("field_named_lambda", C, (0, 2), disc("--field", "lambda"), check=stdout_has("lambda_xx"),
     setup=data_with(u=None, **{"lambda": lambda d: d["u"]}), note="a Python keyword as the field's name")
case("field_named_pi", C, (0, 2), disc("--field", "pi"), check=stdout_has("_xx"),
     setup=data_with(u=None, pi=lambda d: d["u"]), note="a sympy constant as the field's name")
case("coord_named_lambda", C, (0, 2), disc("--coord", "lambda"), check=stdout_has("u_xx"),
     setup=data_with(x=None, **{"lambda": lambda d: d["x"]}))
case("recipe_lhs_on_rhs", C, 2, ["fit", "recipe.yaml"],
     setup=yaml_recipe(FORWARD.replace("u_t = -u*u_x + 0.0031830988618379067*u_xx", "u_t = u_t + u_xx")))
case("recipe_order_20", C, (0, 2, 3), ["fit", "recipe.yaml", "--out", "run"], out="run",
     setup=yaml_recipe(FORWARD.replace("u_t = -u*u_x + 0.0031830988618379067*u_xx", "u_t = 1e-9*u_" + "x" * 20)),
     note="a 20th-order derivative through autograd: refused or bounded")
case("recipe_reference_dev_zero", C, 2, ["fit", "recipe.yaml"],
     setup=both(yaml_recipe(FORWARD.replace("reference: {solver: finite_difference, nx: 32, nt: 11, refine: 2}",
                                            "reference: {file: ref.npz}")),
                lambda c: os.symlink("/dev/zero", c.work / "ref.npz")))
case("joint_file_fifo", C, 2, ["fit", "recipe.yaml"],
     setup=both(yaml_recipe(JOINT.replace("DATA", "file: data.npz")), lambda c: os.mkfifo(c.work / "data.npz")),
     note="a named pipe as the recipe's data file")
case("simulate_data_fifo", C, 2, ["simulate", "run", "--data", "pipe.npz"], needs=("disc_run",),
     setup=both(copy_run("disc_run"), lambda c: os.mkfifo(c.work / "pipe.npz")))
case("export_equation_is_dir", C, 2, ["export", "run"], needs=("disc_run",),
     setup=both(copy_run("disc_run"), lambda c: ((c.work / "run/equation.json").unlink(),
                                                 (c.work / "run/equation.json").mkdir())))
case("data_name_newline", C, (0, 2), disc(data="da\nta.npz"), setup=copy_data("da\nta.npz"), out="run",
     check=says_burgers, note="a legal file name with a newline")
case("out_name_newline", C, (0, 2), disc(out="run\nError: fake"), setup=copy_data(), out="run\nError: fake",
     check=says_burgers)
case("out_parent_is_file", C, 2, disc(out="notes.md/run"), setup=copy_data())
case("out_via_link_to_proc", C, 2, disc(out="link/run"),
     setup=both(copy_data(), lambda c: os.symlink("/proc", c.work / "link")))

# ===== fresh: Ctrl-C (SIGINT to the process group) =====
C = "fresh:interrupt"
LONG_FIT = forward_with(training="training: {steps: 1000000, lr: 1.0e-3, lbfgs_steps: 0, time_windows: 1, "
                                 "hard_ic: true, dtype: float32, log_every: 100, checkpoint_every: 20}")
case("fit_interrupted", C, (1, 2, 3, 130), ["fit", "recipe.yaml", "--out", "run"], out="run",
     setup=yaml_recipe(LONG_FIT), interrupt_when="run/checkpoint.pt", interrupt_delay=0.5,
     note="Ctrl-C after the first checkpoint: no traceback; what is left is marked as pdelearn's (resumable)")
case("fit_interrupted_at_start", C, (1, 2, 3, 130), ["fit", "recipe.yaml", "--out", "run"], out="run",
     setup=yaml_recipe(LONG_FIT), interrupt_when="run", interrupt_delay=0.0,
     note="Ctrl-C as soon as the run folder appears")
case("discover_interrupted", C, (1, 2, 3, 130), disc(), out="run", interrupt_when="after:10",
     note="Ctrl-C during a long discover (16M points of noise): nothing left behind",
     setup=lambda c: save_npz(c.work / "data.npz", u=np.random.default_rng(3).standard_normal((4000, 3999)),
                              x=np.linspace(0, 1, 4000, endpoint=False), t=np.linspace(0, 1, 3999)))
case("resume_after_interrupt", C, (0, 3), ["fit", "--resume", "run"], needs=("fwd_run",), out="run",
     mutable=("run",), check=exists("run/summary.json"),
     setup=copy_run("fwd_run"), note="control: --resume of a run folder with its checkpoint")
case("resume_extend_steps", C, (0, 2), ["fit", "--resume", "run", "--set", "training.steps=8"], needs=("fwd_run",),
     out="run", mutable=("run",), check=exists("run/summary.json"), setup=copy_run("fwd_run"),
     note="more steps on resume: done, or refused with the differing key named")

# ===== controls: legitimate use must keep working =====
C = "control"
case("ok_discover", C, 0, disc(), setup=copy_data(), out="run", check=all_of(says_burgers, exists("run/equation.json")))
case("ok_discover_strong", C, (0, 3), disc("--method", "strong", "--derivative", "smooth"), setup=copy_data(),
     out="run", check=exists("run/equation.json"))
case("ok_discover_force_own_run", C, 0, disc("--force"), needs=("disc_run",),
     setup=both(copy_data(), copy_run("disc_run")),
     out="run", check=says_burgers, mutable=("run",), note="--force on a folder pdelearn made")
case("ok_discover_out_beside_input", C, 0, ["discover", "in/data.npz", "--out", "in/run"],
     setup=copy_data("in/data.npz"), out="in/run", check=says_burgers)
case("ok_discover_bootstrap", C, 0, disc("--bootstrap", "20"), setup=copy_data(), out="run", check=says_burgers)
case("ok_generate", C, 0, ["generate", "burgers", "--out", "g.npz", "--noise", "0.01"], out="g.npz",
     check=exists("g.npz"))
case("ok_generate_force_own_file", C, 0, ["generate", "burgers", "--out", "g.npz", "--force"], out="g.npz",
     setup=lambda c: shutil.copy(c.fx("burgers_full"), c.work / "g.npz"), mutable=("g.npz",), check=exists("g.npz"),
     note="--force over a file pdelearn generated")
case("generate_force_user_file", "fresh:options", 2, ["generate", "burgers", "--out", "g.npz", "--force"],
     setup=lambda c: write(c.work / "g.npz", b"my own bytes"), note="--force over a file pdelearn did not write")
case("ok_fit_forward", C, 0, ["fit", "recipe.yaml", "--out", "run"], setup=yaml_recipe(FORWARD), out="run",
     check=exists("run/summary.json"))
case("ok_fit_set", C, 0, ["fit", "recipe.yaml", "--out", "run", "--set", "training.steps=2", "--seed", "3"],
     setup=yaml_recipe(FORWARD), out="run", check=exists("run/summary.json"))
case("ok_fit_force_own_run", C, 0, ["fit", "recipe.yaml", "--out", "run", "--force"], needs=("fwd_run",),
     setup=both(yaml_recipe(FORWARD), copy_run("fwd_run")), out="run", mutable=("run",),
     check=exists("run/summary.json"))
case("ok_export_latex", C, 0, ["export", "run", "--latex"], needs=("disc_run",), setup=copy_run("disc_run"),
     check=stdout_has("u_{xx}"))
case("ok_export_json", C, 0, ["export", "run/equation.json", "--json"], needs=("disc_run",),
     setup=copy_run("disc_run"), check=stdout_has("u_xx"))
case("ok_export_text", C, 0, ["export", "run", "--text"], needs=("disc_run",), setup=copy_run("disc_run"),
     check=stdout_has("u_xx"))
case("ok_simulate", C, 0, ["simulate", "run"], needs=("disc_run",), setup=copy_run("disc_run"), mutable=("run",))
case("ok_compare", C, 0, ["compare", "a", "b"], setup=lambda c: (_eval_json(c, "a"), _eval_json(c, "b", top1=0.9)),
     check=stdout_has("prnet"))
case("ok_evaluate", C, 0, ["evaluate", "run", "--no-attack", "--ood", "noise", "--max-images", "60"],
     needs=("cls_run",), setup=copy_run("cls_run"), mutable=("run/evaluation.json",),
     check=exists("run/evaluation.json"))
case("ok_inverse", C, 0, ["fit", "recipe.yaml", "--out", "run"], out="run", check=lambda c, r: _inverse_right(c, r),
     setup=yaml_recipe(INVERSE.replace("DATA", 'simulate: {equation: "u_t = -u*u_x + 0.01*u_xx", '
                                       'initial: "-sin(pi*x)", x: [-1.0, 1.0], nx: 32, t: [0.0, 0.5], nt: 11}')
                       .replace("samples: 200", "samples: 100").replace("noise: 0.0", "noise: 0.01")
                       .replace("max_iter: 4", "max_iter: 30").replace("l2: 0.05", "l2: 0.02")),
     note="simulated Burgers, 1 % noise: l1 = 1, l2 = 0.01")


# -- setup helpers used above ----------------------------------------------------------------------------------


def _inverse_right(ctx: Ctx, r: Result) -> Optional[str]:
    try:
        p = json.loads((ctx.work / "run" / "summary.json").read_text())["parameters"]
    except Exception as exc:  # noqa: BLE001
        return f"exit 0 but no parameters in run/summary.json ({exc})"
    if abs(p["l1"] - 1.0) < 0.05 and abs(p["l2"] - 0.01) < 0.002:
        return None
    return f"exit 0 with l1 = {p['l1']:.4g}, l2 = {p['l2']:.4g} (truth 1, 0.01)"


def _as_killed(run: Path) -> None:
    """Leave only what a fit killed right after it made its folder leaves: recipe.yaml and the marker."""
    for p in sorted(run.iterdir()):
        if p.name not in ("recipe.yaml", ".pdelearn-run"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()


def _finite_npz(path: Path) -> Optional[str]:
    try:
        with np.load(path, allow_pickle=False) as d:
            bad = [k for k in d.files if d[k].dtype.kind in "fc" and not np.all(np.isfinite(d[k]))]
    except Exception as exc:  # noqa: BLE001
        return f"exit 0 but {path.name} is not readable: {exc}"
    return f"exit 0 but {path.name} holds non-finite values in {bad}" if bad else None


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)


def _npz_header_lies(path: Path) -> None:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10 ** 6, 10 ** 6)})
    _zip(path, {"u.npy": buf.getvalue() + bytes(16), "x.npy": npy_bytes(np.linspace(0, 1, 10 ** 6)[:10]),
                "t.npy": npy_bytes(np.linspace(0, 1, 10))})


def _savemat(path: Path, **arrays) -> None:
    import scipy.io

    scipy.io.savemat(path, arrays, do_compression=True)


def _mat_lie(path: Path, n: int = 20000, actual: int = 16) -> None:
    """A v5 .mat whose compressed element declares an n x n double matrix but holds ``actual`` bytes."""

    def el(dtype: int, payload: bytes) -> bytes:
        return struct.pack("<II", dtype, len(payload)) + payload + bytes((-len(payload)) % 8)

    head = el(6, struct.pack("<II", 6, 0)) + el(5, struct.pack("<ii", n, n)) + el(1, b"u")
    declared = n * n * 8
    matrix = struct.pack("<II", 14, len(head) + 8 + declared) + head + struct.pack("<II", 9, declared) + bytes(actual)
    comp = zlib.compress(matrix)
    header = b"MATLAB 5.0 MAT-file, hostile-input harness".ljust(116, b" ") + bytes(8) + struct.pack("<H", 0x0100)
    path.write_bytes(header + b"IM" + struct.pack("<II", 15, len(comp)) + comp)


def _mat_cell(path: Path) -> None:
    import scipy.io

    cell = np.empty((2,), dtype=object)
    cell[0], cell[1] = np.zeros(3), "text"
    scipy.io.savemat(path, {"u": cell, "x": np.linspace(0, 1, 3), "t": np.linspace(0, 1, 3)})


def _edit_text(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        raise RuntimeError(f"{old!r} not in {path}")
    path.write_text(text.replace(old, new, 1))


def _edit_equation(ctx: Ctx, terms: dict[str, float]) -> None:
    run = ctx.work / "run"
    if not run.exists():
        shutil.copytree(ctx.fx("disc_run"), run, symlinks=True)
    eq = json.loads((run / "equation.json").read_text())
    eq["terms"] = terms
    (run / "equation.json").write_text(json.dumps(eq))


def _eval_json(ctx: Ctx, rel: str, conditions=None, drop: Optional[str] = None, top1: float = 0.95) -> None:
    ev = {"run": rel, "model": "prnet", "dataset": "digits", "image_size": 8, "weights": "best.pt", "seed": 0,
          "train_seed": 0, "n_test": 360,
          "conditions": conditions if conditions is not None else
          [{"name": "clean", "kind": "clean", "top1": top1, "top5": 1.0, "n": 360},
           {"name": "noise", "kind": "ood", "top1": top1 - 0.1, "top5": 1.0, "n": 360}],
          "overhead": {"train_s_per_iteration": 0.01, "peak_memory_mb": 100.0}, "reliable": True}
    if drop:
        ev.pop(drop)
    write(ctx.work / rel / "evaluation.json", json.dumps(ev))


def _pickle_checkpoint(path: Path) -> None:
    import pickle

    path.write_bytes(pickle.dumps({"model": _Payload(), "step": 2}))


def _mnist_layout(ctx: Ctx, truncate: bool) -> None:
    raw = ctx.work / "mn" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for base, kind, n in (("train-images-idx3-ubyte", "images", 60000), ("train-labels-idx1-ubyte", "labels", 60000),
                          ("t10k-images-idx3-ubyte", "images", 10000), ("t10k-labels-idx1-ubyte", "labels", 10000)):
        cut = 1000 if truncate and base.startswith("train-images") else None
        write(raw / base, idx_bytes(kind, n, truncate=cut))


def _mnist_source(ctx: Ctx, bomb: bool) -> None:
    src = ctx.work / "src"
    src.mkdir()
    for base, kind, n in (("train-images-idx3-ubyte", "images", 60000), ("train-labels-idx1-ubyte", "labels", 60000),
                          ("t10k-images-idx3-ubyte", "images", 10000), ("t10k-labels-idx1-ubyte", "labels", 10000)):
        if bomb and base.startswith("train-images"):
            shutil.copy(ctx.fx("mnist_bomb"), src / (base + ".gz"))
        else:
            write(src / (base + ".gz"), gzip.compress(idx_bytes(kind, n), 1))


# ---------------------------------------------------------------------------------------------------------------
# fixtures (built once per harness run, only those the selected cases need)


def _pdelearn(args: Sequence[str], cwd: Path, env: dict, timeout: float = 300) -> None:
    r = subprocess.run([sys.executable, "-m", "pdelearn.cli", *args], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode not in (0, 3):
        raise RuntimeError(f"fixture command pdelearn {' '.join(args)} failed ({r.returncode}): {r.stderr[-2000:]}")


def build_fixtures(names: set[str], folder: Path, env: dict) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    fx: dict[str, Path] = {}
    names = set(names) | {"burgers"}
    if "disc_run" in names:
        names.add("burgers")
    full = folder / "burgers_full.npz"
    _pdelearn(["generate", "burgers", "--out", str(full), "--noise", "0.01"], folder, env)
    with np.load(full, allow_pickle=False) as d:
        small = {"u": d["u"][::4, ::3].copy(), "x": d["x"][::4].copy(), "t": d["t"][::3].copy()}
    fx["burgers"] = save_npz(folder / "burgers.npz", **small)
    fx["burgers_full"] = full
    if "disc_run" in names:
        fx["disc_run"] = folder / "disc_run"
        _pdelearn(["discover", str(fx["burgers"]), "--out", str(fx["disc_run"])], folder, env)
    if "fwd_run" in names:
        write(folder / "forward.yaml", FORWARD)
        fx["fwd_run"] = folder / "fwd_run"
        _pdelearn(["fit", str(folder / "forward.yaml"), "--out", str(fx["fwd_run"])], folder, env)
    if "cls_run" in names:
        write(folder / "classifier.yaml", CLASSIFIER)
        fx["cls_run"] = folder / "cls_run"
        _pdelearn(["fit", str(folder / "classifier.yaml"), "--out", str(fx["cls_run"])], folder, env)
    if "huge_npz" in names:
        fx["huge_npz"] = folder / "huge.npz"
        with zipfile.ZipFile(fx["huge_npz"], "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            with z.open("u.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False,
                                                         "shape": (16000, 16000)})
                chunk, n = bytes(1 << 24), 16000 * 16000 * 8
                while n > 0:
                    f.write(chunk[:min(n, len(chunk))])
                    n -= len(chunk)
            for k in ("x", "t"):
                z.writestr(f"{k}.npy", npy_bytes(np.linspace(0.0, 1.0, 16000)))
    if "mnist_bomb" in names:
        fx["mnist_bomb"] = folder / "bomb.gz"
        gzip_bomb(fx["mnist_bomb"], 4.0, header=struct.pack(">IIII", 2051, 60000, 28, 28))
    return fx


# ---------------------------------------------------------------------------------------------------------------
# running and judging


def snapshot(top: Path) -> dict[str, str]:
    """relative path -> "dir" | "link:TARGET" | "file:SHA256" | "other", without following links."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(top))
            try:
                st = os.lstat(p)
            except OSError:
                continue
            import stat as _stat

            if _stat.S_ISLNK(st.st_mode):
                out[rel] = "link:" + os.readlink(p)
            elif _stat.S_ISDIR(st.st_mode):
                out[rel] = "dir"
            elif _stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        h.update(block)
                out[rel] = "file:" + h.hexdigest()
            else:
                out[rel] = "other"
    return out


def make_precious(ctx: Ctx) -> None:
    """User files around and inside the working folder; all must survive every case."""
    write(ctx.home / "notes.txt", "my notes, two folders up\n")
    write(ctx.proj / "README.md", "# my project\n")
    write(ctx.proj / "measurements.npz", npy_bytes(np.arange(10.0)))
    write(ctx.proj / "sub" / "deep" / "thesis.tex", "\\documentclass{article}\n")
    write(ctx.work / "notes.md", "notes beside the data\n")
    write(ctx.work / "keep" / "important.csv", "a,b\n1,2\n")
    write(ctx.work / "keep" / "sub" / "more.txt", "more\n")


def baseline_address_space_mb(env: dict) -> float:
    code = ("import pdelearn.cli, torch, numpy, scipy\n"
            "for line in open('/proc/self/status'):\n"
            "    if line.startswith('VmPeak:'): print(int(line.split()[1]) / 1024)\n")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       cwd=tempfile.gettempdir(), timeout=300)
    try:
        return float(r.stdout.split()[-1])
    except (ValueError, IndexError):
        return 4096.0


def run_limited(cmd: list[str], cwd: Path, env: dict, timeout: float, as_limit_bytes: int, outdir: Path,
                interrupt_when: Optional[str] = None, interrupt_delay: float = 0.0) -> Result:
    def preexec() -> None:
        # a harness started in the background (cmd &) ignores SIGINT, and children inherit that: restore Ctrl-C
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_AS, (as_limit_bytes, as_limit_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    out_path, err_path = outdir / "stdout", outdir / "stderr"
    t0 = time.perf_counter()
    with open(out_path, "wb") as fo, open(err_path, "wb") as fe:
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL,
                             preexec_fn=preexec, start_new_session=True)
        timed_out = False
        status, ru = 0, None
        trigger_at: Optional[float] = None
        interrupted = False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            if interrupt_when is not None and not interrupted:
                if trigger_at is None:
                    if interrupt_when.startswith("after:"):
                        seen = time.perf_counter() - t0 >= float(interrupt_when[6:])
                    elif interrupt_when.startswith("stderr:"):
                        seen = interrupt_when[7:].encode() in err_path.read_bytes()
                    else:
                        seen = os.path.lexists(cwd / interrupt_when)
                    if seen:
                        trigger_at = time.perf_counter() + interrupt_delay
                elif time.perf_counter() >= trigger_at:
                    interrupted = True
                    try:
                        os.killpg(p.pid, signal.SIGINT)
                    except ProcessLookupError:
                        pass
            if time.perf_counter() - t0 > timeout:
                timed_out = True
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.05)
        p.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
        if interrupted and p.returncode == -signal.SIGINT:
            p.returncode = 130  # died of the Ctrl-C it was sent: what a shell reports
    seconds = time.perf_counter() - t0
    # anything the session left behind (it had its own process group)
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    rd = lambda q: q.read_bytes()[-200000:].decode("utf-8", "replace")  # noqa: E731
    return Result(rc=None if timed_out else p.returncode, stdout=rd(out_path), stderr=rd(err_path),
                  seconds=seconds, peak_mb=(ru.ru_maxrss / 1024.0 if ru is not None else 0.0), timed_out=timed_out)


def _under(rel: str, roots: Sequence[str]) -> bool:
    return any(rel == r or rel.startswith(r.rstrip("/") + "/") for r in roots if r)


def judge(c: Case, ctx: Ctx, r: Result, before: dict[str, str], after: dict[str, str], memory_mb: float,
          work_rel: str) -> dict[str, Any]:
    reasons: list[str] = []
    notes: list[str] = []
    rel = lambda p: os.path.normpath(os.path.join(work_rel, p))  # noqa: E731  cwd-relative -> tree-relative
    mutable = [rel(m) for m in c.mutable]
    out_rel = None
    if c.out is not None and not os.path.isabs(c.out):
        out_rel = rel(c.out)
    # data loss: anything that existed before must be there and identical
    lost = [p for p, h in before.items() if not _under(p, mutable) and after.get(p) != h]
    data_loss = bool(lost)
    if data_loss:
        reasons.append(f"DATA LOSS: {len(lost)} pre-existing path(s) gone or changed, e.g. {sorted(lost)[:3]}")
    new = [p for p in after if p not in before]
    pwned = [p for p in after if os.path.basename(p) == PWNED]
    code_ran = bool(pwned)
    if code_ran:
        reasons.append(f"CODE EXECUTED from the input: {pwned[0]} was created")
    stderr_lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    hang = r.timed_out
    # over the budget: a peak above it, or an allocation that failed against the address-space limit and was not
    # turned into a clean refusal (an allowed exit code)
    alloc_failed = any(s in r.stderr for s in ("MemoryError", "std::bad_alloc", "Cannot allocate memory",
                                               "can't allocate memory", "out of memory"))
    mem = r.peak_mb > memory_mb or (alloc_failed and (r.rc not in c.expect or "Traceback" in r.stderr))
    if hang:
        reasons.append("timeout (did not finish)")
    elif r.rc is not None and r.rc < 0:
        reasons.append(f"killed by signal {-r.rc}")
    if mem:
        reasons.append(f"memory: peak {r.peak_mb:.0f} MB or an allocation failure (limit {memory_mb:.0f} MB)")
    if "Traceback" in r.stderr:
        last = stderr_lines[-1] if stderr_lines else ""
        reasons.append(f"traceback: {last[:160]}")
    wrong_answer = False
    if not hang:
        if r.rc not in c.expect:
            reasons.append(f"exit {r.rc}, expected {'/'.join(map(str, c.expect))}")
            if r.rc == 0:
                wrong_answer = True
        if r.rc == 2:
            errs = [ln for ln in stderr_lines if ln.startswith("Error:")]
            if len(errs) != 1:
                reasons.append(f"exit 2 with {len(errs)} 'Error:' lines"
                               + (f" (last stderr line: {stderr_lines[-1][:120]!r})" if stderr_lines else ""))
            elif stderr_lines[-1] != errs[0]:
                reasons.append("the 'Error:' line is not the last line on stderr")
            elif len(stderr_lines) > 1:
                notes.append(f"{len(stderr_lines) - 1} more stderr line(s) before the Error: line")
            if r.stdout.strip():
                notes.append("stdout not empty on exit 2")
            if errs and any(ord(ch) < 32 and ch != "\t" for ch in errs[0]):
                reasons.append("control characters in the Error: line")
        elif r.rc in (1, 3, 130) and r.rc in c.expect:
            if not stderr_lines and not r.stdout.strip():
                reasons.append(f"exit {r.rc} without a line saying why")
        elif r.rc == 0 and 0 in c.expect and c.check is not None:
            why = c.check(ctx, r)
            if why:
                reasons.append(why)
                wrong_answer = True
    # half-written: after a refusal nothing new; never a temporary hidden sibling outside the output folder
    outputs = [o for o in ([out_rel] if out_rel else []) + mutable]
    if c.interrupt_when is not None and out_rel and os.path.lexists(ctx.tree / out_rel / ".pdelearn-run"):
        mutable = mutable + [out_rel]  # an interrupted run's folder, marked as pdelearn's: --force/--resume can use it
    if r.rc not in (0, 3) or hang:
        stray = [p for p in new if not _under(p, mutable)]
        if stray:
            reasons.append(f"half-written: {len(stray)} new path(s) after the failure, e.g. {sorted(stray)[:3]}")
    else:
        hidden = [p for p in new if os.path.basename(p).startswith(".") and not _under(p, outputs)
                  and os.path.basename(p) != ".pdelearn-run"]
        if hidden:
            reasons.append(f"temporary file(s) left: {sorted(hidden)[:3]}")
        stray = [p for p in new if not _under(p, outputs) and p not in hidden]
        if stray and c.out is not None:
            notes.append(f"new paths outside the output: {sorted(stray)[:3]}")
    verdict = "clean" if not reasons else "FAIL"
    return {"verdict": verdict, "reasons": reasons, "notes": notes, "data_loss": data_loss, "code_executed": code_ran,
            "wrong_answer": wrong_answer, "hang": hang, "memory": mem}


def run_case(c: Case, base: Path, fixtures: dict[str, Path], env: dict, timeout: float, as_limit: int,
             memory_mb: float, keep: bool) -> dict[str, Any]:
    tree = Path(tempfile.mkdtemp(prefix=f"{c.name[:40]}-", dir=base))
    ctx = Ctx(tree=tree, fixtures=fixtures)
    ctx.work.mkdir(parents=True)
    logs = Path(tempfile.mkdtemp(prefix="log-", dir=base))
    row: dict[str, Any] = {"case": c.name, "category": c.category, "expected": list(c.expect), "note": c.note}
    try:
        make_precious(ctx)
        if c.setup is not None:
            c.setup(ctx)
        args = c.args(ctx) if callable(c.args) else list(c.args)
        cmd = [sys.executable, *args] if c.module else [sys.executable, "-m", "pdelearn.cli", *args]
        # safety: the working folder must be at least three levels inside our own temporary tree
        assert str(ctx.work).startswith(str(base)) and ctx.work.relative_to(tree).parts == ("home", "proj", "work")
        before = snapshot(tree)
        r = run_limited(cmd, ctx.work, env, timeout, as_limit, logs, c.interrupt_when, c.interrupt_delay)
        after = snapshot(tree)
        row.update(judge(c, ctx, r, before, after, memory_mb, "home/proj/work"))
        row.update({"got": r.rc if not r.timed_out else "timeout", "seconds": round(r.seconds, 2),
                    "peak_mb": round(r.peak_mb, 1), "stderr_tail": r.stderr[-600:], "stdout_tail": r.stdout[-300:],
                    "args": [a if len(a) <= 200 else a[:200] + f"...({len(a)} chars)" for a in args]})
    except Exception as exc:  # noqa: BLE001 - a harness problem, reported as such
        row.update({"verdict": "HARNESS", "reasons": [f"harness error: {type(exc).__name__}: {exc}"], "got": None,
                    "seconds": 0.0, "peak_mb": 0.0, "data_loss": False, "wrong_answer": False, "hang": False,
                    "memory": False, "code_executed": False, "notes": []})
    finally:
        if not keep:
            _rmtree_own(tree, base)
            _rmtree_own(logs, base)
    return row


def _rmtree_own(path: Path, base: Path) -> None:
    """Remove a folder of ours (only ever below ``base``); make everything writable first."""
    path = Path(path)
    if not str(path.resolve()).startswith(str(base.resolve()) + os.sep):
        return

    def onerror(func, p, exc):
        try:
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=onerror)


def versions(env: Optional[dict] = None) -> dict[str, Any]:
    out = {"python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
           "numpy": np.__version__}
    for mod in ("torch", "sympy", "pdelearn"):
        try:
            r = subprocess.run([sys.executable, "-c", f"import {mod}; print({mod}.__version__, {mod}.__file__)"],
                               capture_output=True, text=True, timeout=120, env=env, cwd=tempfile.gettempdir())
            out[mod] = r.stdout.strip()
        except Exception:  # noqa: BLE001
            out[mod] = "?"
    try:
        out["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                           text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "pdelearn"], cwd=ROOT, capture_output=True,
                               text=True).stdout.split("\n")
        out["uncommitted_pdelearn_files"] = [ln[3:] for ln in dirty if ln.strip()]
    except OSError:
        pass
    return out


def select(patterns: Sequence[str], extended: bool = False) -> list[Case]:
    """Cases whose name or category matches one of ``patterns`` (all without patterns); --only also selects
    extended cases by name, the default run leaves them out."""
    if not patterns:
        return [c for c in CASES if extended or not c.extended]
    out = []
    for c in CASES:
        for p in patterns:
            if fnmatch.fnmatchcase(c.name, p) or fnmatch.fnmatchcase(c.category, p):
                out.append(c)
                break
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default="hostile_results.json", help="JSON file of the results")
    ap.add_argument("--only", action="append", default=[],
                    help="case name or category, exactly or as a glob (out_*, 'issue:*'); repeatable")
    ap.add_argument("--timeout", type=float, default=60.0, help="wall-clock limit per case, seconds")
    ap.add_argument("--memory-mb", type=float, default=3000.0,
                    help="memory budget per case: peak resident MB, and the address-space limit above the baseline "
                         "of importing pdelearn.cli")
    ap.add_argument("--jobs", type=int, default=1, help="cases run in parallel")
    ap.add_argument("--keep", action="store_true", help="keep each case's temporary folder (for debugging)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--source", default=str(ROOT),
                    help="folder holding the pdelearn package to test (default: this checkout), e.g. an exported "
                         "older commit: git archive COMMIT pdelearn | tar -x -C /tmp/old; --source /tmp/old")
    ap.add_argument("--extended", action="store_true",
                    help="also the extended cases (variants of the default ones; ~5 more minutes)")
    ap.add_argument("--require", type=float, default=None,
                    help="exit 1 unless handled cleanly %% >= this, with zero data loss and zero code execution")
    args = ap.parse_args(argv)

    cases = select(args.only, args.extended)
    if args.list:
        for c in cases:
            print(f"{c.category:20s} {c.name:34s} expect {'/'.join(map(str, c.expect)):6s} "
                  f"{'[extended] ' if c.extended else ''}{c.note}")
        print(f"{len(cases)} cases")
        return 0
    if not cases:
        print("no case matches", args.only, file=sys.stderr)
        return 2

    base = Path(tempfile.mkdtemp(prefix="pdelearn-hostile-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PDELEARN_", "CUDA_VISIBLE"))}
    mpl = base / "mplconfig"
    mpl.mkdir()
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg",
                "MPLCONFIGDIR": str(mpl), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": str(Path(args.source).resolve()) + os.pathsep + env.get("PYTHONPATH", ""),
                "TQDM_DISABLE": "1",
                "HOME": str(base / "fakehome"), "COLUMNS": "200"})
    (base / "fakehome").mkdir()
    t_start = time.perf_counter()
    try:
        baseline = baseline_address_space_mb(env)
        as_limit = int((baseline + args.memory_mb) * (1 << 20))
        needs = {n for c in cases for n in c.needs}
        t_fx = time.perf_counter()
        fixtures = build_fixtures(needs, base / "fixtures", env)
        t_fx = time.perf_counter() - t_fx
        print(f"{len(cases)} cases; address-space limit {as_limit / (1 << 20):.0f} MB (baseline {baseline:.0f} MB + "
              f"{args.memory_mb:.0f} MB); fixtures {t_fx:.0f} s; temporary tree {base}", flush=True)
        rows: list[dict[str, Any]] = []
        lock = threading.Lock()

        def one(c: Case) -> dict[str, Any]:
            row = run_case(c, base, fixtures, env, args.timeout, as_limit, args.memory_mb, args.keep)
            with lock:
                why = "; ".join(row["reasons"])
                print(f"  {row['verdict']:5s} {c.name:34s} got {str(row['got']):7s} {row['seconds']:6.1f} s "
                      f"{row['peak_mb']:7.0f} MB  {why[:150]}", flush=True)
            return row

        if args.jobs <= 1:
            rows = [one(c) for c in cases]
        else:
            with ThreadPoolExecutor(args.jobs) as ex:
                rows = list(ex.map(one, cases))
    finally:
        if not args.keep:
            _rmtree_own(base / "fixtures", base)
            shutil.rmtree(base, ignore_errors=True)
    wall = time.perf_counter() - t_start

    n = len(rows)
    clean = sum(r["verdict"] == "clean" for r in rows)
    cats: dict[str, dict[str, int]] = {}
    for r in rows:
        d = cats.setdefault(r["category"], {"cases": 0, "clean": 0})
        d["cases"] += 1
        d["clean"] += r["verdict"] == "clean"
    totals = {"cases": n, "handled_cleanly": clean, "handled_cleanly_pct": round(100.0 * clean / n, 2),
              "data_loss": sum(r["data_loss"] for r in rows),
              "code_executed": sum(r["code_executed"] for r in rows),
              "exit0_wrong_answers": sum(r["wrong_answer"] for r in rows),
              "hangs": sum(r["hang"] for r in rows), "memory_over": sum(r["memory"] for r in rows),
              "tracebacks": sum(any(x.startswith("traceback") for x in r["reasons"]) for r in rows),
              "harness_errors": sum(r["verdict"] == "HARNESS" for r in rows),
              "peak_mb_max": max((r["peak_mb"] for r in rows), default=0.0),
              "seconds_max": max((r["seconds"] for r in rows), default=0.0),
              "wall_seconds": round(wall, 1), "per_category": cats,
              "not_clean": [{"case": r["case"], "category": r["category"], "got": r["got"], "reasons": r["reasons"]}
                            for r in rows if r["verdict"] != "clean"]}
    result = {"command": [sys.executable, *(sys.argv if argv is None else ["benchmarks/hostile_inputs.py", *argv])],
              "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - wall)),
              "settings": {"extended": args.extended, "timeout_s": args.timeout, "memory_mb": args.memory_mb,
                           "jobs": args.jobs, "source": str(Path(args.source).resolve()),
                           "address_space_limit_mb": round(as_limit / (1 << 20)),
                           "baseline_address_space_mb": round(baseline), "only": args.only},
              "versions": versions(env), "totals": totals, "cases": rows}

    # table
    print()
    hdr = f"{'case':34s} {'category':18s} {'expect':7s} {'got':7s} {'sec':>6s} {'MB':>6s} verdict  reason"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['case']:34s} {r['category']:18s} {'/'.join(map(str, r['expected'])):7s} {str(r['got']):7s} "
              f"{r['seconds']:6.1f} {r['peak_mb']:6.0f} {r['verdict']:8s} {'; '.join(r['reasons'])[:200]}")
    print()
    print(f"handled cleanly {clean}/{n} = {totals['handled_cleanly_pct']} %; data loss {totals['data_loss']}; "
          f"code executed {totals['code_executed']}; exit-0 wrong answers {totals['exit0_wrong_answers']}; hangs "
          f"{totals['hangs']}; memory {totals['memory_over']}; tracebacks {totals['tracebacks']}; peak "
          f"{totals['peak_mb_max']:.0f} MB; wall {wall:.0f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(result, indent=1, default=str))
    os.replace(tmp, out)
    print(f"wrote {out}")
    if args.require is not None:
        ok = totals["handled_cleanly_pct"] >= args.require and not totals["data_loss"] and not totals["code_executed"]
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
