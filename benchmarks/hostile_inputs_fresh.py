"""An out-of-sample hostile-input set for issue 27: inputs that ``benchmarks/hostile_inputs.py`` does not try.

``hostile_inputs.py`` was written while the fixes were made, so its cases are in-sample. This file adds a
fresh set of hostile or mistaken inputs (none of them a renamed variant of one there) and judges them with
the same runner and the same rules, imported from ``hostile_inputs.py``: the exit code (2 bad input, 3
unreliable or over a budget, 0 for legitimate inputs that must keep working), no traceback, one ``Error:``
line for exit 2, within the time and memory limits, nothing half-written, the "precious" user files
byte-identical afterwards, and no exit 0 with an equation that is not the data's.

Categories: ``oos:data`` (data files), ``oos:options`` (command-line options of discover/generate),
``oos:out`` (output paths), ``oos:recipe`` (recipes and --set), ``oos:runs`` (run folders given to resume,
export, simulate, evaluate, compare, readout), ``oos:env`` (environment variables), ``oos:api`` (the Python
API called with hostile arguments; a ``PdelearnError`` is printed as one ``Error:`` line, exit 2), and
``oos:control`` (legitimate edge cases that must work).

    OMP_NUM_THREADS=1 python benchmarks/hostile_inputs_fresh.py --out /tmp/fresh/results.json
    python benchmarks/hostile_inputs_fresh.py --only 'oos:env' --only api_parse_none --out r.json
    python benchmarks/hostile_inputs_fresh.py --list
"""

from __future__ import annotations

import json
import os
import struct
import sys
import zipfile
from pathlib import Path
from typing import Callable, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hostile_inputs as hi  # noqa: E402  (the runner, the judge, the fixtures and the input helpers)
from hostile_inputs import (  # noqa: E402
    CLASSIFIER,
    FORWARD,
    INVERSE,
    JOINT,
    Ctx,
    Result,
    both,
    burgers,
    copy_data,
    copy_run,
    data_with,
    disc,
    exists,
    npy_bytes,
    printed_terms,
    save_npz,
    says_burgers,
    stdout_has,
    write,
    yaml_recipe,
)

IN_SAMPLE = {c.name for c in hi.CASES}
hi.CASES[:] = []  # main() and select() of hostile_inputs run what hi.CASES holds: only the cases below


def case(name, category, expect, args, **kw) -> None:
    if name in IN_SAMPLE:
        raise ValueError(f"{name} is a case of hostile_inputs.py")
    hi.case(name, category, expect, args, **kw)


# -- helpers -------------------------------------------------------------------------------------------------

def with_env(env: dict, *args: str) -> list[str]:
    """``python -c`` that sets (value None: removes) environment variables, then runs ``pdelearn ARGS``."""
    code = ("import os, sys\n"
            f"for k, v in {env!r}.items():\n"
            "    os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)\n"
            "from pdelearn.cli import main\n"
            "main(args=sys.argv[1:], prog_name='pdelearn')\n")
    return ["-c", code, *args]


API = """\
import sys, json
import numpy as np
import pdelearn
from pdelearn.errors import PdelearnError
def burgers():
    d = np.load(sys.argv[1])
    return {k: d[k] for k in ("u", "x", "t")}
def body():
BODY
try:
    body()
except PdelearnError as exc:
    print("Error: " + " ".join(str(exc).split()), file=sys.stderr)
    sys.exit(2)
"""


def api(body: str) -> Callable[[Ctx], list[str]]:
    """The Python API: a ``PdelearnError`` (the documented error type) -> one Error: line, exit 2; any other
    exception is a traceback (a failure)."""
    code = API.replace("BODY", "\n".join("    " + ln for ln in body.strip().splitlines()))
    return lambda c: ["-c", code, str(c.fx("burgers"))]


def says_terms(truth: dict[str, float], rtol: float = 0.1, lhs: str = "u_t") -> Callable[[Ctx, Result], Optional[str]]:
    def check(ctx: Ctx, r: Result) -> Optional[str]:
        terms = printed_terms(r.stdout, lhs)
        if terms is not None and set(terms) == set(truth) and all(
                abs(terms[k] - v) <= rtol * abs(v) for k, v in truth.items()):
            return None
        return f"exit 0 but the printed equation is not {truth}: {r.stdout.strip()[-160:]!r}"

    return check


