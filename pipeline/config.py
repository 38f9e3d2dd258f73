"""Build configuration: YAML files validated against a schema, merged onto defaults.

Every error is one line naming the file and the dotted key, e.g.
``hls4ml_configs/x.yaml: train.float.epochs: expected an integer >= 1, got -3``.

The schema below is the single source of truth for the keys: ``docs/config.md`` is generated from it
(``python -m pipeline.config --markdown``) and a test checks the two agree.
"""
from __future__ import annotations

import copy
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


# ---------------------------------------------------------------------------------------------------------------------
# schema nodes
@dataclass
class Leaf:
    kind: str  # int | float | bool | str | path | list | map
    default: Any = None
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    nullable: bool = False
    item: "Leaf | None" = None  # list items / map values
    length: int | None = None  # exact list length
    must_exist: bool = False  # path: must exist when set


@dataclass
class Section:
    keys: dict[str, "Leaf | Section"]
    help: str = ""
    defaults: dict = field(default_factory=dict)


def _int(default, help, min=None, max=None, nullable=False):
    return Leaf("int", default, help, min=min, max=max, nullable=nullable)


def _float(default, help, min=None, max=None, nullable=False):
    return Leaf("float", default, help, min=min, max=max, nullable=nullable)


def _choice(default, help, choices):
    return Leaf("str", default, help, choices=tuple(choices))


