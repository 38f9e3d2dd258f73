"""``unet-fsic infer`` (issue #16): the CLI's ``main`` in this process for the keras / csim / rtl runs (TensorFlow is
loaded once), the installed entry point in subprocesses for the one-line errors (pynq, bad inputs, missing outputs).

One tiny build, made once: a reduced W5A8 U-Net (16x16, base_filters 2, depth 1 -- every layer type, half the g++
time of depth 2) with seeded random weights (BN statistics included, so that many classes occur and the pixel
comparisons mean something) saved as ``BUILD/train/w5a8_model.h5``, converted and compiled by hls4ml (g++) and
wrapped as FSIC USER_PRJ0.

Generated inputs, written with Pillow: 40x30 RGB PNG, 16x16 RGBA PNG, 20x20 greyscale PNG, 24x18 JPEG, 12x12 palette
PNG. The reference is computed here, independently of the command: each file opened with Pillow, ``convert("RGB")``,
``resize((16, 16), Image.BILINEAR)`` (the documented interpolation, keras_model/voc.py's), ``to_model_input``, the
saved .h5 loaded with ``keras_model.model_io.load_model``, ``np.argmax`` over the logits.

* keras backend on the directory: every class PNG (mode P, 16x16, the synthetic palette) equals the reference;
  overlays at the original sizes (the 16x16 one equals 45 % image + 55 % palette colour); infer.json (conversion,
  size, histogram, wall time); stdout states the conversions; tqdm on stderr;
* csim backend ``--compare``: class PNGs bit-identical to the reference, 0 differing pixels reported;
* rtl backend on one small image (the wrapper RTL on Icarus with the compiled C model as the IP) ``--compare``;
* pynq backend: the host driver's NoHardwareError, one line, exit 2, nothing written;
* bad inputs (truncated PNG / JPEG, 0-byte file, 16-bit PNG, animated GIF and APNG, a text file named .png, a
  directory without images) and missing build outputs: one line naming the file, exit 2, no output directory;
* Ctrl-C while the outputs are written: the earlier result stays, no temporary directory;
* a converted but never compiled project: ``--backend csim`` compiles it (``ensure_compiled``, stubbed here);
* the resize equals the VOC loader's on the same JPEG.

Runtime (2 cores shared with other jobs, load 4-5, measured with --durations): ~2.5 min, most of it the fixture's
hls4ml convert + g++ compile.
"""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
H = W = 16
SMALL = {
    "model": {"input_shape": [H, W, 3], "base_filters": 2, "depth": 1},
    "data": {"synthetic": {"train": 16, "val": 8}},
    "train": {"float": {"epochs": 1, "batch_size": 8}, "qat": {"epochs": 1, "batch_size": 8}, "verbose": 0},
    "hls": {"reuse_factor": 4},
    "csim": {"frames": 2, "workers": 1},
}
# name -> (size (w, h), Pillow mode, format): the generated inputs
INPUTS = {"a.png": ((40, 30), "RGB", "PNG"), "b.png": ((16, 16), "RGBA", "PNG"), "c.png": ((20, 20), "L", "PNG"),
          "d.jpg": ((24, 18), "RGB", "JPEG"), "e.png": ((12, 12), "P", "PNG")}
CONVERSION_WORDS = {"RGB": "none", "RGBA": "alpha", "L": "grey", "P": "palette"}


def _cli():
    from _support import cli_command

    return cli_command()


def _run(*args, env=None, timeout=900):
    e = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    return subprocess.run(_cli() + [str(a) for a in args], cwd=ROOT, env=e, capture_output=True, text=True,
                          timeout=timeout)


def _ok(r):
    assert r.returncode == 0, (r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    return r


def _main(capsys, *args):
    """The CLI in this process (``pipeline.cli.main``: the same parser, lock and error mapping; TensorFlow is already
    loaded here, which saves a subprocess's start-up): (exit status, stdout, stderr)."""
    from pipeline.cli import main

    capsys.readouterr()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        rc = main([str(a) for a in args])
    finally:  # main() installs the CLI's handlers; pytest's come back
        for s, h in handlers.items():
            signal.signal(s, h)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, rc, out.out, out.err)