def edit_json(rel: str, change: Callable[[dict], None]) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        p = ctx.work / rel
        d = json.loads(p.read_text())
        change(d)
        p.write_text(json.dumps(d))

    return setup


def eval_json(rel: str, **changes) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        hi._eval_json(ctx, rel)
        if changes:
            p = ctx.work / rel / "evaluation.json"
            d = json.loads(p.read_text())
            for k, v in changes.items():
                d[k] = v(d) if callable(v) else v
            p.write_text(json.dumps(d))

    return setup


def heat_2d(ctx: Ctx) -> None:
    """u_t = 0.1 (u_xx + u_yy) on a periodic 32 x 32 grid: three Fourier modes, so that the equation is unique."""
    n, D = 32, 0.1
    x = np.linspace(0, 2 * np.pi, n, endpoint=False)
    t = np.linspace(0, 1, 21)
    X, Y, T = np.meshgrid(x, x, t, indexing="ij")
    u = (np.exp(-2 * D * T) * np.sin(X) * np.sin(Y) + 0.5 * np.exp(-5 * D * T) * np.sin(2 * X) * np.cos(Y)
         + 0.3 * np.exp(-10 * D * T) * np.sin(X) * np.cos(3 * Y))
    save_npz(ctx.work / "data.npz", u=u, x=x, y=x.copy(), t=t)


def mat_v73(path: Path) -> None:
    """A MATLAB v7.3 file as MATLAB writes it: a 512-byte MAT header (version 0x0200), then an HDF5 superblock."""
    head = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Dec  7 12:00:00 2026 HDF5 schema 1.00 ."
    header = head.ljust(116, b" ") + bytes(8) + struct.pack("<H", 0x0200) + b"IM"
    write(path, header.ljust(512, b"\x00") + b"\x89HDF\r\n\x1a\n" + bytes(4096))


def lzma_npz(ctx: Ctx) -> None:
    with zipfile.ZipFile(ctx.work / "data.npz", "w", compression=zipfile.ZIP_LZMA) as z:
        for k, v in burgers(ctx).items():
            z.writestr(f"{k}.npy", npy_bytes(v))


def savemat(rel: str, fmt: str = "5", sparse: bool = False) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        import scipy.io
        import scipy.sparse

        d = burgers(ctx)
        if sparse:
            d["u"] = scipy.sparse.csc_matrix(d["u"])
        scipy.io.savemat(ctx.work / rel, d, format=fmt)

    return setup


# ===== data files =================================================================================================
C = "oos:data"
case("npz_float16_field", C, (0, 3), disc(), setup=data_with(u=lambda d: d["u"].astype(np.float16)),
     check=says_burgers, note="half precision storage: Burgers, or unreliable")
case("npz_int8_quantized", C, (0, 3), disc(),
     setup=data_with(u=lambda d: np.round(d["u"] * 100).astype(np.int8)),
     check=says_terms({"u u_x": -0.01, "u_xx": 0.1}, 0.15),
     note="100 u rounded to int8 (field in percent): u_t = -0.01 u u_x + 0.1 u_xx, or unreliable")
case("npz_coords_swapped", C, (2, 3), disc(), setup=data_with(x=lambda d: d["t"], t=lambda d: d["x"]),
     note="x holds the times and t the positions: the shapes still fit (transposed); no equation is the data's")
case("npz_clean_copy_sibling", C, (0, 2, 3), disc(),
     setup=data_with(u=lambda d: d["u"] + 0.02 * d["u"].std() * np.random.default_rng(4).standard_normal(d["u"].shape),
                     uclean=lambda d: d["u"]),
     check=says_burgers, note="the file also holds a clean copy 'uclean': the u_t line must be Burgers' in u alone")
case("npz_meshgrid_coords", C, (0, 2), disc(), check=says_burgers,
     setup=data_with(x=lambda d: np.meshgrid(d["x"], d["t"], indexing="ij")[0],
                     t=lambda d: np.meshgrid(d["x"], d["t"], indexing="ij")[1]),
     note="x and t as meshgrid arrays shaped like u (a common layout)")
case("npz_x_offset_1e15", C, (0, 2, 3), disc(), setup=data_with(x=lambda d: d["x"] + 1e15), check=says_burgers,
     note="absolute positions: float64 cannot hold the grid step at 1e15")
