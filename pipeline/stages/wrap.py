"""``wrap`` stage and ``unet-fsic wrap``: the FSIC USER_PRJ0 wrapper of a build.

Reads what ``convert`` wrote (``<build>/hls/interface.json``: the HLS top's name, AXI-Stream ports and element types)
and the config (image size, classes, bit-widths, output head), and writes ``<build>/fsic/`` (generated Verilog +
helpers, C and Python register headers, build identity, file lists; see :mod:`pipeline.hw.rtl`) -- atomically,
through a temporary directory inside the build dir. The build identity's model hash is the CRC-32 of the generated
weight files (:func:`model_hash`).
"""
from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

from ..build import BuildDir
from ..errors import UserError
from ..guard import swap_dir
from ..hw import rtl
from . import Stage


def read_interface(config) -> dict:
    p = BuildDir.of(config).interface_json
    if not p.is_file():
        raise UserError(f"{p}: missing -- run `unet-fsic convert CONFIG` first")
    return json.loads(p.read_text())


def model_hash(config) -> int:
    """CRC-32 of the IP's weights as generated (``hls/firmware/weights/*``, sorted by name): what the bitstream
    carries, so firmware can refuse a mismatched build."""
    wdir = BuildDir.of(config).weights
    files = sorted(p for p in wdir.glob("*") if p.is_file()) if wdir.is_dir() else []
    if not files:
        raise UserError(f"{wdir}: no weight files -- run `unet-fsic convert CONFIG` first")
    h = 0
    for f in files:
        h = zlib.crc32(f.name.encode(), h)
        h = zlib.crc32(f.read_bytes(), h)
    return h & 0xFFFFFFFF


def wrap_params(config) -> dict:
    """Wrapper parameters (pipeline.hw.rtl.resolve_params keys) of this build, from the conversion's interface."""
    itf = read_interface(config)
    if itf.get("io_type") != "io_stream":
        raise UserError(f"hls.io_type: the FSIC wrapper needs an io_stream IP, this build is {itf.get('io_type')}")
    h, w, c = itf["in_shape"]
    if itf["in_elem_bits"] < 8 or itf["in_frac_bits"] != 8 or itf["in_signed"]:
        raise UserError(f"hls: the IP input type {itf['in_type']} is not the 8-bit unsigned code the stream carries "
                        f"(expected ap_ufixed<8,0>)")
    head = itf["output_mode"]
    q = config["quant"]
    params = dict(H=h, W=w, C=c, classes=int(config["model"]["num_classes"]), output_mode=head,
                  weight_bits=int(q["weight_bits"]), act_bits=int(q["act_bits"]), model_hash=model_hash(config),
                  hls_top_name=itf["hls_top_name"], hls_in_port=itf["hls_in_port"], hls_out_port=itf["hls_out_port"],
                  in_elem_bits=itf["in_elem_bits"], in_shift=0, in_tdata_width=itf["in_tdata_width"],
                  out_tdata_width=itf["out_tdata_width"], out_elem_bits=itf["out_elem_bits"], out_shift=0)
    fs = config.get("fsic") or {}
    params.update(high_pri_req=bool(fs.get("high_pri_req", False)), in_stall_limit=int(fs.get("in_stall_limit", 4096)),
                  in_framing=str(fs.get("in_framing", "frame")), out_framing=str(fs.get("out_framing", "frame")))
    # the IP clock (target.ip_clock): user_clock2 -> the two-clock wrapper (uf_ip_cdc; fsic_wrapper/README.md)
    params["ip_clock"] = str((config.get("target") or {}).get("ip_clock", "axis_clk"))
    if head == "logits":
        params["logit_bits"] = itf["out_elem_bits"]
    else:
        params["class_bits"] = max(1, int(params["classes"] - 1).bit_length())
    try:
        return rtl.resolve_params(params)
    except ValueError as e:
        raise UserError(f"wrap: {e}") from None


def write_wrap(config) -> dict:
    """Write ``<build>/fsic`` atomically; returns a summary."""
    p = wrap_params(config)
    bd = BuildDir.of(config)
    tmp = bd.tempdir("fsic")
    try:
        files = rtl.write_wrapper(tmp, p)
        swap_dir(tmp / "fsic", bd.fsic)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rel = sorted(str(Path("fsic") / f.relative_to(tmp / "fsic")) for f in files)
    return {"files": rel, "params": {k: p[k] for k in ("H", "W", "C", "classes", "output_mode", "weight_bits",
                                                        "act_bits", "hls_top_name", "words_in", "words_out",
                                                        "ip_clock")},
            "model_hash": f"0x{p['model_hash']:08X}", "dir": str(bd.fsic)}


def headline(s: dict) -> str:
    p = s["params"]
    return (f"USER_PRJ0 for {p['hls_top_name']} ({p['output_mode']}), {p['words_in']} words in / {p['words_out']} "
            f"out per frame, model hash {s['model_hash']}")


def run_stage(config) -> dict:
    return write_wrap(config)


STAGE = Stage("wrap", (), ("convert",), ("fsic",), run_stage, headline)


def cmd_wrap(args, cfg) -> int:
    s = write_wrap(cfg)
    print(f"[wrap] {headline(s)}")
    print(f"[wrap] {len(s['files'])} files in {s['dir']} (filelist.f for synthesis, filelist_sim.f for simulation)")
    return 0


def register_cli(add):
    add("wrap", cmd_wrap, "generate the FSIC USER_PRJ0 wrapper of the converted build in BUILD/fsic (Verilog, "
        "register headers for C and Python, build identity, file lists)")
