"""Issue #17: an independent oracle for the build's model hash (pipeline.stages.wrap.model_hash -> ID_MODEL_HASH).

The documented rule (fsic_wrapper/README.md, pipeline/stages/wrap.py): the model hash is the CRC-32 of the IP's
weights as
generated -- every file in ``<build>/hls/firmware/weights/``, taken in order of file name; for each file its name
(UTF-8, no directory) and then its bytes.  Equivalently (CRC-32 chains over concatenation): the standard CRC-32
(zlib, ISO-HDLC) of the byte string  name_0 | content_0 | name_1 | content_1 | ...  This test computes that string
from the files on disk and hashes it with zlib.crc32 itself; it never asks model_hash for the expectation.

On a real conversion (a tiny seeded W5A8 U-Net, 8x8x3, depth 1, converted by pipeline.hls.project without compiling):
  * model_hash, the wrapper params and the generated firmware header carry exactly that CRC;
  * one byte changed in one weight file (the sign of one weight in a ``w*.h`` initializer) changes model_hash to the
    CRC of the changed files, changes the ID_MODEL_HASH register the real RTL returns (read by the real firmware in
    the RTL bench of tests/test_firmware_rtl.py), and the firmware compiled for one build refuses the RTL of the
    other (identity mismatch on exactly the model-hash field, IP never started) -- in both directions.
"""
from __future__ import annotations

import os
import re
import shutil
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402
from test_firmware_rtl import (  # noqa: E402
    build_firmware,
    check_identity_refused,
    check_pass_run,
    need_tools,
    run_firmware_on_rtl,
)

TINY = {"input_shape": [8, 8, 3], "base_filters": 4, "depth": 1}
# the build's identity as configured (TINY, 21 classes, W5A8 argmax head) -- the hash is filled in per build
IDENT = dict(H=8, W=8, C=3, classes=21, weight_bits=5, act_bits=8)


def _cfg(build_dir: Path):
    from pipeline.config import validate
    return validate({"build_dir": str(build_dir), "model": TINY, "hls": {"reuse_factor": 4}})


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """A converted (not compiled) build of the tiny seeded model; tests copy it before changing anything."""
    from _support import randomize_weights

    import keras_model  # noqa: F401
    from keras_model.model import build_model
    from pipeline.hls import project as convert

    bd = tmp_path_factory.mktemp("hash") / "build"
    cfg = _cfg(bd)
    m = build_model(cfg, quantized=True)
    randomize_weights(m, seed=3)
    convert.convert(cfg, model=m)
    return bd


def _copy(src: Path, dst: Path):
    shutil.copytree(src, dst)
    return _cfg(dst)


def weight_files(bd: Path) -> list[Path]:
    d = bd / "hls" / "firmware" / "weights"
    return sorted((p for p in d.iterdir() if p.is_file()), key=lambda p: p.name)


def independent_crc(bd: Path) -> int:
    """CRC-32 (zlib) of name_0|content_0|name_1|content_1|... over the weight files in file-name order."""
    blob = b"".join(f.name.encode("utf-8") + f.read_bytes() for f in weight_files(bd))
    return zlib.crc32(blob) & 0xFFFFFFFF


def flip_one_weight_sign(bd: Path) -> tuple[Path, int]:
    """Change ONE byte of one weight file: the first '-' inside the initializer of the largest w*.h becomes ' '
    (same length, still valid C, one weight's sign flipped).  Returns (file, byte offset)."""
    f = max((p for p in weight_files(bd) if re.fullmatch(r"w\d+\.h", p.name)), key=lambda p: p.stat().st_size)
    data = bytearray(f.read_bytes())
    start = data.index(b"= {")
    pos = data.index(b"-", start)
    data[pos] = ord(" ")
    f.write_bytes(bytes(data))
    return f, pos


def test_model_hash_is_the_crc32_of_the_weight_files(converted, tmp_path):
    from pipeline.stages import wrap

    cfg = _copy(converted, tmp_path / "b")
    files = weight_files(tmp_path / "b")
    assert len(files) >= 10 and any(f.name.startswith("w") for f in files), [f.name for f in files]
    assert all(f.stat().st_size > 0 for f in files)
    want = independent_crc(tmp_path / "b")
    # the rule reads the contents, not only the names (the CRC of the names alone is a different number)
    assert want != zlib.crc32(b"".join(f.name.encode() for f in files))
    assert wrap.model_hash(cfg) == want
    s = wrap.write_wrap(cfg)
    assert s["model_hash"] == f"0x{want:08X}"
    hdr = (tmp_path / "b" / "fsic" / "include" / "unet_fsic_build.h").read_text()
    assert f"#define UNET_FSIC_BUILD_MODEL_HASH 0x{want:08X}u" in hdr


def test_one_weight_byte_changes_hash_register_and_firmware_refuses(converted, tmp_path):
    """One byte in one weight file: a different model_hash (= the independent CRC of the changed files), a
    different ID_MODEL_HASH read from the RTL by the firmware, and each build's firmware refuses the other's RTL."""
    need_tools("icarus")
    from pipeline.stages import wrap

    a, b = tmp_path / "a", tmp_path / "b"
    cfg_a, cfg_b = _copy(converted, a), _copy(converted, b)
    f, pos = flip_one_weight_sign(b)
    # exactly one byte differs between the two builds' weight files
    diffs = [(fa.name, i) for fa, fb in zip(weight_files(a), weight_files(b))
             for i, (x, y) in enumerate(zip(fa.read_bytes(), fb.read_bytes())) if x != y]
    assert diffs == [(f.name, pos)]
    h_a, h_b = independent_crc(a), independent_crc(b)
    assert h_a != h_b
    assert wrap.model_hash(cfg_a) == h_a
    assert wrap.model_hash(cfg_b) == h_b
    wrap.write_wrap(cfg_a)
    wrap.write_wrap(cfg_b)
    fw_a, fw_b = build_firmware(a), build_firmware(b)

    # RTL of build a: its firmware runs a frame and read h_a from ID_MODEL_HASH; b's firmware refuses it
    res = run_firmware_on_rtl("icarus", a / "fsic", [("fw_a", fw_a), ("fw_b", fw_b)], tmp_path / "sim_a")
    check_pass_run(res["runs"][0], dict(IDENT, model_hash=h_a))
    check_identity_refused(res["runs"][1], h_a)
    # RTL of build b (one weight byte changed): the register now reads h_b; a's firmware refuses it
    res = run_firmware_on_rtl("icarus", b / "fsic", [("fw_b", fw_b), ("fw_a", fw_a)], tmp_path / "sim_b")
    check_pass_run(res["runs"][0], dict(IDENT, model_hash=h_b))
    check_identity_refused(res["runs"][1], h_b)