case("npz_time_in_ms", C, (0, 3), disc(), setup=data_with(t=lambda d: d["t"] * 1000.0),
     check=says_terms({"u u_x": -0.001, "u_xx": 0.0001}), note="time in milliseconds: coefficients / 1000")
case("npz_single_spike", C, (2, 3), disc(),
     setup=data_with(u=lambda d: np.where(np.arange(d["u"].size).reshape(d["u"].shape) == 700, 1.0, 0.0)),
     note="all zeros but one value: no equation is the data's")
case("npz_lzma_members", C, 0, disc(), setup=lzma_npz, check=says_burgers,
     note="control: a valid .npz whose members are LZMA-compressed")
case("mat_v73_header", C, 2, disc(data="data.mat"), setup=lambda c: mat_v73(c.work / "data.mat"),
     note="MATLAB v7.3 (HDF5 after a 512-byte MAT header)")
case("mat_sparse_field", C, (0, 2), disc(data="data.mat"), setup=savemat("data.mat", sparse=True),
     check=says_burgers, note="u saved as a MATLAB sparse matrix")
case("mat_v4", C, (0, 2), disc(data="data.mat"), setup=savemat("data.mat", fmt="4"), check=says_burgers,
     note="MATLAB v4 format")
case("data_npy_file", C, 2, disc(data="data.npy"),
     setup=lambda c: write(c.work / "data.npy", npy_bytes(burgers(c)["u"])), note="a bare .npy (no coordinates)")
case("grid_at_min_points", C, (0, 2, 3), disc(),
     setup=data_with(u=lambda d: d["u"][::13, ::6][:5, :6], x=lambda d: d["x"][::13][:5], t=lambda d: d["t"][::6][:6]),
     check=says_burgers, note="5 x 6: exactly MIN_POINTS along x; no confident answer from 30 values")
case("npz_extra_text_member", C, (0, 2), disc(), check=says_burgers,
     setup=lambda c: hi._zip(c.work / "data.npz", {**{f"{k}.npy": npy_bytes(v) for k, v in burgers(c).items()},
                                                  "README.txt": b"measured on 2026-12-01\n"}),
     note="a zip holding the arrays and a text note")

# ===== discover / generate options =================================================================================
C = "oos:options"
case("threads_superscript", C, 2, disc("--threads", "\u00b2"), setup=copy_data(), note="--threads ² (isdigit() is True)")
case("threads_zero", C, 2, disc("--threads", "0"), setup=copy_data())
case("budget_zero", C, (2, 3), disc("--refine", "output-error", "--budget", "0"), setup=copy_data(), out="run",
     note="a zero time budget for a forced refinement")
case("budget_nan", C, 2, disc("--refine", "output-error", "--budget", "nan"), setup=copy_data())
case("budget_negative", C, 2, disc("--budget", "-5"), setup=copy_data())
case("threshold_zero", C, (0, 2, 3), disc("--regression", "stlsq", "--threshold", "0"), setup=copy_data(), out="run",
     check=says_burgers, note="no sparsity at all: a dense equation is not an answer")
case("threshold_1e300", C, (0, 2, 3), disc("--regression", "stlsq", "--threshold", "1e300"), setup=copy_data(),
     out="run", check=says_burgers, note="every term thresholded away: 'u_t = 0' is not the data's equation")
case("power0_order1", C, (2, 3), disc("--max-power", "0", "--max-order", "1"), setup=copy_data(), out="run",
     note="a library {1, u_x} that cannot hold Burgers")
case("order_power_at_limit", C, (0, 2, 3), disc("--max-order", "8", "--max-power", "8"), setup=copy_data(),
     out="run", check=says_burgers, note="both at their limits (8): bounded in time")
case("field_repeated", C, (0, 2), disc("--field", "u", "--field", "u"), setup=copy_data(), check=says_burgers)
case("coord_repeated", C, (0, 2), disc("--coord", "x", "--coord", "x", "--coord", "t"), setup=copy_data(), out="run",
     check=says_burgers)
case("terms_unicode_minus", C, (0, 2, 3), disc("--terms", "\u2212u*u_x"), setup=copy_data(), out="run",
     check=says_burgers, note="U+2212 MINUS SIGN pasted from a paper")
case("terms_fullwidth_u", C, (0, 2, 3), disc("--terms", "\uff55*u_xx"), setup=copy_data(), out="run",
     check=says_burgers, note="fullwidth u")