SCHEMA = Section(
    {
        "build_dir": Leaf("path", "build/default", "where every output of this build goes (relative to the working "
                          "directory)"),
        "seed": _int(1234, "global seed: data order, initialisation, sampling", min=0),
        "model": Section(
            {
                "input_shape": Leaf("list", [64, 64, 3], "H, W, C of the input image", length=3,
                                    item=Leaf("int", min=1, max=1024)),
                "num_classes": _int(21, "output classes (Pascal VOC: 21 incl. background)", min=2, max=32),
                "base_filters": _int(8, "filters of enc1; each level doubles", min=1, max=256),
                "depth": _int(4, "number of pooling levels (4: enc1..enc4 + bottleneck)", min=1, max=6),
                "width_multiplier": _float(1.0, "scales every level's filters (sweeps)", min=0.0625, max=8),
                "variant": _choice("w5a8", "which model is converted to hardware", ["w5a8", "float"]),
            },
            "U-Net architecture (defaults = the seed)",
        ),
        "quant": Section(
            {
                "weight_bits": _int(5, "bits of every conv / transposed-conv weight", min=2, max=16),
                "act_bits": _int(8, "bits of every activation (ReLU outputs, up-conv outputs, logits)", min=2, max=16),
                "input_bits": _int(8, "bits of the input pixels (unsigned, [0,1))", min=2, max=16),
                "bias_bits": _int(8, "bits of the head's bias", min=2, max=24),
                "bn_scale_bits": _int(8, "bits of the BatchNorm per-channel scale (power-of-two range per layer)",
                                      min=2, max=18),
                "bn_extra_frac": _int(4, "guard fractional bits of the BatchNorm result beyond the next ReLU's grid",
                                      min=0, max=12),
                "calibration_percentile": _float(99.9, "percentile of |values| that integer bits must hold", min=50,
                                                 max=100),
                "int_bits": Leaf("map", {}, "per-layer integer-bit overrides: layer name -> int (calibrated from "
                                 "the float model otherwise)", item=Leaf("int", min=-16, max=16)),
            },
            "W5A8 quantization",
        ),
        "data": Section(
            {
                "source": _choice("synthetic", "dataset: embedded synthetic, or Pascal VOC 2012 from disk",
                                  ["synthetic", "voc"]),
                "synthetic": Section(
                    {
                        "train": _int(1024, "training images", min=1),
                        "val": _int(128, "validation images", min=1),
                        "seed": _int(2012, "generator seed (the data set is a pure function of it)", min=0),
                    },
                    "embedded synthetic segmentation data",
                ),
                "voc": Section(
                    {
                        "root": Leaf("path", None, "VOC2012 directory (or VOCdevkit/, or the "
                                     "VOCtrainval_11-May-2012.tar file)", nullable=True, must_exist=True),
                        "max_train": _int(None, "use at most this many training images", min=1, nullable=True),
                        "max_val": _int(None, "use at most this many validation images", min=1, nullable=True),
                    },
                    "Pascal VOC 2012 (local copy)",
                ),
            },
            "training / validation data",
        ),
        "train": Section(
            {
                "float": Section(
                    {
                        "epochs": _int(8, "epochs", min=0),
                        "batch_size": _int(16, "batch size", min=1),
                        "optimizer": _choice("adam", "optimizer (the seed used sgd)", ["adam", "sgd"]),
                        "lr": _float(2e-3, "learning rate", min=0, max=10),
                        "momentum": _float(0.9, "SGD momentum", min=0, max=1),
                        "weight_decay": _float(1e-6, "L2 weight decay on kernels", min=0, max=1),
                        "lr_milestones": Leaf("list", [], "epochs at which lr is multiplied by lr_gamma",
                                              item=Leaf("int", min=1)),
                        "lr_gamma": _float(0.1, "lr decay factor at each milestone", min=0, max=1),
                    },
                    "float twin training",
                ),
                "qat": Section(
                    {
                        "init": _choice("float", "start QAT from the trained float weights, or from scratch",
                                        ["float", "scratch"]),
                        "epochs": _int(4, "epochs", min=0),
                        "batch_size": _int(16, "batch size", min=1),
                        "optimizer": _choice("adam", "optimizer", ["adam", "sgd"]),
                        "lr": _float(5e-4, "learning rate", min=0, max=10),
                        "momentum": _float(0.9, "SGD momentum", min=0, max=1),
                        "weight_decay": _float(1e-6, "L2 weight decay on kernels", min=0, max=1),
                        "lr_milestones": Leaf("list", [], "epochs at which lr is multiplied by lr_gamma",
                                              item=Leaf("int", min=1)),
                        "lr_gamma": _float(0.1, "lr decay factor at each milestone", min=0, max=1),
                    },
                    "W5A8 quantization-aware training",
                ),
                "verbose": _int(None, "Keras progress output: 0 silent, 1 progress bar, 2 one line per epoch "
                                "(default: 1 on a terminal, 2 otherwise)", min=0, max=2, nullable=True),
            },
            "training",
        ),
        "evaluate": Section(
            {
                "overlay_frames": _int(6, "validation frames drawn in overlays.png", min=0, max=64),
                "batch_size": _int(32, "inference batch size", min=1),
            },
            "evaluation",
        ),
        "hls": Section(
            {
                "backend": _choice("Vitis", "hls4ml backend", ["Vitis", "Vivado"]),
                "io_type": _choice("io_stream", "hls4ml io type (io_parallel does not fit memory for the full "
                                   "U-Net)", ["io_stream", "io_parallel"]),
                "strategy": _choice("Resource", "hls4ml strategy", ["Latency", "Resource"]),
                "reuse_factor": _int(16, "default ReuseFactor", min=1),
                "reuse_factors": Leaf("map", {}, "per-layer ReuseFactor: layer name -> int",
                                      item=Leaf("int", min=1)),
                "part": Leaf("str", "xc7z020clg400-1", "FPGA part (FSIC's PYNQ-Z2)"),
                "clock_period": _float(10.0, "clock period in ns", min=1, max=100),
                "output_head": _choice("argmax", "logits (21 x 8-bit per pixel) or argmax (one class index per "
                                       "pixel)", ["argmax", "logits"]),
                "fold_batchnorm": Leaf("bool", False, "fold BatchNorm into the preceding convolution"),
                "project_name": Leaf("str", "unet_fsic", "HLS top-level / project name"),
                "precision_overrides": Leaf("map", {}, "per-layer precision overrides: layer name -> {key: "
                                            "'ap_fixed<W,I>'}", item=Leaf("map", item=Leaf("str"))),
                "model_file": Leaf("path", None, "Keras model to convert (default: BUILD/train/w5a8_model.h5)",
                                   nullable=True),
            },
            "hls4ml conversion",
        ),
        "csim": Section(
            {
                "frames": _int(64, "validation frames compared Keras vs C simulation", min=1),
                "threshold": _float(1.0, "minimum fraction of bit-exact logits (1.0 = 100 %)", min=0, max=1),
                "workers": _int(None, "processes for the C simulation (default: number of cores)", min=1,
                                nullable=True),
            },
            "C simulation fidelity check",
        ),
        "cosim": Section(
            {
                "frames": _int(3, "frames through the RTL co-simulation", min=1),
                "simulators": Leaf("list", ["icarus", "verilator"], "open simulators to run",
                                   item=Leaf("str", choices=("icarus", "verilator"))),
                "ip_latency": _int(100, "cycles the simulated IP waits between its last input and first output",
                                   min=0),
            },
            "RTL co-simulation",
        ),
    },
    "unet-fsic build configuration",
)


