"""Build configuration: YAML files validated against a schema, merged onto defaults.

Every error is one line naming the file and the dotted key, e.g.
``hls4ml_configs/x.yaml: train.float.epochs: expected an integer >= 1, got -3``.

Hardening (issue #12): the file is read with a size cap, must be UTF-8, and is parsed by a loader that refuses YAML
anchors / aliases / merge keys (nothing is ever expanded), duplicate keys and absurd nesting; every number has a
finite range, names that reach generated files are identifiers, ``hls.part`` must be a known part, and ``build_dir``
may hold no shell / make metacharacters. Values echoed in messages are cut at ~200 characters.

The schema below is the single source of truth for the keys: ``docs/config.md`` is generated from it
(``python -m pipeline.config --markdown``) and a test checks the two agree.
"""
from __future__ import annotations

import copy
import difflib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .hw.parts import PARTS, part_capacity

MAX_FILE_BYTES = 256 * 1024  # a build config / sweep spec is a few KiB
MAX_YAML_NODES = 10000  # scalars + lists + mappings in one file
MAX_YAML_DEPTH = 16  # nesting levels (the schema needs 4)
MAX_NUMBER_CHARS = 100  # characters of one YAML number
MAX_SHOWN = 200  # characters of a value echoed in an error message
MAX_NAME = 64  # characters of a name that reaches generated files
MAX_COUNT = 100_000  # images / frames
MAX_EPOCHS = 10_000
MAX_BATCH = 4096
MAX_RF = 2**20
MAX_SEED = 2**32 - 1  # numpy / TF seeds are 32-bit
MAX_ENTRIES = 256  # per-layer maps (the full U-Net has ~60 layers)
MAX_DATA_BYTES = 2 * 2**30  # synthetic images held in memory as uint8 (x4 as float32 model input)
# class count of each data source: keras_model.synthetic.NUM_CLASSES and len(keras_model.voc.CLASSES) (not imported
# here: keras_model pulls in TensorFlow; tests/test_config_hardening.py checks they agree)
DATA_CLASSES = {"synthetic": 21, "voc": 21}
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_IDENT_RE = re.compile(IDENT)
_PART_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_HLS_TYPE_RE = re.compile(r"ap_(?:u?fixed|u?int)<[A-Za-z0-9_, -]*>")
_BUILD_DIR_CHARS = frozenset("._-+,@/")
_SYSTEM_DIRS = ("/proc", "/sys", "/dev")


# ---------------------------------------------------------------------------------------------------------------------
# schema nodes
@dataclass
class Leaf:
    kind: str  # int | float | bool | str | path | list | map
    default: Any = None
    help: str = ""
    min: float | None = None
    max: float | None = None
    cap: int | None = None  # sanity upper bound of an otherwise open range (issue #12: no absurd sizes)
    choices: tuple | None = None
    nullable: bool = False
    item: "Leaf | None" = None  # list items / map values
    length: int | None = None  # exact list length
    must_exist: bool = False  # path: must exist when set
    max_items: int | None = None  # list / map: at most this many items
    pattern: "tuple[re.Pattern, str] | None" = None  # str: must fullmatch; (regex, description)
    key_pattern: "tuple[re.Pattern, str] | None" = None  # map: every key must fullmatch
    check: "Any" = None  # extra check fn(value) -> error message or None
    also: tuple = ()  # int / float leaves: these strings are accepted too (e.g. 'auto')
    note: str = ""  # appended to the description of what is allowed


@dataclass
class Section:
    keys: dict[str, "Leaf | Section"]
    help: str = ""
    defaults: dict = field(default_factory=dict)


def _int(default, help, min=None, max=None, nullable=False, cap=None):
    return Leaf("int", default, help, min=min, max=max, nullable=nullable, cap=cap)


def _float(default, help, min=None, max=None, nullable=False):
    return Leaf("float", default, help, min=min, max=max, nullable=nullable)


def _choice(default, help, choices):
    return Leaf("str", default, help, choices=tuple(choices))


def _name(default, help):
    """A name that reaches generated files (C++, Tcl, shell scripts, file names): an identifier."""
    return Leaf("str", default, help, pattern=(_IDENT_RE, f"matching `{IDENT}`, at most {MAX_NAME} characters"))


def _layer_map(help, item):
    return Leaf("map", {}, help, item=item, max_items=MAX_ENTRIES,
                key_pattern=(_IDENT_RE, f"layer names matching `{IDENT}`"))