case("terms_mixed_time_derivative", C, 2, disc("--terms", "u_xt"), setup=copy_data())
case("terms_log_negative", C, (0, 2, 3), disc("--terms", "log(u)"), setup=copy_data(), out="run",
     check=says_burgers, note="log of a field with negative values: NaN column")
case("terms_one_over_u", C, (0, 2, 3), disc("--terms", "1/u"), setup=copy_data(), out="run", check=says_burgers,
     note="u crosses zero: infinite column")
case("terms_imaginary", C, 2, disc("--terms", "I*u"), setup=copy_data())
case("terms_divide_by_zero", C, 2, disc("--terms", "u/0"), setup=copy_data())
case("terms_unknown_field", C, 2, disc("--terms", "v*u_x"), setup=copy_data())
case("terms_999_inside_limit", C, (2, 3), disc("--terms-only", "--terms",
                                                ", ".join(f"sin({k}*u)" for k in range(1, 1000))),
     setup=copy_data(), out="run", note="999 terms, just under MAX_LIBRARY_TERMS (time!); Burgers is not in it")
case("terms_exponent_64", C, (0, 2, 3), disc("--terms", "((u+1)**8)**8"), setup=copy_data(), out="run",
     check=says_burgers, note="an exponent product of exactly MAX_EXPONENT; a column up to 1.8e19")
case("radius_1e-9", C, (0, 2, 3), disc("--radius", "1e-9"), setup=copy_data(), out="run", check=says_burgers)
case("generate_noise_subnormal", C, 0, ["generate", "burgers", "--out", "g.npz", "--noise", "1e-320"], out="g.npz",
     check=exists("g.npz"), note="control")
case("generate_out_uppercase", C, (0, 2), ["generate", "burgers", "--out", "G.NPZ"], out="G.NPZ",
     check=exists("G.NPZ"))
case("generate_out_fifo", C, 2, ["generate", "burgers", "--out", "g.npz"],
     setup=lambda c: os.mkfifo(c.work / "g.npz"), note="a named pipe where the output file would go")
case("generate_out_symlink_user_file", C, 2, ["generate", "burgers", "--out", "g.npz", "--force"],
     setup=lambda c: os.symlink("notes.md", c.work / "g.npz"))

# ===== output paths ===============================================================================================
C = "oos:out"
case("out_trailing_slash", C, 0, disc(out="run/"), setup=copy_data(), out="run", check=says_burgers, note="control")
case("out_nested_on_refusal", C, 2, disc(out="a/b/c/run"),
     setup=data_with(u=lambda d: np.where(d["u"] > 0.5, np.nan, d["u"])),
     note="bad data: the parents a/b/c must not be left behind")
case("out_dangling_symlink", C, 2, disc(out="run"), setup=both(copy_data(), lambda c: os.symlink("nowhere", c.work / "run")))
DISC_FILES = ("run/.pdelearn-run", "run/equation.json", "run/equation.tex", "run/options.json", "run/summary.json",
              "run/discovery.png")
case("force_run_with_user_note", C, (0, 2), disc("--force"), needs=("disc_run",), out="run",
     setup=both(copy_data(), copy_run("disc_run"), lambda c: write(c.work / "run/my_notes.txt", "my notes\n")),
     mutable=DISC_FILES, check=says_burgers,
     note="the user added a note to a run folder pdelearn made: --force must not delete it")

# ===== recipes and --set ==========================================================================================
C = "oos:recipe"
case("recipe_device_CUDA", C, 2, ["fit", "recipe.yaml", "--out", "run"],
     setup=yaml_recipe(FORWARD.replace("device: cpu", "device: CUDA")))
case("recipe_seed_2pow70", C, (0, 2), ["fit", "recipe.yaml", "--out", "run"], out="run",
     setup=yaml_recipe(FORWARD.replace("seed: 0", f"seed: {2 ** 70}")), check=exists("run/summary.json"))
case("recipe_crlf", C, 0, ["fit", "recipe.yaml", "--out", "run"], out="run",
     setup=lambda c: write(c.work / "recipe.yaml", FORWARD.replace("\n", "\r\n").encode()),
     check=exists("run/summary.json"), note="control: Windows line endings")
case("recipe_latin1", C, 2, ["fit", "recipe.yaml", "--out", "run"],
     setup=lambda c: write(c.work / "recipe.yaml", FORWARD.replace("tiny Burgers", "tiny Burgers \u00e9t\u00e9")
                           .encode("latin-1")))