# ---------------------------------------------------------------------------------------------------------------------
def defaults(node: Section = SCHEMA) -> dict:
    out = {}
    for k, v in node.keys.items():
        out[k] = defaults(v) if isinstance(v, Section) else copy.deepcopy(v.default)
    return out


def _describe(leaf: Leaf) -> str:
    names = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
             "path": "a path", "list": "a list", "map": "a mapping"}
    d = names[leaf.kind]
    if leaf.choices:
        d = "one of " + ", ".join(repr(c) for c in leaf.choices)
    if leaf.min is not None and leaf.max is not None:
        d += f" in [{leaf.min:g}, {leaf.max:g}]"
    elif leaf.min is not None:
        d += f" >= {leaf.min:g}"
    elif leaf.max is not None:
        d += f" <= {leaf.max:g}"
    if leaf.length:
        d += f" of {leaf.length} items"
    return d


class _Ctx:
    def __init__(self, file: str, base_dir: Path):
        self.file = file
        self.base_dir = base_dir

    def fail(self, key: str, msg: str):
        raise ConfigError(f"{self.file}: {key}: {msg}")


def _check_leaf(leaf: Leaf, value, key: str, ctx: _Ctx):
    if value is None:
        if leaf.nullable or leaf.default is None:
            return None
        ctx.fail(key, f"expected {_describe(leaf)}, got null")
    k = leaf.kind
    if k == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            ctx.fail(key, f"expected {_describe(leaf)}, got {value!r}")
    elif k == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            ctx.fail(key, f"expected {_describe(leaf)}, got {value!r}")
        value = float(value)
    elif k == "bool":
        if not isinstance(value, bool):
            ctx.fail(key, f"expected {_describe(leaf)}, got {value!r}")
    elif k in ("str", "path"):
        if not isinstance(value, str) or not value:
            ctx.fail(key, f"expected {_describe(leaf)}, got {value!r}")
    elif k == "list":
        if not isinstance(value, list):
            ctx.fail(key, f"expected {_describe(leaf)}, got {value!r}")
        if leaf.length is not None and len(value) != leaf.length:
            ctx.fail(key, f"expected {leaf.length} items, got {len(value)}")
        if leaf.item is not None:
            value = [_check_leaf(leaf.item, v, f"{key}[{i}]", ctx) for i, v in enumerate(value)]
    elif k == "map":
        if not isinstance(value, dict):
            ctx.fail(key, f"expected {_describe(leaf)}, got {value!r}")
        if leaf.item is not None:
            value = {str(mk): _check_leaf(leaf.item, mv, f"{key}.{mk}", ctx) for mk, mv in value.items()}
    if leaf.choices is not None and value not in leaf.choices:
        ctx.fail(key, f"expected {_describe(leaf)}, got {value!r}")
    if k in ("int", "float"):
        if leaf.min is not None and value < leaf.min or leaf.max is not None and value > leaf.max:
            ctx.fail(key, f"expected {_describe(leaf)}, got {value!r}")
    if k == "path":
        p = Path(os.path.expanduser(value))
        if leaf.must_exist:
            if not p.is_absolute():
                p = (ctx.base_dir / p)
            if not p.exists():
                ctx.fail(key, f"no such file or directory: {value}")
            value = str(p)
    return value


