"""The trained W5A8 Keras model -> an hls4ml project in ``<build_dir>/hls/`` (the ``convert`` stage's core).

* :func:`hls_config_for` -- the hls4ml config dict: every layer's precision derived from the QKeras quantizers
  (:mod:`pipeline.hls.precision`; no ``auto`` left), ``hls.precision_overrides``, Strategy, ReuseFactor
  (``hls.reuse_factor`` + per-layer ``hls.reuse_factors``), BatchNorm folding.
* :func:`convert` -- returns a :class:`Conversion` (the hls4ml model, the Keras golden, the output head); loads the
  model (``hls.model_file`` or ``<build_dir>/train/w5a8_model.h5``), appends the argmax
  head when ``hls.output_head == 'argmax'``, converts with the unet-fsic hls4ml extensions and writes the project
  atomically (temp dir inside the build dir, then rename) plus ``hls/interface.json`` (top name, AXI-stream ports,
  element widths) and ``hls/layers.json`` (the per-layer table).
* :func:`layer_table` -- per-layer rows: type, output shape, precisions, reuse factor, multiplies per frame.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..build import BuildDir
from ..errors import UserError
from ..guard import swap_dir, test_hook

INPUT_NAME = "input_image"  # the Keras input layer is renamed to this (hls4ml reserves 'input')


@dataclass
class Conversion:
    """What :func:`convert` produced: the hls4ml model, the Keras golden it must equal (the W5A8 model, plus the
    argmax head when the IP has one) and the output head."""
    hls_model: Any
    keras_model: Any
    output_head: str


def model_path(config) -> Path:
    p = config["hls"].get("model_file")
    if p:
        return Path(os.path.expanduser(p))
    return BuildDir.of(config).checkpoint("w5a8")


def load_keras_model(config):
    import keras_model  # noqa: F401  (QKeras compat fixes)
    from keras_model.model_io import load_model

    p = model_path(config)
    if not p.is_file():
        hint = "" if config["hls"].get("model_file") else " (run `unet-fsic train` first, or set hls.model_file)"
        raise UserError(f"{p}: no such model file{hint}")
    return load_model(p)


def _rename_input(model):
    """The same layers re-wired from a new Input named INPUT_NAME (hls4ml reserves the name 'input')."""
    from tensorflow import keras

    from .precision import inbound_map

    inbound = inbound_map(model)
    inp = keras.Input(tuple(model.input_shape[1:]), name=INPUT_NAME)
    t = {}
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer":
            t[layer.name] = inp
            continue
        ins = [t[n] for n in inbound[layer.name]]
        t[layer.name] = layer(ins if len(ins) > 1 else ins[0])
    out_name = model.output.node.layer.name if hasattr(model.output, "node") else model.layers[-1].name
    return keras.Model(inp, t[out_name], name=model.name)


def prepare_model(model, output_head: str):
    """The Keras golden for the chosen head: the model itself (logits) or model + ArgmaxHead."""
    from ..extensions import register_extensions
    from ..extensions.argmax import with_argmax

    register_extensions()
    if any(layer.name == "input" for layer in model.layers):
        model = _rename_input(model)
    if output_head == "argmax":
        if model.layers[-1].__class__.__name__ == "ArgmaxHead":
            return model
        return with_argmax(model)
    if output_head != "logits":
        raise UserError(f"hls.output_head: expected 'logits' or 'argmax', got {output_head!r}")
    return model


def hls_config_for(config, model) -> dict:
    """hls4ml config dict (granularity 'name') for ``model`` under the build config's ``hls`` section."""
    from .precision import derive, to_hls_precision

    h = config["hls"]
    names = [layer.name for layer in model.layers]
    for key in ("reuse_factors", "multiplier_bindings"):
        for name in h.get(key) or {}:
            if name not in names:
                import difflib

                close = difflib.get_close_matches(name, names, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise UserError(f"hls.{key}.{name}: no layer of that name in the model{hint}")
    types = derive(model, h.get("precision_overrides") or {})
    cfg = {
        "Model": {
            "Precision": {"default": "ap_fixed<16,6>"},  # never used: every layer below is explicit
            "ReuseFactor": int(h["reuse_factor"]),
            "Strategy": h["strategy"],
            "BramFactor": 1_000_000_000,
            "TraceOutput": False,
        },
        "LayerName": {},
    }
    rfs = h.get("reuse_factors") or {}
    for layer in model.layers:
        lc = {"Precision": to_hls_precision(types[layer.name]), "Trace": False}
        if layer.name in rfs:
            lc["ReuseFactor"] = int(rfs[layer.name])
        if layer.__class__.__name__ == "FxpBatchNorm" and h.get("fold_batchnorm"):
            lc["FsicFold"] = True
        if layer.__class__.__name__ in ("QConv2D", "QConv2DTranspose") and h.get("fuse_conv_blocks"):
            lc["FsicFuse"] = True  # conv -> BN -> ReLU as one process (pipeline/extensions/fused_conv_block.py)
        binding = multiplier_binding(config, layer)
        if binding:
            lc["FsicMultBinding"] = binding  # DSP / LUT-bound product class (pipeline/extensions/mult_binding.py)
        cfg["LayerName"][layer.name] = lc
        if layer.__class__.__name__ in ("QConv2D", "QConv2DTranspose"):
            # hls4ml splits the layer's (linear) activation into '<name>_linear'; give it the exact result type so
            # it is a no-op that hls4ml's eliminate_linear_activation removes
            res = lc["Precision"]["result"]
            cfg["LayerName"][layer.name + "_linear"] = {"Precision": {"result": res}, "Trace": False}
    return cfg


#: Keras layers whose multiplies hls.multiplier_binding binds (-> Conv2D / PointwiseConv2D / FsicConv2DTranspose /
#: FsicFusedConvBlock; docs/hls.md#multiplier-binding)
BOUND_KERAS_CLASSES = ("QConv2D", "Conv2D", "QConv2DTranspose", "Conv2DTranspose")


def multiplier_binding(config, layer) -> str | None:
    """'dsp' / 'lut' for a conv / convT layer (``hls.multiplier_bindings`` first, then ``hls.multiplier_binding``);
    None for other layers and for an unresolved 'auto' (:func:`convert` resolves it first; unresolved, HLS chooses)."""
    if layer.__class__.__name__ not in BOUND_KERAS_CLASSES:
        return None
    h = config["hls"]
    b = (h.get("multiplier_bindings") or {}).get(layer.name, h.get("multiplier_binding"))
    return b if b in ("dsp", "lut") else None


def _hls4ml_convert(model, hcfg, config, output_dir):
    import hls4ml

    from ..extensions import UnsupportedLayerError, register_extensions
    from ..extensions.fxp_batchnorm import bind_keras_model

    register_extensions()
    bind_keras_model(model)
    h = config["hls"]
    try:
        return hls4ml.converters.convert_from_keras_model(
            model, hls_config=hcfg, io_type=h["io_type"], backend=h["backend"], output_dir=str(output_dir),
            project_name=h["project_name"], part=h["part"], clock_period=h["clock_period"],
        )
    except UnsupportedLayerError as e:
        raise UserError(str(e)) from None
    except Exception as e:  # hls4ml raises bare Exceptions for unsupported layers
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "Unsupported" in msg or "not supported" in msg:
            raise UserError(f"hls4ml: {msg}") from None
        raise


def _mults(node) -> int:
    """Multiplies per frame of a node (MACs of conv / convT; per-channel multiplies of BN; 0 otherwise)."""
    cls = node.class_name
    if cls in ("Conv2D", "Conv2DBatchnorm", "PointwiseConv2D"):
        return int(node.get_attr("out_height") * node.get_attr("out_width") * node.get_attr("n_filt")
                   * node.get_attr("filt_height") * node.get_attr("filt_width") * node.get_attr("n_chan"))
    if cls == "FsicConv2DTranspose":
        n_in, n_out = node.mult_size
        return int(node.get_attr("out_height") * node.get_attr("out_width") * n_in * n_out)
    if cls == "BatchNormalization":
        return int(np.prod(node.get_output_variable().shape))
    if cls == "FsicFusedConvBlock":  # conv MACs + the BatchNorm multiplies of its epilogue
        return int(node.get_attr("fsic_multiplies"))
    return 0


def layer_table(hls_model) -> list[dict]:
    """One row per hls4ml layer: name, class, output shape, precisions, reuse factor, multiplies / frame, and the
    io_stream FIFO element width (channels x result bits)."""
    rows = []
    for node in hls_model.get_layers():
        out = node.get_output_variable()
        prec = {}
        for k, t in node.types.items():
            prec[k.replace("_t", "") if k.endswith("_t") else k] = str(t.precision)
        prec["result"] = str(out.type.precision)
        shape = list(out.shape)
        bits = getattr(out.type.precision, "width", 0)
        rows.append({
            "name": node.name,
            "class": node.class_name,
            "shape": shape,
            "precision": prec,
            "reuse_factor": int(node.get_attr("reuse_factor", 1) or 1),
            "strategy": str(node.get_attr("strategy", "")),
            "multiplies": _mults(node),
            "stream_bits": int(shape[-1] * bits) if shape else bits,
        })
        if node.get_attr("fsic_fused"):  # a fused conv block: the Keras conv / BN / ReLU layers it replaces
            rows[-1]["fused"] = dict(node.get_attr("fsic_fused"))
    return rows


def format_table(rows) -> str:
    hdr = f"{'layer':<22} {'type':<20} {'shape':<13} {'RF':>4} {'mults/frame':>12}  precision"
    lines = [hdr, "-" * len(hdr)]
    for r in rows:
        p = r["precision"]
        ps = " ".join(f"{k}={v}" for k, v in p.items() if k in ("weight", "scale", "bias", "accum", "result"))
        shape = "x".join(str(s) for s in r["shape"])
        lines.append(f"{r['name']:<22} {r['class']:<20} {shape:<13} {r['reuse_factor']:>4} "
                     f"{r['multiplies']:>12,}  {ps}")
    tot = sum(r["multiplies"] for r in rows)
    lines.append(f"{'total':<22} {'':<20} {'':<13} {'':>4} {tot:>12,}")
    return "\n".join(lines)


def check_no_auto(hls_model) -> None:
    """Every type explicit: no UnspecifiedPrecisionType / 'auto' left after conversion."""
    from hls4ml.model.types import UnspecifiedPrecisionType

    bad = []
    for node in hls_model.get_layers():
        for k, t in node.types.items():
            if isinstance(t.precision, UnspecifiedPrecisionType) or "auto" in str(t.precision):
                bad.append(f"{node.name}.{k}")
    if bad:
        raise RuntimeError(f"unresolved 'auto' precisions: {', '.join(bad)}")


def interface(hls_model, config) -> dict:
    """The HLS top's ports as the FSIC wrapper / RTL cosim see them (AXI-stream TDATA = packed channels)."""
    ins = hls_model.get_input_variables()
    outs = hls_model.get_output_variables()
    iv, ov = ins[0], outs[0]
    ip, op = iv.type.precision, ov.type.precision
    in_ch, out_ch = int(iv.shape[-1]), int(ov.shape[-1])

    def tdata(n, w):
        return int(math.ceil(n * w / 8) * 8)

    head = config["hls"]["output_head"]
    return {
        "hls_top_name": hls_model.config.get_project_name(),
        "hls_in_port": iv.name,
        "hls_out_port": ov.name,
        "io_type": config["hls"]["io_type"],
        "backend": config["hls"]["backend"],
        "in_shape": [int(s) for s in iv.shape],
        "out_shape": [int(s) for s in ov.shape],
        "in_elem_bits": int(ip.width),
        "in_int_bits": int(ip.integer),
        "in_frac_bits": int(ip.width - ip.integer),
        "in_signed": bool(ip.signed),
        "in_type": str(ip),
        "in_channels": in_ch,
        "in_tdata_width": tdata(in_ch, ip.width),
        "out_elem_bits": int(op.width),
        "out_int_bits": int(op.integer),
        "out_frac_bits": int(op.width - op.integer),
        "out_signed": bool(op.signed),
        "out_type": str(op),
        "out_channels": out_ch,
        "out_tdata_width": tdata(out_ch, op.width),
        "output_mode": head,
        "pixels_per_frame": int(np.prod(iv.shape[:-1])),
        "packing": "channel c occupies TDATA bits [c*elem_bits, (c+1)*elem_bits), one pixel per beat, raster order",
        "input_mapping": "hardware byte = raw ap_ufixed<8,0> code = min(255, round_half_even(image_byte*256/255)) "
                         "= image_byte + (image_byte >= 128) clipped to 255 (pipeline.hw.streams.hardware_input)",
    }


def convert(config, model=None, output_head=None, write=True) -> Conversion:
    """Convert the trained W5A8 model; write the project to ``<build_dir>/hls/`` (atomically: built in a temporary
    directory inside the build dir, then renamed). ``model``: a Keras model to use instead of the configured file;
    ``output_head``: 'logits' / 'argmax' (default ``hls.output_head``)."""
    from ..hw.budget import resolve_bindings, resolved_config, with_bindings
    from . import fifo_depths

    head = output_head or config["hls"]["output_head"]
    bind_mode = config["hls"].get("multiplier_binding")
    # hls.reuse_factor: auto -> per-layer RFs (docs/budget.md#auto); bindings below, on the model converted
    config, auto = resolved_config(config, bindings=False)
    if model is None:
        model = load_keras_model(config)
    fifo_plan = fifo_depths.plan(config, model)  # the estimate's FIFO depths (before prepare_model re-calls layers)
    if bind_mode == "auto":  # hls.multiplier_binding: auto -> per-layer (docs/hls.md#multiplier-binding)
        config = with_bindings(config, resolve_bindings(config, fifo_depths._sizing_model(model)))
    model = prepare_model(model, head)
    hcfg = hls_config_for(config, model)
    bd = BuildDir.of(config)
    tmp = bd.tempdir("hls")
    try:
        hm = _hls4ml_convert(model, hcfg, config, tmp / "prj")
        check_no_auto(hm)
        fifos = fifo_depths.apply(hm, fifo_plan)  # STREAM pragmas = the plan (hls.fifo_depths, docs/hls.md)
        if write:
            hm.write()
            fifo_depths.write_report(tmp / "prj", hm.config.get_project_name(), fifos)  # read back + fifo_depths.json
            (tmp / "prj" / "layers.json").write_text(json.dumps(layer_table(hm), indent=1) + "\n")
            (tmp / "prj" / "interface.json").write_text(json.dumps(interface(hm, config), indent=2) + "\n")
            (tmp / "prj" / "hls_config.json").write_text(json.dumps(hcfg, indent=1, default=str) + "\n")
            (tmp / "prj" / "reuse.json").write_text(json.dumps(
                {"mode": "auto" if auto else "config", **(auto or {}),
                 "reuse_factors": {k: v.get("ReuseFactor") for k, v in hcfg["LayerName"].items()
                                   if "ReuseFactor" in v}}, indent=1) + "\n")
            (tmp / "prj" / "binding.json").write_text(json.dumps(
                {"mode": bind_mode, "bindings": {k: v["FsicMultBinding"] for k, v in hcfg["LayerName"].items()
                                                 if "FsicMultBinding" in v}}, indent=1) + "\n")
            test_hook("convert:before-swap")
            swap_dir(tmp / "prj", bd.hls)
        hm.config.config["OutputDir"] = str(bd.hls)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Conversion(hm, model, head)