case("recipe_merge_keys", C, (0, 2), ["fit", "recipe.yaml", "--out", "run"], out="run",
     setup=yaml_recipe(FORWARD.replace("model: {type: mlp,", "base: &m {type: mlp}\nmodel: {<<: *m,")),
     check=exists("run/summary.json"), note="a YAML merge key (<<: *anchor)")
case("recipe_two_documents", C, 2, ["fit", "recipe.yaml", "--out", "run"],
     setup=yaml_recipe(FORWARD + "---\n" + FORWARD.replace("seed: 0", "seed: 1")))
case("recipe_seed_timestamp", C, 2, ["fit", "recipe.yaml", "--out", "run"],
     setup=yaml_recipe(FORWARD.replace("seed: 0", "seed: 2001-12-14")))
case("recipe_complex_key", C, 2, ["fit", "recipe.yaml", "--out", "run"],
     setup=yaml_recipe(FORWARD + "? [a, b]\n: 1\n"))
case("recipe_weights_all_zero", C, (2, 3), ["fit", "recipe.yaml", "--out", "run"], out="run",
     setup=yaml_recipe(FORWARD.replace("{L_I: 1.0, L_B: 1.0, L_G: 1.0, L_R: 0.0}", "{L_I: 0.0, L_B: 0.0, L_G: 0.0, L_R: 0.0}")),
     note="nothing to train")
case("recipe_weight_negative", C, (2, 3), ["fit", "recipe.yaml", "--out", "run"], out="run",
     setup=yaml_recipe(FORWARD.replace("L_G: 1.0", "L_G: -1.0")), note="a loss maximised")
case("recipe_max_minutes_negative", C, 2, ["fit", "recipe.yaml", "--out", "run"],
     setup=yaml_recipe(FORWARD.replace("checkpoint_every: 2}", "checkpoint_every: 2, max_minutes: -1}")))
case("recipe_from_run_folder", C, 0, ["fit", "run/recipe.yaml", "--out", "run2"], needs=("fwd_run",), out="run2",
     setup=copy_run("fwd_run"), check=exists("run2/summary.json"),
     note="control: the fully resolved recipe a run wrote (every key written out) runs again")
case("joint_data_is_directory", C, 2, ["fit", "recipe.yaml", "--out", "run"],
     setup=yaml_recipe(JOINT.replace("DATA", "file: keep")))
case("joint_noise_negative", C, 2, ["fit", "recipe.yaml", "--out", "run"],
     setup=yaml_recipe(JOINT.replace("DATA", "system: burgers").replace("noise: 0.0", "noise: -0.1")))
case("inverse_parameter_nan", C, 2, ["fit", "recipe.yaml", "--out", "run"],
     setup=yaml_recipe(INVERSE.replace("DATA", "system: burgers").replace("l1: 0.8", "l1: .nan")))
case("inverse_parameter_named_u", C, 2, ["fit", "recipe.yaml", "--out", "run"],
     setup=yaml_recipe(INVERSE.replace("DATA", "system: burgers").replace("l1*u*u_x", "l1*u*u_x + u")
                       .replace("l2: 0.05}", "l2: 0.05, u: 1.0}")), note="a parameter named like the field")
case("cls_val_fraction_1", C, 2, ["fit", "recipe.yaml", "--out", "run"],
     setup=yaml_recipe(CLASSIFIER.replace("val_fraction: 0.1", "val_fraction: 1.0")), note="no training images left")
case("cls_batch_size_0", C, 2, ["fit", "recipe.yaml", "--out", "run"],
     setup=yaml_recipe(CLASSIFIER.replace("batch_size: 64", "batch_size: 0")))
case("set_cyrillic_key", C, 2, ["fit", "recipe.yaml", "--out", "run", "--set", "tr\u0430ining.steps=2"],
     setup=yaml_recipe(FORWARD), note="Cyrillic a in 'training'")
case("set_fullwidth_digit", C, (0, 2), ["fit", "recipe.yaml", "--out", "run", "--set", "training.steps=\uff12"],
     setup=yaml_recipe(FORWARD), out="run", check=exists("run/summary.json"))
case("set_section_to_scalar", C, 2, ["fit", "recipe.yaml", "--out", "run", "--set", "training=5"],
     setup=yaml_recipe(FORWARD))