def _part_error(value: str) -> str | None:
    """``hls.part`` must name a part of the capacity table (prefix match, as ``pipeline.hw.parts.part_capacity``)."""
    known = ", ".join(f"{k}*" for k in PARTS)
    if not _PART_RE.fullmatch(value) or len(value) > MAX_NAME:
        return f"not a part name (letters, digits, '-', '_', '.'; known: {known}), got {short(value)}"
    p = value.lower().replace("-", "")
    if not any(p.startswith(k) for k in PARTS):
        return f"unknown FPGA part {short(value)} (known: {known})"
    return None


SCHEMA = Section(
    {
        "build_dir": Leaf("path", "build/default", "where every output of this build goes (relative to the working "
                          "directory); it reaches make and shell commands, so only letters, digits and `. _ - + , @ /` "
                          "(no leading `-`), not an existing file, not under /proc, /sys or /dev"),
        "seed": _int(1234, "global seed: data order, initialisation, sampling", min=0, cap=MAX_SEED),
        "model": Section(
            {
                "input_shape": Leaf("list", [64, 64, 3], "H, W, C of the input image (C must be 3: RGB; H and W "
                                    "divisible by 2**depth)", length=3, item=Leaf("int", min=1, max=1024)),
                "num_classes": _int(21, "output classes (Pascal VOC: 21 incl. background); must equal the data "
                                    "source's class count (21 for synthetic and voc)", min=2, max=32),
                "base_filters": _int(8, "filters of enc1; each level doubles", min=1, max=256),
                "depth": _int(4, "number of pooling levels (4: enc1..enc4 + bottleneck)", min=1, max=6),
                "width_multiplier": _float(1.0, "scales every level's filters (sweeps)", min=0.0625, max=8),
                "min_filters": _int(8, "a width multiplier below 1 takes no level below min(this, the unscaled "
                                    "count) (narrower first levels did not train: BENCHMARKS.md, issue #13)", min=1,
                                    max=256),
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
                "int_bits": _layer_map("per-layer integer-bit overrides: layer name -> int (calibrated from "
                                       "the float model otherwise)", Leaf("int", min=-16, max=16)),
            },
            "W5A8 quantization",
        ),
        "data": Section(
            {
                "source": _choice("synthetic", "dataset: embedded synthetic, or Pascal VOC 2012 from disk",
                                  ["synthetic", "voc"]),
                "synthetic": Section(
                    {
                        "train": _int(1024, "training images (train + val images are held in memory: at most "
                                      "2 GiB as uint8)", min=1, cap=MAX_COUNT),
                        "val": _int(128, "validation images", min=1, cap=MAX_COUNT),
                        "seed": _int(2012, "generator seed (the data set is a pure function of it)", min=0,
                                     cap=MAX_SEED),
                    },
                    "embedded synthetic segmentation data",
                ),
                "voc": Section(
                    {
                        "root": Leaf("path", None, "VOC2012 directory (or VOCdevkit/, or the "
                                     "VOCtrainval_11-May-2012.tar file)", nullable=True, must_exist=True),
                        "max_train": _int(None, "use at most this many training images", min=1, cap=MAX_COUNT,
                                          nullable=True),
                        "max_val": _int(None, "use at most this many validation images", min=1, cap=MAX_COUNT,
                                        nullable=True),
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
                        "epochs": _int(8, "epochs", min=0, cap=MAX_EPOCHS),
                        "batch_size": _int(16, "batch size", min=1, cap=MAX_BATCH),
                        "optimizer": _choice("adam", "optimizer (the seed used sgd)", ["adam", "sgd"]),
                        "lr": _float(2e-3, "learning rate", min=0, max=10),
                        "momentum": _float(0.9, "SGD momentum", min=0, max=1),
                        "weight_decay": _float(1e-6, "L2 weight decay on kernels", min=0, max=1),
                        "lr_milestones": Leaf("list", [], "epochs at which lr is multiplied by lr_gamma",
                                              item=Leaf("int", min=1, cap=MAX_EPOCHS), max_items=64),
                        "lr_gamma": _float(0.1, "lr decay factor at each milestone", min=0, max=1),
                    },
                    "float twin training",
                ),
                "qat": Section(
                    {
                        "init": _choice("float", "start QAT from the trained float weights, or from scratch",
                                        ["float", "scratch"]),
                        "epochs": _int(4, "epochs", min=0, cap=MAX_EPOCHS),
                        "batch_size": _int(16, "batch size", min=1, cap=MAX_BATCH),
                        "optimizer": _choice("adam", "optimizer", ["adam", "sgd"]),
                        "lr": _float(5e-4, "learning rate", min=0, max=10),
                        "momentum": _float(0.9, "SGD momentum", min=0, max=1),
                        "weight_decay": _float(1e-6, "L2 weight decay on kernels", min=0, max=1),
                        "lr_milestones": Leaf("list", [], "epochs at which lr is multiplied by lr_gamma",
                                              item=Leaf("int", min=1, cap=MAX_EPOCHS), max_items=64),
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
                "batch_size": _int(32, "inference batch size", min=1, cap=MAX_BATCH),
            },
            "evaluation",
        ),
        "hls": Section(
            {
                "backend": _choice("Vitis", "hls4ml backend", ["Vitis", "Vivado"]),
                "io_type": _choice("io_stream", "hls4ml io type (io_parallel does not fit memory for the full "
                                   "U-Net)", ["io_stream", "io_parallel"]),
                "strategy": _choice("Resource", "hls4ml strategy", ["Latency", "Resource"]),
                "reuse_factor": Leaf("int", 16, "default ReuseFactor; 'auto': per-layer RFs chosen by the estimator "
                                     "for `target.frame_interval_*` (or, unset, the fastest frame interval that fits "
                                     "USER_PRJ0's budget; docs/budget.md#auto)", min=1, cap=MAX_RF,
                                     also=("auto",)),
                "reuse_factors": _layer_map("per-layer ReuseFactor: layer name -> int", Leaf("int", min=1, cap=MAX_RF)),
                "multiplier_binding": _choice("auto", "where the conv / transposed-conv multiplies go: 'lut' (LUT "
                                              "fabric), 'dsp' (DSP48), or 'auto' (the estimator puts the layers that "
                                              "save the most LUTs per DSP on DSPs within USER_PRJ0's DSP budget; "
                                              "docs/hls.md#multiplier-binding)", ["auto", "lut", "dsp"]),
                "multiplier_bindings": _layer_map("per-layer multiplier binding: layer name -> 'lut' | 'dsp' (wins "
                                                  "over hls.multiplier_binding)",
                                                  Leaf("str", choices=("lut", "dsp"))),
                "part": Leaf("str", "xc7z020clg400-1", "FPGA part (FSIC's PYNQ-Z2); must start with a part of the "
                             "estimator's table (`pipeline/hw/parts.py`)", check=_part_error,
                             note=": a part of " + ", ".join(f"{k}*" for k in PARTS)),
                "clock_period": _float(10.0, "clock period in ns", min=1, max=100),
                "output_head": _choice("argmax", "logits (21 x 8-bit per pixel) or argmax (one class index per "
                                       "pixel)", ["argmax", "logits"]),
                "fold_batchnorm": Leaf("bool", False, "fold BatchNorm into the preceding convolution"),
                "fuse_conv_blocks": Leaf("bool", True, "fuse every Conv2D / transposed conv -> BatchNorm -> ReLU "
                                         "chain into one dataflow process (docs/hls.md, issue #14)"),
                "fifo_depths": _choice("sized", "STREAM depths written into the generated project: 'sized' (the "
                                       "estimate's: 2, the skip FIFOs their simulated occupancy + "
                                       "fifo_margin_rows rows, at most a feature map; docs/hls.md#fifo-depths) or "
                                       "'hls4ml' (a full feature map each)", ["sized", "hls4ml"]),
                "fifo_margin_rows": _int(1, "feature-map rows added to every sized skip FIFO", min=0, max=64),
                "project_name": _name("unet_fsic", "HLS top-level / project name (used in generated C++, Tcl and "
                                      "shell scripts and file names)"),
                "precision_overrides": _layer_map(
                    "per-layer precision overrides: layer name -> {key: 'ap_fixed<W,I>'}",
                    Leaf("map", item=Leaf("str", pattern=(_HLS_TYPE_RE, "that is an ap_fixed / ap_ufixed / ap_int / "
                                                          "ap_uint type")),
                         max_items=8, key_pattern=(_IDENT_RE, "precision keys"))),
                "model_file": Leaf("path", None, "Keras model to convert (default: BUILD/train/w5a8_model.h5)",
                                   nullable=True),
            },
            "hls4ml conversion",
        ),
        "target": Section(
            {
                "reserved": Section(
                    {
                        "LUT": _int(14200, "LUTs the platform takes", min=0, cap=10**7),
                        "FF": _int(14800, "flip-flops the platform takes", min=0, cap=10**7),
                        "BRAM36": _float(6.5, "36 Kb block RAMs the platform takes", min=0, max=10**5),
                        "DSP": _int(0, "DSP slices the platform takes", min=0, cap=10**5),
                    },
                    "area of `hls.part` taken by everything but the IP (default: FSIC's platform on the PYNQ-Z2, "
                    "measured; docs/budget.md). USER_PRJ0's budget = capacity x max_utilization - reserved",
                ),
                "max_utilization": _float(1.0, "fraction of each resource of the part the whole chip may use (0.8 "
                                          "leaves room for routing: ~28k LUT for USER_PRJ0 on the xc7z020)",
                                          min=0.05, max=1.0),
                "bus_clock_mhz": _float(5.0, "FSIC's axis_clk / axi_clk in MHz (5 in FSIC's reference PYNQ-Z2 "
                                        "build): the stream time per frame is given at this clock", min=0.01,
                                        max=1000),
                "ip_clock": _choice("axis_clk", "the clock the IP computes on: 'axis_clk' (the bus clock, as FSIC "
                                    "builds USER_PRJ0 by default) or 'user_clock2' (its own clock at user_clock2_mhz: "
                                    "`wrap` generates the two-clock wrapper, async FIFOs + synchronisers; "
                                    "fsic_wrapper/README.md \"Two clocks\")",
                                    ["axis_clk", "user_clock2"]),
                "user_clock2_mhz": _float(100.0, "user_clock2 in MHz when ip_clock is 'user_clock2' (at most "
                                          "1000 / hls.clock_period)", min=0.01, max=1000),
                "frame_interval_ms": _float(None, "frame-interval target for hls.reuse_factor 'auto', in ms at the "
                                            "IP clock (null, and frame_interval_cycles null: the fastest that fits)",
                                            min=1e-6, max=1e6, nullable=True),
                "frame_interval_cycles": _int(None, "the same target in IP clock cycles (set at most one of the two)",
                                              min=1, cap=10**10, nullable=True),
                "fit_at": _choice("nominal", "what 'fits' means for hls.reuse_factor 'auto' without a target: the "
                                  "nominal estimate, or its upper error bound (nominal x (1 + expected error))",
                                  ["nominal", "upper"]),
            },
            "where the IP goes: FSIC's USER_PRJ0 budget and clocks (issue #13; docs/budget.md)",
        ),
        "csim": Section(
            {
                "frames": _int(64, "validation frames compared Keras vs C simulation", min=1, cap=MAX_COUNT),
                "threshold": _float(1.0, "minimum fraction of bit-exact logits (1.0 = 100 %)", min=0, max=1),
                "workers": _int(None, "processes for the C simulation (default: number of cores)", min=1, cap=256,
                                nullable=True),
            },
            "C simulation fidelity check",
        ),
        "cosim": Section(
            {
                "frames": _int(3, "frames through the RTL co-simulation", min=1, cap=1000),
                "simulators": Leaf("list", ["icarus", "verilator"], "open simulators to run",
                                   item=Leaf("str", choices=("icarus", "verilator")), max_items=2),
                "ip_latency": _int(100, "cycles the simulated IP waits between its last input and first output",
                                   min=0, cap=10**6),
            },
            "RTL co-simulation",
        ),
        "fsic": Section(
            {
                "high_pri_req": Leaf("bool", False, "drive High_pri_req as FSIC's upstream priority request for each "
                                     "output frame (high from before its first word until its tlast); false: "
                                     "constant 0. Never an interrupt (fsic_wrapper/README.md#high_pri_req)"),
                "in_stall_limit": _int(4096, "reset value of the wrapper's STALL_LIMIT register: cycles ss_tvalid may "
                                       "wait on a full input buffer before the frame is dropped (ERR.DROP), so FSIC's "
                                       "shared link is never held longer; 0 = no watchdog", min=0, max=65535),
                "in_framing": _choice("frame", "input stream framing: 'frame' = ss_tlast on a frame's last word; "
                                      "'line' = FSIC's example convention, ss_tlast at the end of every line (one "
                                      "image row, ceil(W*C/4) words), frame start from ss_tupsb sof, ss_tkeep 0000 = "
                                      "all valid (fsic_wrapper/README.md#framing)", ["frame", "line"]),
                "out_framing": _choice("frame", "output stream framing: 'frame' = sm_tlast on a frame's last word "
                                       "only; 'line' = sm_tlast at the end of every output line and sm_tupsb = "
                                       "{eol, sof} (fsic_wrapper/README.md#framing)", ["frame", "line"]),
            },
            "the USER_PRJ0 wrapper inside FSIC (issue #15; fsic_wrapper/README.md)",
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


def short(value, limit: int = MAX_SHOWN) -> str:
    """``repr(value)`` cut to ``limit`` characters ("..." and the full length when cut): error lines stay short."""
    try:
        r = repr(value)
    except ValueError:  # an int of more than 4300 digits has no repr (sys.get_int_max_str_digits)
        return f"an integer of {value.bit_length()} bits"
    return r if len(r) <= limit else f"{r[:limit]}... ({len(r)} characters)"


def oneline(text, limit: int = MAX_SHOWN) -> str:
    """A key or file name for an error line: one line, at most ``limit`` characters."""
    t = str(text)
    if not t.isprintable():
        t = repr(t)[1:-1]
    return t if len(t) <= limit else f"{t[:limit]}... ({len(t)} characters)"


def _num(x) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _describe(leaf: Leaf, docs: bool = False) -> str:
    """What ``leaf`` accepts; ``docs``: also its sanity cap (error messages name the cap only when it is hit)."""
    names = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
             "path": "a path", "list": "a list", "map": "a mapping"}
    d = names[leaf.kind]
    if leaf.choices:
        d = "one of " + ", ".join(repr(c) for c in leaf.choices)
    if leaf.min is not None and leaf.max is not None:
        d += f" in [{_num(leaf.min)}, {_num(leaf.max)}]"
    elif leaf.min is not None:
        d += f" >= {_num(leaf.min)}"
    elif leaf.max is not None:
        d += f" <= {_num(leaf.max)}"
    if leaf.length:
        d += f" of {leaf.length} items"
    if leaf.max_items:
        d += f" of at most {leaf.max_items} items"
    if leaf.pattern:
        d += f" {leaf.pattern[1]}"
    if leaf.key_pattern:
        d += f" (keys: {leaf.key_pattern[1]})"
    if leaf.kind == "list" and leaf.item is not None:
        d += f", each {_describe(leaf.item, docs)}"
    if docs and leaf.cap is not None:
        d += f", at most {leaf.cap}"
    if leaf.also:
        d += " or " + " or ".join(repr(a) for a in leaf.also)
    return d + leaf.note


class _Ctx:
    def __init__(self, file: str, base_dir: Path):
        self.file = oneline(file)
        self.base_dir = base_dir

    def fail(self, key: str, msg: str):
        raise ConfigError(f"{self.file}: {oneline(key)}: {msg}")


def _check_number(leaf: Leaf, value, key: str, ctx: _Ctx):
    """int / float leaves: the type, finite, in range (compared before any float() so a huge int cannot overflow)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (leaf.kind == "int"
                                                                          and not isinstance(value, int)):
        ctx.fail(key, f"expected {_describe(leaf)}, got {short(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        ctx.fail(key, f"expected {_describe(leaf)}, got {value!r} (not a finite number)")
    if leaf.min is not None and value < leaf.min or leaf.max is not None and value > leaf.max:
        ctx.fail(key, f"expected {_describe(leaf)}, got {short(value)}")
    if leaf.cap is not None and value > leaf.cap:
        ctx.fail(key, f"expected {_describe(leaf)} and at most {leaf.cap}, got {short(value)}")
    return float(value) if leaf.kind == "float" else value


def _check_str(leaf: Leaf, value, key: str, ctx: _Ctx):
    if not isinstance(value, str) or not value:
        ctx.fail(key, f"expected {_describe(leaf)}, got {short(value)}")
    if leaf.pattern and (len(value) > MAX_NAME or not leaf.pattern[0].fullmatch(value)):
        ctx.fail(key, f"expected {_describe(leaf)}, got {short(value)}")
    if leaf.check is not None:
        err = leaf.check(value)
        if err:
            ctx.fail(key, err)
    return value


def _check_container(leaf: Leaf, value, key: str, ctx: _Ctx):
    want = list if leaf.kind == "list" else dict
    if not isinstance(value, want):
        ctx.fail(key, f"expected {_describe(leaf)}, got {short(value)}")
    if leaf.length is not None and len(value) != leaf.length:
        ctx.fail(key, f"expected {leaf.length} items, got {len(value)}")
    if leaf.max_items is not None and len(value) > leaf.max_items:
        ctx.fail(key, f"expected at most {leaf.max_items} items, got {len(value)}")
    if want is list:
        if leaf.item is not None:
            value = [_check_leaf(leaf.item, v, f"{key}[{i}]", ctx) for i, v in enumerate(value)]
        return value
    if leaf.key_pattern:
        for mk in value:
            if not isinstance(mk, str) or len(mk) > MAX_NAME or not leaf.key_pattern[0].fullmatch(mk):
                ctx.fail(f"{key}.{mk}", f"expected {leaf.key_pattern[1]}, got key {short(mk)}")
    if leaf.item is not None:
        value = {str(mk): _check_leaf(leaf.item, mv, f"{key}.{mk}", ctx) for mk, mv in value.items()}
    return value


def _check_leaf(leaf: Leaf, value, key: str, ctx: _Ctx):
    if isinstance(value, str) and value in leaf.also:
        return value
    if value is None:
        if leaf.nullable or leaf.default is None:
            return None
        ctx.fail(key, f"expected {_describe(leaf)}, got null")
    k = leaf.kind
    if k in ("int", "float"):
        value = _check_number(leaf, value, key, ctx)
    elif k == "bool":
        if not isinstance(value, bool):
            ctx.fail(key, f"expected {_describe(leaf)}, got {short(value)}")
    elif k in ("str", "path"):
        value = _check_str(leaf, value, key, ctx)
    elif k in ("list", "map"):
        value = _check_container(leaf, value, key, ctx)
    if leaf.choices is not None and value not in leaf.choices:
        ctx.fail(key, f"expected {_describe(leaf)}, got {short(value)}")
    if k == "path":
        if "\0" in value:
            ctx.fail(key, f"a path cannot contain a NUL character, got {short(value)}")
        p = Path(os.path.expanduser(value))
        if leaf.must_exist:
            if not p.is_absolute():
                p = (ctx.base_dir / p)
            if not p.exists():
                ctx.fail(key, f"no such file or directory: {oneline(value)}")
            value = str(p)
    return value


def _merge(node: Section, user, prefix: str, ctx: _Ctx, out: dict):
    if user is None:
        user = {}
    if not isinstance(user, dict):
        ctx.fail(prefix or "(top level)", f"expected a mapping, got {short(user)}")
    for k, v in user.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in node.keys:
            close = difflib.get_close_matches(str(k), list(node.keys), n=1) if len(str(k)) <= MAX_NAME else []
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            ctx.fail(key, f"unknown key{hint}")
        spec = node.keys[k]
        if isinstance(spec, Section):
            _merge(spec, v, key, ctx, out[k])
        else:
            out[k] = _check_leaf(spec, v, key, ctx)


def _cross_checks(cfg: dict, ctx: _Ctx):
    h, w, c = cfg["model"]["input_shape"]
    d = cfg["model"]["depth"]
    if c != 3:
        ctx.fail("model.input_shape", f"C must be 3 (the images are RGB), got {c}")
    if h % (2**d) or w % (2**d):
        ctx.fail("model.input_shape", f"H and W must be divisible by 2**depth = {2**d}, got {h}x{w}")
    if cfg["data"]["source"] == "voc" and not cfg["data"]["voc"]["root"]:
        ctx.fail("data.voc.root", "required when data.source is 'voc'")
    s = cfg["data"]["synthetic"]
    if cfg["data"]["source"] == "synthetic" and (s["train"] + s["val"]) * h * w * c > MAX_DATA_BYTES:
        gib = (s["train"] + s["val"]) * h * w * c / 2**30
        ctx.fail("data.synthetic.train", f"{s['train']} + {s['val']} images of {h}x{w}x{c} are {gib:.1f} GiB as "
                 f"uint8, at most {MAX_DATA_BYTES // 2**30} GiB")


def _target_checks(cfg: dict, ctx: _Ctx):
    """The USER_PRJ0 budget must be positive, the IP clock no faster than the clock HLS schedules for, and at most
    one frame-interval target."""
    t = cfg["target"]
    cap = part_capacity(cfg["hls"]["part"])
    for k, v in t["reserved"].items():
        share = cap[k] * t["max_utilization"]
        if v > 0 and v >= share:
            ctx.fail(f"target.reserved.{k}", f"{_num(v)} leaves nothing for the IP: {cfg['hls']['part']} has "
                     f"{_num(cap[k])} {k}, x max_utilization {_num(t['max_utilization'])} = {_num(share)}")
    f_hls = 1000.0 / cfg["hls"]["clock_period"]
    f_ip = t["bus_clock_mhz"] if t["ip_clock"] == "axis_clk" else t["user_clock2_mhz"]
    if f_ip > f_hls * (1 + 1e-9):
        key = "target.bus_clock_mhz" if t["ip_clock"] == "axis_clk" else "target.user_clock2_mhz"
        ctx.fail(key, f"the IP would run at {_num(f_ip)} MHz, faster than the {_num(round(f_hls, 3))} MHz "
                 f"hls.clock_period ({_num(cfg['hls']['clock_period'])} ns) it is scheduled for")
    if t["frame_interval_ms"] is not None and t["frame_interval_cycles"] is not None:
        ctx.fail("target.frame_interval_cycles", "set either frame_interval_ms or frame_interval_cycles, not both")


def validate(user: dict, file: str = "<config>", base_dir: Path | None = None) -> dict:
    ctx = _Ctx(file, Path(base_dir or "."))
    cfg = defaults()
    _merge(SCHEMA, user, "", ctx, cfg)
    _cross_checks(cfg, ctx)
    _target_checks(cfg, ctx)
    return cfg


def check_build(cfg: dict, file: str = "<config>", build_dir_key: str = "build_dir") -> None:
    """The checks of a config that is about to be *built* (``load_config``, every sweep point), beyond
    :func:`validate` (which also accepts model-only configs, e.g. other class counts for unit tests): the model's
    class count matches the data, and ``build_dir`` is safe to hand to make and the shell."""
    ctx = _Ctx(file, Path("."))
    src, n = cfg["data"]["source"], cfg["model"]["num_classes"]
    if n != DATA_CLASSES[src]:
        ctx.fail("model.num_classes", f"must be {DATA_CLASSES[src]} for data.source '{src}' (its class count), "
                 f"got {n}")
    check_build_dir(cfg["build_dir"], file, build_dir_key)


def check_build_dir(value, file: str = "<config>", key: str = "build_dir") -> None:
    """One line if ``value`` cannot be a build directory: shell / make metacharacters or whitespace (it reaches
    ``make BUILD=...``, generated scripts and Verilator's make), a leading '-', an existing non-directory on the
    way, or a place under /proc, /sys, /dev."""
    ctx = _Ctx(file, Path("."))
    if not isinstance(value, str) or not value:
        ctx.fail(key, f"expected a path, got {short(value)}")
    bad = next((ch for ch in value if not (ch.isalnum() or ch in _BUILD_DIR_CHARS)), None)
    if bad is not None:
        ctx.fail(key, f"character {bad!r} is not allowed in a build directory (it reaches make and shell commands; "
                 f"use letters, digits and . _ - + , @ /), got {short(value)}")
    if value.startswith("-"):
        ctx.fail(key, f"a build directory must not start with '-', got {short(value)}")
    try:
        real = Path(os.path.realpath(value))
    except (OSError, RuntimeError) as e:
        ctx.fail(key, f"cannot resolve {short(value)} ({e})")
    for cand in {Path(os.path.abspath(value)), real}:
        for sysdir in _SYSTEM_DIRS:
            if cand == Path(sysdir) or cand.is_relative_to(sysdir):
                ctx.fail(key, f"{short(value)} is under {sysdir}: not a place for build outputs")
    for anc in (real, *real.parents):
        if anc.exists() or anc.is_symlink():
            if not anc.is_dir():
                what = "is an existing file" if anc == real else f"is under {short(str(anc))}, an existing file"
                ctx.fail(key, f"{short(value)} {what}, not a directory")
            break


def load_config(path: str | os.PathLike, overrides: dict | None = None) -> dict:
    """Load and validate a YAML build config. Relative data paths resolve against the config file's directory
    (then the working directory); ``build_dir`` resolves against the working directory."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{oneline(path)}: no such config file")
    user = load_yaml(p, "config file")
    if user is None:
        user = {}
    if overrides:
        if not isinstance(user, dict):
            raise ConfigError(f"{oneline(path)}: (top level): expected a mapping, got {short(user)}")
        user = deep_update(user, overrides)
    cfg = validate(user, str(path), base_dir=_data_base(p, user))
    from_override = bool(overrides) and "build_dir" in overrides
    check_build(cfg, str(path), "build_dir (override)" if from_override else "build_dir")
    cfg["_config_file"] = str(p)
    return cfg


# ---------------------------------------------------------------------------------------------------------------------
# reading YAML: size cap, UTF-8, and a loader that never expands anything
class _Refused(Exception):
    def __init__(self, key: str, msg: str):
        super().__init__(msg)
        self.key, self.msg = key, msg


def _join(path: list[str]) -> str:
    out = ""
    for seg in path:
        out += seg if seg.startswith("[") or not out else "." + seg
    return out or "(top level)"


def _where(mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses anchors, aliases and merge keys (so nothing is ever expanded: no alias
    bombs), duplicate keys (no silent last-wins), more than ``MAX_YAML_NODES`` values and nesting deeper than
    ``MAX_YAML_DEPTH``. Refusals name the dotted key and the line."""

    def __init__(self, stream):
        super().__init__(stream)
        self._path: list[str] = []
        self._count = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if parent is None:
            seg = ""
        elif isinstance(index, int):
            seg = f"[{index}]"
        elif isinstance(index, yaml.ScalarNode):
            seg = oneline(index.value, 60)
        else:
            seg = "(key)"
        key = _join([s for s in self._path + [seg] if s])
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(key, f"YAML alias *{oneline(event.anchor, 40)} ({_where(event.start_mark)}): anchors "
                           "and aliases are not allowed")
        if event.anchor is not None:
            raise _Refused(key, f"YAML anchor &{oneline(event.anchor, 40)} ({_where(event.start_mark)}): anchors "
                           "and aliases are not allowed")
        self._count += 1
        if self._count > MAX_YAML_NODES:
            raise _Refused(key, f"more than {MAX_YAML_NODES} values ({_where(event.start_mark)})")
        if len(self._path) >= MAX_YAML_DEPTH:
            raise _Refused(key, f"nested deeper than {MAX_YAML_DEPTH} levels ({_where(event.start_mark)})")
        self._path.append(seg)
        try:
            node = super().compose_node(parent, index)
            node.dotted = [s for s in self._path if s]  # for the constructor's messages
            return node
        finally:
            self._path.pop()

    def construct_number(self, node):
        """ints / floats of at most ``MAX_NUMBER_CHARS`` characters (a 256 KiB sexagesimal int takes seconds)."""
        if len(node.value) > MAX_NUMBER_CHARS:
            raise _Refused(_join(getattr(node, "dotted", [])), f"a number of {len(node.value)} characters "
                           f"({_where(node.start_mark)}), at most {MAX_NUMBER_CHARS}")
        if node.tag.endswith(":int"):
            return self.construct_yaml_int(node)
        return self.construct_yaml_float(node)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            path = getattr(node, "dotted", [])
            seen: dict = {}
            for kn, _ in node.value:
                if kn.tag == "tag:yaml.org,2002:merge":
                    raise _Refused(_join(path + ["<<"]), f"YAML merge keys are not allowed ({_where(kn.start_mark)})")
                k = self.construct_object(kn, deep=True)
                line = kn.start_mark.line + 1
                try:
                    first = seen.get(k)
                except TypeError:
                    continue  # unhashable key: the base class says so
                if first is not None:
                    raise _Refused(_join(path + [oneline(k, 60)]),
                                   f"duplicate key (line {line}; first at line {first})")
                seen[k] = line
        return super().construct_mapping(node, deep=deep)


StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_number)
StrictLoader.add_constructor("tag:yaml.org,2002:float", StrictLoader.construct_number)


def load_yaml(path: str | os.PathLike, what: str = "config file"):
    """The parsed YAML of a build config / sweep spec, or one ``ConfigError`` line: at most ``MAX_FILE_BYTES``,
    UTF-8, parsed by :class:`StrictLoader`."""
    name = oneline(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = f.read(MAX_FILE_BYTES + 1) if size <= MAX_FILE_BYTES else b""
    except OSError as e:
        raise ConfigError(f"{name}: cannot read the {what}: {e.strerror or e}") from None
    if size > MAX_FILE_BYTES or len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{name}: {what} is {max(size, len(data))} bytes, at most {MAX_FILE_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{name}: {what} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})") \
            from None
    try:
        return yaml.load(text, Loader=StrictLoader)  # a SafeLoader subclass
    except _Refused as e:
        raise ConfigError(f"{name}: {e.key}: {e.msg}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" ({_where(mark)})" if mark else ""
        why = " ".join(str(getattr(e, "problem", None) or e).split())  # a ReaderError's text spans two lines
        raise ConfigError(f"{name}: not valid YAML{where}: {oneline(why)}") from None
    except (ValueError, OverflowError, RecursionError) as e:  # e.g. a date out of range
        raise ConfigError(f"{name}: not valid YAML: {oneline(' '.join(str(e).split()))}") from None


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
                  "Unknown keys, wrong types and out-of-range values are refused with one line naming the key.",
                  f"The file itself must be UTF-8 text of at most {MAX_FILE_BYTES} bytes; YAML anchors, aliases, "
                  "merge keys and duplicate keys are refused, as is nesting deeper than "
                  f"{MAX_YAML_DEPTH} levels or more than {MAX_YAML_NODES} values. Every number must be finite and "
                  "in its range; values echoed in an error are cut at about 200 characters.", "",
                  "| key | default | allowed | meaning |", "|---|---|---|---|"]
    for k, v in node.keys.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, Section):
            lines.append(f"| **{key}** | | | {v.help} |")
            lines.append(to_markdown(v, key))
        else:
            default = yaml.safe_dump(v.default, default_flow_style=True).strip().removesuffix("...").strip()
            cells = [_describe(v, docs=True), v.help]
            lines.append(f"| `{key}` | `{default}` | " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(line for line in lines if line)


if __name__ == "__main__":  # pragma: no cover
    import sys

    if "--markdown" in sys.argv:
        print(to_markdown())