def _merge(node: Section, user, prefix: str, ctx: _Ctx, out: dict):
    if user is None:
        user = {}
    if not isinstance(user, dict):
        ctx.fail(prefix or "(top level)", f"expected a mapping, got {user!r}")
    for k, v in user.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in node.keys:
            close = difflib.get_close_matches(str(k), list(node.keys), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            ctx.fail(key, f"unknown key{hint}")
        spec = node.keys[k]
        if isinstance(spec, Section):
            _merge(spec, v, key, ctx, out[k])
        else:
            out[k] = _check_leaf(spec, v, key, ctx)


def _cross_checks(cfg: dict, ctx: _Ctx):
    h, w, _ = cfg["model"]["input_shape"]
    d = cfg["model"]["depth"]
    if h % (2**d) or w % (2**d):
        ctx.fail("model.input_shape", f"H and W must be divisible by 2**depth = {2**d}, got {h}x{w}")
    if cfg["data"]["source"] == "voc" and not cfg["data"]["voc"]["root"]:
        ctx.fail("data.voc.root", "required when data.source is 'voc'")


def validate(user: dict, file: str = "<config>", base_dir: Path | None = None) -> dict:
    ctx = _Ctx(file, Path(base_dir or "."))
    cfg = defaults()
    _merge(SCHEMA, user, "", ctx, cfg)
    _cross_checks(cfg, ctx)
    return cfg


def load_config(path: str | os.PathLike, overrides: dict | None = None) -> dict:
    """Load and validate a YAML build config. Relative data paths resolve against the config file's directory
    (then the working directory); ``build_dir`` resolves against the working directory."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        user = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    if user is None:
        user = {}
    if overrides:
        user = deep_update(user, overrides)
    cfg = validate(user, str(path), base_dir=_data_base(p, user))
    cfg["_config_file"] = str(p)
    return cfg


def _data_base(p: Path, user) -> Path:
    """Relative dataset paths: the config's directory if the path exists there, else the working directory."""
    try:
        root = user["data"]["voc"]["root"]
    except (KeyError, TypeError):
        return Path(".")
    if isinstance(root, str) and (p.parent / root).exists():
        return p.parent
    return Path(".")


def deep_update(base: dict, upd: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in upd.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_update(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def public(cfg: dict) -> dict:
    """The config without private (``_``-prefixed) keys: what gets hashed and written to reports."""
    return {k: v for k, v in cfg.items() if not k.startswith("_")}


def to_markdown(node: Section = SCHEMA, prefix: str = "") -> str:
    lines = []
    if not prefix:
        lines += ["# Build configuration reference", "",
                  "Generated from the schema in `pipeline/config.py` (`python -m pipeline.config --markdown`).",
                  "Unknown keys, wrong types and out-of-range values are refused with one line naming the key.", "",
                  "| key | default | allowed | meaning |", "|---|---|---|---|"]
    for k, v in node.keys.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, Section):
            lines.append(f"| **{key}** | | | {v.help} |")
            lines.append(to_markdown(v, key))
        else:
            lines.append(f"| `{key}` | `{yaml.safe_dump(v.default, default_flow_style=True).strip()}` | "
                         f"{_describe(v)} | {v.help} |")
    return "\n".join(line for line in lines if line)


if __name__ == "__main__":  # pragma: no cover
    import sys

    if "--markdown" in sys.argv:
        print(to_markdown())