case("set_key_trailing_dot", C, 2, ["fit", "recipe.yaml", "--out", "run", "--set", "training.=5"],
     setup=yaml_recipe(FORWARD))

# ===== run folders ================================================================================================
C = "oos:runs"
EQ = {"lhs": "u_t", "terms": {"u*u_x": -1.0, "u_xx": 0.1}, "fields": ["u"], "coords": ["x"]}
case("export_symlink_loop", C, 2, ["export", "loop"], setup=lambda c: os.symlink("loop", c.work / "loop"))
case("export_wrong_nesting", C, 2, ["export", "eq.json"],
     setup=lambda c: write(c.work / "eq.json", json.dumps({"equation": EQ})))
case("export_lhs_list", C, 2, ["export", "eq.json"],
     setup=lambda c: write(c.work / "eq.json", json.dumps({**EQ, "lhs": ["u_t"]})))
case("export_coef_bool", C, (0, 2), ["export", "eq.json", "--text"],
     setup=lambda c: write(c.work / "eq.json", json.dumps({**EQ, "terms": {"u_xx": True}})))
case("export_same_term_twice", C, (0, 2), ["export", "eq.json", "--text"],
     setup=lambda c: write(c.work / "eq.json", json.dumps({**EQ, "terms": {"u*u_x": -1.0, "u_x*u": 2.0}})),
     check=lambda c, r: None if (printed_terms(r.stdout) or {}).get("u u_x") == 1.0 else
     f"exit 0 but 'u*u_x: -1' and 'u_x*u: 2' printed as {r.stdout.strip()[:100]!r} (their sum is 1 u u_x)")
case("export_utf8_bom", C, (0, 2), ["export", "eq.json", "--text"], check=stdout_has("u_xx"),
     setup=lambda c: write(c.work / "eq.json", b"\xef\xbb\xbf" + json.dumps(EQ).encode()))
case("export_field_named_x", C, 2, ["export", "eq.json"],
     setup=lambda c: write(c.work / "eq.json", json.dumps({"lhs": "x_t", "terms": {"x_xx": 0.1}, "fields": ["x"],
                                                           "coords": ["x"]})))
case("simulate_data_deleted", C, 2, ["simulate", "run"], needs=("disc_run",),
     setup=both(copy_run("disc_run"), edit_json("run/options.json", lambda d: d.update(data="/tmp/deleted/gone.npz"))))
case("simulate_png_symlink_user_file", C, (0, 2), ["simulate", "run"], needs=("disc_run",),
     mutable=("run/simulation.png", "run/simulation.json"),
     setup=both(copy_run("disc_run"), lambda c: os.symlink("../notes.md", c.work / "run/simulation.png")),
     note="simulation.png is a link to the user's notes: never written through")
case("resume_with_other_out", C, 2, ["fit", "--resume", "run", "--out", "other"], needs=("fwd_run",),
     setup=copy_run("fwd_run"))
case("resume_with_differing_recipe", C, 2, ["fit", "recipe.yaml", "--resume", "run"], needs=("fwd_run",),
     setup=both(copy_run("fwd_run"), yaml_recipe(FORWARD.replace("width: 8", "width: 16"))))
case("resume_checkpoint_dev_zero", C, 2, ["fit", "--resume", "run"], needs=("fwd_run",),
     setup=both(copy_run("fwd_run"), lambda c: ((c.work / "run/checkpoint.pt").unlink(missing_ok=True),
                                                os.symlink("/dev/zero", c.work / "run/checkpoint.pt"))))
case("evaluate_max_images_negative", C, 2, ["evaluate", "run", "--max-images", "-1", "--no-attack", "--no-ood"],
     needs=("cls_run",), setup=copy_run("cls_run"))
case("evaluate_max_images_1", C, (0, 3), ["evaluate", "run", "--max-images", "1", "--no-attack", "--no-ood"],
     needs=("cls_run",), setup=copy_run("cls_run"), mutable=("run/evaluation.json",), note="one image: legal")
case("evaluate_eps_1e400", C, 2, ["evaluate", "run", "--eps", "1e400", "--no-ood"], needs=("cls_run",),
     setup=copy_run("cls_run"))
case("evaluate_attack_bogus", C, 2, ["evaluate", "run", "--attack", "bogus", "--no-ood"], needs=("cls_run",),
     setup=copy_run("cls_run"))