def _one_error_line(r, *needles, code=2):
    assert r.returncode == code, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unet-fsic: error: "), r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def _generate_inputs(d: Path) -> None:
    rng = np.random.default_rng(16)
    d.mkdir()
    for name, ((w, h), mode, fmt) in INPUTS.items():
        yy, xx = np.mgrid[0:h, 0:w]
        rgb = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), (xx + yy) * 7 % 256], -1)
        rgb = np.clip(rgb + rng.integers(-60, 60, rgb.shape), 0, 255).astype(np.uint8)
        im = Image.fromarray(rgb)
        if mode == "RGBA":
            im = Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (h, w), dtype=np.uint8)]), "RGBA")
        elif mode == "L":
            im = im.convert("L")
        elif mode == "P":
            im = im.quantize(colors=16)
        im.save(d / name, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        assert Image.open(d / name).mode == mode
    (d / "notes.txt").write_text("not an image; a directory argument skips it\n")


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """(config path, build dir, images dir, model file): random-weight tiny W5A8 model, converted, compiled,
    wrapped."""
    from _support import randomize_weights

    from keras_model.model import build_model
    from pipeline.config import load_config
    from pipeline.hls.cmodel import ensure_compiled
    from pipeline.stages import wrap

    root = tmp_path_factory.mktemp("infer")
    raw = dict(json.loads(json.dumps(SMALL)), build_dir=str(root / "b"))
    cfg_path = root / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    cfg = load_config(cfg_path)
    model = build_model(cfg, quantized=True)
    kinds = {layer.__class__.__name__ for layer in model.layers}
    assert {"QConv2D", "FxpBatchNorm", "QActivation", "MaxPooling2D", "QConv2DTranspose", "Concatenate"} <= kinds
    randomize_weights(model, seed=13)
    model_file = root / "b" / "train" / "w5a8_model.h5"
    model_file.parent.mkdir(parents=True)
    model.save(model_file)
    ensure_compiled(cfg, root / "compile.log")  # converts (hls/, interface.json, weights) and compiles (g++)
    wrap.write_wrap(cfg)
    _generate_inputs(root / "imgs")
    return cfg_path, root / "b", root / "imgs", model_file


def _reference(model_file, files) -> dict:
    """The Keras class maps, computed here: Pillow RGB + bilinear resize, p/255, the saved model, argmax."""
    from keras_model.data import to_model_input
    from keras_model.model_io import load_model

    x = np.stack([np.asarray(Image.open(f).convert("RGB").resize((W, H), Image.BILINEAR)) for f in files])
    logits = load_model(str(model_file)).predict(to_model_input(x), verbose=0)
    return {Path(f).name: np.argmax(logits[i], axis=-1) for i, f in enumerate(files)}


def _class_map(path: Path, palette=None) -> np.ndarray:
    im = Image.open(path)
    assert im.mode == "P" and im.size == (W, H), (path, im.mode, im.size)
    if palette is not None:
        assert im.getpalette()[:768] == palette[:768]
    return np.asarray(im)


def _check_classes(out: Path, rec: dict, ref: dict, palette=None) -> None:
    for r in rec["images"]:
        got = _class_map(out / r["class_png"], palette)
        np.testing.assert_array_equal(got, ref[Path(r["source"]).name], err_msg=r["source"])


def _expected_palette():
    from keras_model.images import synthetic_palette

    pal = synthetic_palette()
    colours = np.array(pal).reshape(256, 3)
    assert colours[0].tolist() == [0, 0, 0] and colours[255].tolist() == [224, 224, 192]  # background, void
    assert colours[1].tolist() == [255, 0, 0]  # red-solid
    assert len({tuple(c) for c in colours[:21]}) == 21, "21 distinct class colours"
    return pal


def test_keras_backend_on_a_directory(build, tmp_path, capsys):
    cfg_path, bd, imgs, model_file = build
    out = tmp_path / "out"
    r = _ok(_main(capsys, "infer", cfg_path, imgs, "--out", out))
    files = sorted(imgs / n for n in INPUTS)
    ref = _reference(model_file, files)
    assert len(np.unique(np.concatenate([v.ravel() for v in ref.values()]))) >= 3, "degenerate reference"
    rec = json.loads((out / "infer.json").read_text())
    assert [Path(x["source"]).name for x in rec["images"]] == [f.name for f in files]  # sorted, notes.txt skipped
    assert rec["backend"] == "keras" and rec["model_input"] == [H, W, 3] and rec["palette"] == "synthetic"
    assert "bilinear" in rec["resize"]
    _check_classes(out, rec, ref, _expected_palette())
    pal = np.array(_expected_palette()).reshape(256, 3)
    for x in rec["images"]:
        name = Path(x["source"]).name
        (w, h), mode, fmt = INPUTS[name]
        assert (x["format"], x["mode"], x["original_size"]) == (fmt, mode, {"width": w, "height": h})
        assert CONVERSION_WORDS[mode] in x["conversion"], x["conversion"]
        assert x["conversion"] in r.stdout
        counts = np.bincount(ref[name].ravel(), minlength=21)
        assert {e["class"]: e["pixels"] for e in x["class_histogram"]} == {i: int(c) for i, c in enumerate(counts)
                                                                           if c}
        assert x["wall_s"] > 0 and x["backend"] == "keras" and "compare" not in x
        ov = Image.open(out / x["overlay_png"])
        assert ov.mode == "RGB" and ov.size == (w, h)  # the original size
    # the 16x16 RGBA image needs no scaling: its overlay is 45 % image + 55 % class colour (rounded down), here
    rgb = np.asarray(Image.open(imgs / "b.png").convert("RGB"), np.int64)
    want = ((45 * rgb + 55 * pal[ref["b.png"]]) // 100).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "b_overlay.png")), want)
    assert "infer (keras)" in r.stderr and "5/5" in r.stderr  # the progress bar: more than one image
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "a temporary directory was left behind"


def test_csim_backend_compare_is_bit_identical(build, tmp_path, capsys):
    cfg_path, bd, imgs, model_file = build
    out = tmp_path / "csim"
    files = [imgs / n for n in INPUTS]
    r = _ok(_main(capsys, "infer", cfg_path, *files, "--backend", "csim", "--compare", "--out", out))
    rec = json.loads((out / "infer.json").read_text())
    assert rec["backend"] == "csim" and "compiled hls4ml C model" in rec["backend_detail"]
    _check_classes(out, rec, _reference(model_file, files), _expected_palette())
    assert rec["compare"]["differing_pixels"] == 0 and rec["compare"]["agreement"] == 1.0
    assert rec["compare"]["pixels"] == len(files) * H * W
    assert all(x["compare"] == {"reference": "keras", "pixels": H * W, "differing_pixels": 0, "agreement": 1.0}
               for x in rec["images"])
    assert f"{len(files) * H * W} of {len(files) * H * W} pixels agree" in r.stdout


def test_rtl_backend_on_one_small_image(build, capsys):
    from _support import require_tools

    require_tools("iverilog", modules=("cocotb", "cocotbext.axi"))
    cfg_path, bd, imgs, model_file = build
    r = _ok(_main(capsys, "infer", cfg_path, imgs / "b.png", "--backend", "rtl", "--compare"))
    out = bd / "infer" / "rtl"  # the default output directory
    rec = json.loads((out / "infer.json").read_text())
    assert rec["backend"] == "rtl" and "RTL sim" in rec["backend_detail"]
    _check_classes(out, rec, _reference(model_file, [imgs / "b.png"]), _expected_palette())
    assert rec["compare"]["differing_pixels"] == 0 and "infer (rtl)" not in r.stderr  # one image: no progress bar
    assert not list((bd / "infer").glob(".rtl.tmp-*"))


def test_pynq_backend_without_a_board(build):
    cfg_path, bd, imgs, _ = build
    _one_error_line(_run("infer", cfg_path, imgs / "a.png", "--backend", "pynq"), "pynq backend", "not on a PYNQ board")
    assert not (bd / "infer" / "pynq").exists()


def _png_bytes(arr, **kw) -> bytes:
    b = io.BytesIO()
    Image.fromarray(arr, **kw).save(b, format="PNG")
    return b.getvalue()


def _bad_file(kind: str, d: Path) -> Path:
    """A file (or directory) the model cannot take."""
    good = _png_bytes(np.arange(24 * 24 * 3, dtype=np.uint8).reshape(24, 24, 3))
    if kind == "truncated.png":
        (d / kind).write_bytes(good[:len(good) // 2])
    elif kind == "truncated.jpg":
        b = io.BytesIO()
        Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(b, "JPEG")
        (d / kind).write_bytes(b.getvalue()[:len(b.getvalue()) // 2])
    elif kind == "empty.png":
        (d / kind).write_bytes(b"")
    elif kind == "deep16.png":
        Image.fromarray((np.arange(64).reshape(8, 8) * 1000).astype(np.uint16)).save(d / kind)
        assert Image.open(d / kind).mode.startswith("I")
    elif kind in ("animated.gif", "animated.png"):
        frames = [Image.new("RGB", (8, 8), (60 * i, 0, 0)) for i in range(3)]
        frames[0].save(d / kind, save_all=True, append_images=frames[1:])
    elif kind == "text.png":
        (d / kind).write_text("this is text, not a PNG\n")
    elif kind == "noimages":
        (d / kind).mkdir()
        (d / kind / "readme.txt").write_text("no images here\n")
    return d / kind


@pytest.mark.parametrize("kind", ["truncated.png", "truncated.jpg", "empty.png", "deep16.png", "animated.gif",
                                  "animated.png", "text.png", "noimages"])
def test_bad_input_one_line_exit_2_nothing_written(build, tmp_path, kind):
    cfg_path, bd, imgs, _ = build
    bad = _bad_file(kind, tmp_path)
    out = tmp_path / "out"
    # a good image before the bad one: every input is checked before anything is written
    line = _one_error_line(_run("infer", cfg_path, imgs / "a.png", bad, "--out", out), str(bad))
    why = {"truncated.png": "truncated", "truncated.jpg": "truncated", "empty.png": "0 bytes", "deep16.png": "16-bit",
           "animated.gif": "3 frames", "animated.png": "APNG", "text.png": "not an image", "noimages": "no images"}
    assert why[kind] in line
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_missing_build_outputs_and_occupied_out(build, tmp_path):
    cfg_path, bd, imgs, model_file = build
    fresh = tmp_path / "fresh"
    _one_error_line(_run("infer", cfg_path, imgs / "a.png", "--build-dir", fresh), "unet-fsic train CONFIG")
    assert not fresh.exists(), "a failed infer created the build directory"
    raw = dict(json.loads(json.dumps(SMALL)), build_dir=str(fresh))
    raw["hls"]["model_file"] = str(model_file)
    cfg2 = tmp_path / "c2.yaml"
    cfg2.write_text(yaml.safe_dump(raw))
    _one_error_line(_run("infer", cfg2, imgs / "a.png", "--backend", "csim"), "no hls4ml project",
                    "unet-fsic csim CONFIG")
    (fresh / "hls").mkdir(parents=True)
    (fresh / "hls" / "interface.json").write_text("{}")
    _one_error_line(_run("infer", cfg2, imgs / "a.png", "--backend", "rtl"), "no FSIC wrapper",
                    "unet-fsic wrap CONFIG")
    occupied = tmp_path / "photos"
    occupied.mkdir()
    (occupied / "holiday.txt").write_text("mine\n")
    _one_error_line(_run("infer", cfg_path, imgs / "a.png", "--out", occupied), "not an earlier `unet-fsic infer`")
    assert [p.name for p in occupied.iterdir()] == ["holiday.txt"]


def test_interrupted_write_keeps_the_earlier_result(build, tmp_path, monkeypatch):
    """Ctrl-C (SIGINT, the CLI's handler raises ``Interrupted``) after the first output file is written: the earlier
    result is untouched and no temporary directory is left (in this process: the CLI's own handler would also end
    this process's children, pytest's among them)."""
    from pipeline.config import load_config
    from pipeline.guard import Interrupted
    from pipeline.stages import infer

    cfg_path, bd, imgs, _ = build
    cfg = load_config(cfg_path)
    out = tmp_path / "out"
    infer.run(cfg, [imgs / "c.png"], out=out)  # the earlier result
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(signum, frame):
        raise Interrupted(signum)

    old = signal.signal(signal.SIGINT, interrupted)
    monkeypatch.setenv("UNET_FSIC_TEST_SIGNAL_AT", "infer_write")
    try:
        with pytest.raises(Interrupted):
            infer.run(cfg, [imgs / "a.png", imgs / "b.png"], out=out, progress=False)
    finally:
        signal.signal(signal.SIGINT, old)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before, "the interrupted run changed the result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "a temporary directory was left behind"


def test_csim_compiles_a_converted_but_uncompiled_project(tmp_path, monkeypatch):
    """--backend csim on a build whose hls4ml project exists but was never compiled calls ensure_compiled (convert +
    g++); the compile itself is what the fixture did (not repeated here)."""
    from pipeline.config import validate
    from pipeline.errors import UserError
    from pipeline.hls import cmodel
    from pipeline.stages import infer

    cfg = validate(dict(json.loads(json.dumps(SMALL)), build_dir=str(tmp_path / "b")))
    (tmp_path / "b" / "hls").mkdir(parents=True)
    (tmp_path / "b" / "hls" / "interface.json").write_text("{}")
    calls = []

    def fake_ensure_compiled(config, log):
        calls.append((config["build_dir"], Path(log)))
        raise UserError("stop here")

    monkeypatch.setattr(cmodel, "ensure_compiled", fake_ensure_compiled)
    with pytest.raises(UserError, match="stop here"):
        infer.CModel(cfg)
    assert calls == [(str(tmp_path / "b"), tmp_path / "b" / "infer" / "compile.log")]


def test_resize_is_the_voc_loaders(tmp_path):
    """keras_model.images.resize_to_model gives exactly what keras_model.voc.load_split gives for the same JPEG."""
    from keras_model import images, voc

    base = tmp_path / "VOC2012"
    rgb = np.random.default_rng(3).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    for rel, data in {"JPEGImages/x1.jpg": None, "SegmentationClass/x1.png": "mask",
                      "ImageSets/Segmentation/train.txt": b"x1\n"}.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            Image.fromarray(rgb).save(p, quality=92)
        elif data == "mask":
            m = Image.fromarray(np.zeros((30, 40), np.uint8), mode="P")
            m.putpalette(voc.voc_palette())
            m.save(p)
        else:
            p.write_bytes(data)
    x, _, _ = voc.load_split(base, "train", (H, W))
    np.testing.assert_array_equal(images.resize_to_model(Image.open(base / "JPEGImages/x1.jpg"), (H, W)), x[0])