case("evaluate_out_is_file", C, 2, ["evaluate", "run", "--out", "notes.md", "--no-attack", "--no-ood"],
     needs=("cls_run",), setup=copy_run("cls_run"))
case("evaluate_weights_dev_zero", C, 2, ["evaluate", "run", "--no-attack", "--no-ood"], needs=("cls_run",),
     setup=both(copy_run("cls_run"), lambda c: [(p.unlink(), os.symlink("/dev/zero", p))
                                                for p in (c.work / "run").glob("*.pt")]))
case("evaluate_image_size_0", C, 2, ["evaluate", "run", "--dataset", "digits", "--image-size", "0", "--no-attack",
                                     "--no-ood"], needs=("cls_run",), setup=copy_run("cls_run"))
case("compare_symlinked_same_run", C, 2, ["compare", "a", "b"],
     setup=lambda c: (eval_json("a")(c), os.symlink("a", c.work / "b")))
case("compare_top1_above_1", C, 2, ["compare", "a", "b"],
     setup=lambda c: (eval_json("a")(c), eval_json("b", conditions=[{"name": "clean", "kind": "clean", "top1": 1.5,
                                                                      "top5": 1.0, "n": 360}])(c)),
     note="an accuracy of 150 %")
case("compare_100k_conditions", C, (0, 2), ["compare", "a", "b"],
     setup=lambda c: (eval_json("a")(c), eval_json("b", conditions=[
         {"name": f"c{i}", "kind": "ood", "top1": 0.5, "top5": 1.0, "n": 360} for i in range(100000)])(c)),
     note="7 MB evaluation.json (under MAX_JSON_BYTES): bounded in time")
case("readout_discover_run", C, 2, ["readout", "run"], needs=("disc_run",), setup=copy_run("disc_run"))
case("readout_images_0", C, 2, ["readout", "run", "--images", "0"], needs=("cls_run",), setup=copy_run("cls_run"))
case("readout_images_1e12", C, (0, 2, 3), ["readout", "run", "--images", str(10 ** 12)], needs=("cls_run",),
     setup=copy_run("cls_run"))
case("readout_missing", C, 2, ["readout", "nowhere"])

# ===== environment variables ======================================================================================
C = "oos:env"
case("env_grid_points_negative", C, 2, with_env({"PDELEARN_MAX_GRID_POINTS": "-5"}, *disc()), module=True,
     setup=copy_data())
case("env_grid_points_abc", C, 2, with_env({"PDELEARN_MAX_GRID_POINTS": "abc"}, *disc()), module=True,
     setup=copy_data())
case("env_library_terms_1", C, 2, with_env({"PDELEARN_MAX_LIBRARY_TERMS": "1"}, *disc()), module=True,
     setup=copy_data(), note="a lowered limit: refused, naming it")
case("env_yaml_bytes_inf", C, (0, 2), with_env({"PDELEARN_MAX_YAML_BYTES": "inf"}, "fit", "recipe.yaml", "--out",
                                               "run"), module=True, setup=yaml_recipe(FORWARD), out="run",
     check=exists("run/summary.json"))
case("env_world_size_no_master", C, 2, with_env({"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": None,
                                                  "MASTER_PORT": None}, "fit", "recipe.yaml", "--out", "run"),
     module=True, setup=yaml_recipe(FORWARD), note="torchrun's variables left in the shell, no torchrun")
case("env_world_size_peer_missing", C, (2, 3), with_env({"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1",
                                                          "MASTER_PORT": "29517"}, "fit", "recipe.yaml", "--out", "run"),
     module=True, setup=yaml_recipe(FORWARD), out="run", note="a rank whose peer never comes: bounded in time")
case("env_omp_abc", C, 0, with_env({"OMP_NUM_THREADS": "abc"}, *disc()), module=True, setup=copy_data(), out="run",
     check=says_burgers, note="control: a garbage OMP_NUM_THREADS")
case("env_tmpdir_missing", C, (0, 2), with_env({"TMPDIR": "/nonexistent/tmp"}, *disc()), module=True,
     setup=copy_data(), out="run", check=says_burgers)

# ===== the Python API =============================================================================================
C = "oos:api"
case("api_discover_inf_coord", C, 2, api("""
d = burgers(); x = d["x"].copy(); x[-1] = np.inf
print(pdelearn.discover({"u": d["u"]}, {"x": x, "t": d["t"]}).equation)"""), module=True)
case("api_parse_deep_parens", C, (0, 2), api("""
print(pdelearn.Equation.parse("u_t = " + "(" * 1500 + "u_xx" + ")" * 1500))"""), module=True)
case("api_parse_exp_tower", C, (0, 2), api("""
print(pdelearn.Equation.parse("u_t = " + "exp(" * 600 + "u" + ")" * 600))"""), module=True)
case("api_parse_none", C, 2, api("print(pdelearn.Equation.parse(None))"), module=True)
case("api_termlibrary_empty", C, 2, api("""
lib = pdelearn.TermLibrary([], fields=["u"], coords=["x"])
d = burgers()
print(pdelearn.discover({"u": d["u"]}, {"x": d["x"], "t": d["t"]}, library=lib).equation)"""), module=True)
case("api_load_equation_nested", C, 2, api("""
print(pdelearn.load_equation({"equation": {"lhs": "u_t", "terms": {"u_xx": 0.1}, "fields": ["u"]}}))"""), module=True)
case("api_load_equation_list", C, 2, api("print(pdelearn.load_equation([['u_t', 'u_xx', 0.1]]))"), module=True)
case("api_bootstrap_float", C, 2, api("""
d = burgers()
print(pdelearn.discover({"u": d["u"]}, {"x": d["x"], "t": d["t"]}, bootstrap=2.5).equation)"""), module=True)
case("api_weakform_negative", C, 2, api("""
d = burgers()
print(pdelearn.discover({"u": d["u"]}, {"x": d["x"], "t": d["t"]}, weak=pdelearn.WeakForm(radius=-1.0)).equation)"""),
     module=True, note="a negative test-function radius, given through the API")
case("api_regression_bogus", C, 2, api("print(pdelearn.SparseRegression(method='lasso'))"), module=True)
case("api_griddata_no_time", C, 2, api("""
d = burgers()
print(pdelearn.GridData({"u": d["u"]}, {"x": d["x"]}))"""), module=True)
case("api_polynomial_library_no_fields", C, 2, api("print(pdelearn.polynomial_library([], ['x'], max_power=2, max_order=2))"),
     module=True)

case("api_discover_memmap", C, 0, api("""
d = burgers()
m = np.memmap("u.raw", dtype=np.float64, mode="w+", shape=d["u"].shape); m[:] = d["u"]; m.flush(); del m
u = np.memmap("u.raw", dtype=np.float64, mode="r", shape=d["u"].shape)
print(pdelearn.discover({"u": u}, {"x": d["x"], "t": d["t"]}).equation)"""), module=True, mutable=("u.raw",),
     check=says_burgers, note="control: a read-only memmap field")

# ===== legitimate edge cases ======================================================================================
C = "oos:control"
case("ok_2d_heat", C, 0, disc("--layout", "xyt"), setup=heat_2d, out="run", check=says_terms({"u_xx": 0.1, "u_yy": 0.1}),
     note="a 2-D grid (x and y of equal length, so --layout is needed): u_t = 0.1 (u_xx + u_yy)")
case("ok_layout_explicit", C, 0, disc("--layout", "xt"), setup=copy_data(), out="run", check=says_burgers)
case("ok_layout_names_spaces", C, 0, disc("--layout", "x, t"), setup=copy_data(), out="run", check=says_burgers)
case("ok_data_uppercase_suffix", C, 0, disc(data="DATA.NPZ"), setup=copy_data("DATA.NPZ"), out="run",
     check=says_burgers)
case("ok_data_name_spaces_unicode", C, 0, disc(data="my d\u00e4ta (v2).npz", out="r\u00e9sultat 1"),
     setup=copy_data("my d\u00e4ta (v2).npz"), out="r\u00e9sultat 1", check=says_burgers)
case("ok_recipe_name_unicode", C, 0, ["fit", "my recipe \u00e9.yaml", "--out", "run"], out="run",
     setup=yaml_recipe(FORWARD, "my recipe \u00e9.yaml"), check=exists("run/summary.json"))
case("ok_export_relative_run", C, 0, ["export", "keep/../run", "--text"], needs=("disc_run",), setup=copy_run("disc_run"),
     check=stdout_has("u_xx"))


if __name__ == "__main__":
    sys.exit(hi.main())
