"""``unet-fsic infer CONFIG IMAGE_OR_DIR... [--backend keras|csim|rtl|pynq] [--out DIR] [--compare]``: the build's
model on your own PNG / JPEG images (a command without a stage; full description in docs/infer.md).

Each image is read with Pillow, converted to RGB (RGBA / LA: alpha dropped; greyscale: grey copied to R, G, B;
palette: its colours; 1-bit, CMYK: Pillow's conversion; a JPEG's EXIF orientation applied) and resized to the model's
input size as the data loader resizes VOC images (:func:`keras_model.images.resize_to_model`: Pillow bilinear). The
chosen backend computes its class map:

* ``keras``: the trained W5A8 Keras model (``hls.model_file`` or ``BUILD/train/w5a8_model.h5``), argmax of its logits
  (lowest index on ties);
* ``csim``: the build's compiled hls4ml C model (``BUILD/hls/firmware/*.so``, checked by
  :func:`pipeline.hls.cmodel.compiled_model`; compiled first with :func:`pipeline.hls.cmodel.ensure_compiled` when
  the hls4ml project exists but was never compiled), called through its ``<top>_double`` entry -- the entry hls4ml's
  ``predict`` and the simulated IP (``fsic_wrapper/sim/uf_hls_ip.py``) call -- on the hardware input codes;
* ``rtl``: the FSIC wrapper's RTL simulation through the host driver (``pipeline.host.open(build, backend="sim")``,
  Icarus, the compiled C model as the IP);
* ``pynq``: the board through the host driver (``backend="pynq"``); off the board its ``NoHardwareError`` line.

Per image it writes ``<name>_class.png`` (mode "P", the model's input size, pixel value = class index, palette =
VOC's for ``data.source: voc``, :func:`keras_model.images.synthetic_palette` otherwise) and ``<name>_overlay.png``
(the RGB image at its original size blended with the class colours, class map scaled up with nearest neighbour), plus
``infer.json``. ``--compare`` adds the pixel-for-pixel agreement with the Keras model (exit 1 below
``csim.threshold``, default 100 %).

Every input is checked before anything is written (unreadable / corrupt / empty / 16-bit / animated / not PNG or
JPEG / a directory without images: one line naming the file, exit 2), and so are the build outputs the backend needs.
The outputs are written into a temporary directory beside ``--out`` (default ``BUILD/infer/<backend>``) and renamed
into place at the end, replacing an earlier ``infer`` result there: an interrupted run leaves no result.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..build import BuildDir
from ..errors import UserError
from ..guard import swap_dir, test_hook

BACKENDS = ("keras", "csim", "rtl", "pynq")
FORMATS = ("PNG", "JPEG")
SUFFIXES = (".png", ".jpg", ".jpeg")  # what a directory argument contributes (case-insensitive)
DEVICE_TIMEOUT_S = 600.0  # per frame / register access on the rtl and pynq backends (an RTL frame takes seconds)
CONVERSIONS = {
    "RGB": "none (RGB)",
    "RGBA": "RGBA -> RGB: alpha channel dropped (colours kept as stored)",
    "RGBX": "RGBX -> RGB: padding channel dropped",
    "L": "greyscale (L) -> RGB: grey copied to R, G and B",
    "LA": "greyscale + alpha (LA) -> RGB: grey copied to R, G and B, alpha dropped",
    "P": "palette (P) -> RGB: palette colours (transparency ignored)",
    "PA": "palette + alpha (PA) -> RGB: palette colours, alpha dropped",
    "1": "1-bit (1) -> RGB: black 0, white 255",
    "CMYK": "CMYK -> RGB (Pillow's conversion)",
    "YCbCr": "YCbCr -> RGB (Pillow's conversion)",
}
ORIENTATION = 0x0112  # the EXIF tag


@dataclass
class InputImage:
    path: Path
    format: str
    mode: str
    size: tuple[int, int]  # (width, height) as stored in the file
    conversion: str


# --- inputs ------------------------------------------------------------------------------------------------------
def expand_inputs(args) -> list[Path]:
    """The image files named by ``args`` (files as given; a directory: its ``*.png`` / ``*.jpg`` / ``*.jpeg`` files,
    not recursive, sorted by name). A missing path or a directory without such files is one :class:`UserError`."""
    files = []
    for a in args:
        p = Path(a)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in SUFFIXES
                           and not f.name.startswith("."))
            if not found:
                raise UserError(f"{p}: directory holds no images (*.png, *.jpg, *.jpeg)")
            files += found
        elif not p.exists():
            raise UserError(f"{p}: no such file or directory")
        else:
            files.append(p)
    return files


def read_image(path: Path) -> InputImage:
    """One PNG or JPEG file checked: decoded completely and converted to RGB -- or one :class:`UserError` naming the
    file and why the model cannot take it. The pixels are not kept (a directory of photos would not fit in memory):
    :func:`load_rgb` reads them again when they are needed."""
    return _open(path, keep=False)[0]


def load_rgb(path: Path):
    """The RGB pixels (a PIL image, EXIF orientation applied) of a file :func:`read_image` accepted."""
    return _open(path, keep=True)[1]


def _open(path: Path, keep: bool):
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise UserError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file (0 bytes), not an image")
    try:
        im = Image.open(path)
    except UnidentifiedImageError:
        raise UserError(f"{path}: not an image (Pillow cannot identify it; infer reads PNG and JPEG)") from None
    except Exception as e:  # DecompressionBombError, OSError, ...
        raise UserError(f"{path}: cannot read it ({_one_line(e)})") from None
    with im:
        _check_image(path, im)
        try:
            im.load()
        except Exception as e:  # truncated data, bad CRC, bad Huffman table, ...
            raise UserError(f"{path}: truncated or corrupt {im.format} data ({_one_line(e)})") from None
        if im.width == 0 or im.height == 0:
            raise UserError(f"{path}: zero-size image ({im.width}x{im.height})")
        conversion = CONVERSIONS[im.mode]
        rgb, turned = _upright(im)
        if turned:
            conversion += f"; EXIF orientation {turned} applied"
        rgb = rgb if rgb.mode == "RGB" else rgb.convert("RGB")
        return InputImage(path, im.format, im.mode, im.size, conversion), (rgb if keep else None)


def _check_image(path: Path, im) -> None:
    """Refuse what the model cannot take, before decoding the pixels: several frames, a format other than PNG/JPEG,
    16-bit channels, an unknown mode."""
    try:
        frames = int(getattr(im, "n_frames", 1))
    except Exception as e:
        raise UserError(f"{path}: truncated or corrupt {im.format} data ({_one_line(e)})") from None
    if frames > 1:
        kind = "APNG" if im.format == "PNG" else im.format
        raise UserError(f"{path}: animated / multi-frame {kind} ({frames} frames): infer takes one still image")
    if im.format not in FORMATS:
        raise UserError(f"{path}: {im.format} image: infer reads PNG and JPEG")
    rawmodes = [t[3] if len(t) > 3 and isinstance(t[3], str) else "" for t in (im.tile or [])]
    if im.mode.startswith("I") or im.mode == "F" or any(";16" in r for r in rawmodes):
        raise UserError(f"{path}: 16-bit image (mode {im.mode}{', ' + rawmodes[0] if rawmodes else ''}): the model "
                        f"takes 8 bits per channel -- convert it to 8-bit RGB first")
    if im.mode not in CONVERSIONS:
        raise UserError(f"{path}: image mode {im.mode} is not supported (RGB, RGBA, greyscale, palette, CMYK are)")


def _upright(im):
    """(image turned as its EXIF orientation says, the orientation applied or 0)."""
    from PIL import ImageOps

    try:
        o = int(im.getexif().get(ORIENTATION, 1))
    except Exception:  # unreadable EXIF: the pixels are still fine
        o = 1
    if o in range(2, 9):
        return ImageOps.exif_transpose(im), o
    return im, 0


def _one_line(e, limit: int = 200) -> str:
    t = " ".join(str(e).split()) or type(e).__name__
    return t if len(t) <= limit else t[:limit] + "..."


def output_names(paths: list[Path]) -> list[str]:
    """A distinct base name per input: the file's stem, ``-2``, ``-3``... appended on a repeat."""
    used, names = set(), []
    for p in paths:
        name, k = p.stem, 1
        while name in used:
            k += 1
            name = f"{p.stem}-{k}"
        used.add(name)
        names.append(name)
    return names


def output_dir(config, backend: str, out) -> Path:
    """Where the results go (default ``BUILD/infer/<backend>``), checked: a new or empty directory, or one holding an
    earlier ``infer`` result (``infer.json``), which the new result replaces."""
    d = Path(out) if out else BuildDir.of(config).root / "infer" / backend
    if d.exists() and not d.is_dir():
        raise UserError(f"--out {d}: exists and is not a directory")
    if d.is_dir() and any(d.iterdir()) and not (d / "infer.json").is_file():
        raise UserError(f"--out {d}: holds files that are not an earlier `unet-fsic infer` result (no infer.json); "
                        f"name a new or empty directory")
    return d


# --- backends ------------------------------------------------------------------------------------------------------
def check_backend(config, backend: str, compare: bool) -> None:
    """The build outputs the backend needs, checked before anything is loaded or written (one line each)."""
    from ..hls.project import model_path

    bd = BuildDir.of(config)
    if backend == "keras" or compare:
        p = model_path(config)
        if not p.is_file():
            hint = "set hls.model_file" if config["hls"].get("model_file") else "run `unet-fsic train CONFIG` first"
            raise UserError(f"{p}: no trained W5A8 model -- {hint}")
    if backend in ("csim", "rtl") and bd.compiled_lib() is None and not bd.interface_json.is_file():
        raise UserError(f"{bd.hls}: no hls4ml project -- run `unet-fsic csim CONFIG` (converts and compiles the C "
                        f"model) first")
    if backend == "rtl" and not (bd.fsic_rtl / "USER_PRJ0.v").is_file():
        raise UserError(f"{bd.fsic}: no FSIC wrapper (rtl/USER_PRJ0.v) -- run `unet-fsic wrap CONFIG` first")
    if backend == "rtl":
        from ..hw.rtlsim import require_simulator

        require_simulator("icarus", "--backend rtl")


class KerasModel:
    """The trained W5A8 Keras model: (H, W, 3) uint8 -> (H, W) classes (argmax, lowest index on ties)."""

    def __init__(self, config):
        from keras_model.data import to_model_input

        from ..hls.project import load_keras_model, model_path

        self.model = load_keras_model(config)
        self.to_input = to_model_input
        self.detail = f"Keras (TensorFlow, CPU): the W5A8 model {model_path(config)}"
        want = tuple(config["model"]["input_shape"])
        if tuple(self.model.input_shape[1:]) != want:
            raise UserError(f"{model_path(config)}: the model takes {self.model.input_shape[1:]}, the config's "
                            f"model.input_shape is {list(want)}")
        self(np.zeros(want, np.uint8))  # traces the graph here, so each image's wall time is its own

    def __call__(self, img: np.ndarray) -> np.ndarray:
        y = np.asarray(self.model.predict_on_batch(self.to_input(img[None])))[0]
        return (np.argmax(y, axis=-1) if y.ndim == 3 else np.rint(y).reshape(img.shape[:2])).astype(np.uint8)

    def close(self):
        pass


class CModel:
    """The build's compiled hls4ml C model, called in this process through its ``<top>_double`` entry on the
    hardware input codes (value = code / 2^in_frac_bits): (H, W, 3) uint8 -> (H, W) classes."""

    def __init__(self, config):
        import ctypes

        from ..hls.cmodel import compiled_model, ensure_compiled

        bd = BuildDir.of(config)
        if bd.compiled_lib() is None:
            log = bd.root / "infer" / "compile.log"
            print(f"[infer] {bd.hls_firmware}: not compiled yet -- converting and compiling the C model (g++; log "
                  f"{log})", flush=True)
            ensure_compiled(config, log)
        lib, itf_path = compiled_model(bd)
        _not_stale(config, lib)
        itf = json.loads(itf_path.read_text())
        self.fn = getattr(ctypes.CDLL(str(lib)), f"{itf['hls_top_name']}_double")
        self.fn.restype = None
        dptr = np.ctypeslib.ndpointer(dtype=np.float64, flags="C_CONTIGUOUS")
        self.fn.argtypes = [dptr, dptr]
        self.in_shape = tuple(itf["in_shape"])
        if self.in_shape != tuple(config["model"]["input_shape"]):
            raise UserError(f"{itf_path}: the C model takes {list(self.in_shape)}, the config's model.input_shape is "
                            f"{config['model']['input_shape']} -- re-run `unet-fsic csim CONFIG`")
        self.n_out = int(np.prod(itf["out_shape"]))
        self.in_scale = 2.0 ** -int(itf["in_frac_bits"])
        self.argmax = itf["output_mode"] == "argmax"
        self.fw_dir = lib.parent
        self.detail = f"csim (g++): the compiled hls4ml C model {lib}"

    def __call__(self, img: np.ndarray) -> np.ndarray:
        from ..hw.streams import hardware_input

        h, w = self.in_shape[:2]
        x = np.ascontiguousarray(hardware_input(img).astype(np.float64).reshape(-1) * self.in_scale)
        y = np.zeros(self.n_out, dtype=np.float64)
        cwd = os.getcwd()
        os.chdir(self.fw_dir)  # as hls4ml's predict: the library may read weight files relative to it
        try:
            self.fn(x, y)
        finally:
            os.chdir(cwd)
        if self.argmax:
            return np.rint(y).astype(np.uint8).reshape(h, w)
        return np.argmax(y.reshape(h, w, -1), axis=-1).astype(np.uint8)

    def close(self):
        pass


def _not_stale(config, lib: Path) -> None:
    from ..hls.project import model_path

    m = model_path(config)
    if m.is_file() and m.stat().st_mtime > lib.stat().st_mtime:
        raise UserError(f"{lib}: the compiled C model is older than the trained model {m} -- re-run `unet-fsic csim "
                        f"CONFIG` (and `unet-fsic wrap CONFIG` for --backend rtl)")


class Device:
    """The host driver (:mod:`pipeline.host`) on the wrapper's RTL simulation (``rtl``) or the board (``pynq``)."""

    def __init__(self, config, backend: str):
        from .. import host

        self.host, self.backend = host, backend
        bd = BuildDir.of(config)
        if backend == "rtl":
            from ..hls.cmodel import compiled_model

            _not_stale(config, compiled_model(bd)[0])
        try:
            self.dev = host.open(bd.root, backend="sim" if backend == "rtl" else "pynq", timeout=DEVICE_TIMEOUT_S)
        except host.UnetFsicError as e:
            raise UserError(self._line(e)) from None
        try:
            ident = self.dev.identity()
        except host.UnetFsicError as e:
            self.dev.close()
            raise UserError(self._line(e)) from None
        self.detail = (f"RTL sim (Icarus via cocotb): the FSIC wrapper {bd.fsic} with the compiled C model as the IP, "
                       f"through the host driver" if backend == "rtl" else "the board (PYNQ) through the host driver")
        self.detail += f" (identity: {ident['H']}x{ident['W']}, model hash 0x{ident['model_hash']:08X})"

    def _line(self, e) -> str:
        lines = str(e).strip().splitlines() or [type(e).__name__]
        msg = lines[0] + (" (more in the simulator log under BUILD/host_sim)" if len(lines) > 1 else "")
        return msg if msg.startswith(("sim backend", "pynq backend")) else f"--backend {self.backend}: {msg}"

    def __call__(self, img: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(self.dev.infer(img), dtype=np.uint8)
        except self.host.UnetFsicError as e:
            raise UserError(self._line(e)) from None

    def close(self):
        try:
            self.dev.close()
        except Exception:  # the simulator is already gone (Ctrl-C ended it): kill what is left, quietly
            be = getattr(self.dev, "backend", None)
            if be is not None:
                with contextlib.suppress(Exception):
                    be.close(kill=True)


def open_backend(config, backend: str):
    if backend == "keras":
        return KerasModel(config)
    if backend == "csim":
        return CModel(config)
    return Device(config, backend)


# --- the command ---------------------------------------------------------------------------------------------------
def run(config, paths, backend: str = "keras", out=None, compare: bool = False, progress: bool | None = None) -> dict:
    """Check every input and the build, run the backend on every image, write the outputs (see the module doc).
    Returns the ``infer.json`` dict plus ``out`` (the output directory)."""
    if backend not in BACKENDS:
        raise UserError(f"--backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    files = expand_inputs(paths)
    if not files:
        raise UserError("no images given")
    images = [read_image(p) for p in files]  # every input checked before anything is loaded or written
    d = output_dir(config, backend, out)
    check_backend(config, backend, compare)
    t0 = time.time()
    preds, refs, walls, detail, setup = _predict_all(config, backend, images, compare, progress)
    from keras_model import images as kimages

    pal_name, palette = kimages.class_palette(config)
    rec = _record(config, backend, detail, images, output_names(files), preds, refs, walls, pal_name, setup)
    rec["total_wall_s"] = round(time.time() - t0, 3)
    _write(d, rec, images, preds, palette)
    return dict(rec, out=str(d))


def _predict_all(config, backend, images, compare, progress):
    """(class maps, Keras class maps or None, wall time per image, backend description, setup seconds). The backend
    is opened first (a board that is not there is reported before TensorFlow is imported)."""
    from contextlib import ExitStack

    if progress is None:
        progress = len(images) > 1
    with ExitStack() as stack:
        t0 = time.time()
        model = open_backend(config, backend)
        stack.callback(model.close)
        ref_model = model if backend == "keras" or not compare else KerasModel(config)
        setup = time.time() - t0
        from keras_model import images as kimages

        h, w, _ = config["model"]["input_shape"]
        bar = None
        if progress:
            from tqdm import tqdm

            bar = stack.enter_context(tqdm(total=len(images), desc=f"infer ({backend})", unit="image",
                                           file=sys.stderr))
        preds, refs, walls = [], [], []
        for im in images:
            img = kimages.resize_to_model(load_rgb(im.path), (h, w))
            t1 = time.time()
            preds.append(model(img))
            walls.append(time.time() - t1)
            if compare:
                refs.append(preds[-1] if ref_model is model else ref_model(img))
            if bar is not None:
                bar.update(1)
    return np.stack(preds), (np.stack(refs) if compare else None), walls, model.detail, setup


def _histogram(classes: np.ndarray, names: list[str]) -> list[dict]:
    counts = np.bincount(classes.reshape(-1), minlength=len(names))
    return [{"class": int(i), "name": names[i] if i < len(names) else f"class{i}", "pixels": int(c),
             "fraction": round(float(c) / classes.size, 6)} for i, c in enumerate(counts) if c]


def _agreement(pred: np.ndarray, ref: np.ndarray) -> dict:
    diff = int(np.count_nonzero(pred != ref))
    return {"reference": "keras", "pixels": int(pred.size), "differing_pixels": diff,
            "agreement": (pred.size - diff) / pred.size}


def _record(config, backend, detail, images, names, preds, refs, walls, pal_name, setup) -> dict:
    from keras_model import images as kimages
    from keras_model.data import class_names

    cls_names = class_names(config)
    h, w, c = config["model"]["input_shape"]
    rec = {"backend": backend, "backend_detail": detail, "config": config.get("_config_file"),
           "build_dir": str(BuildDir.of(config).root), "model_input": [h, w, c],
           "resize": f"Pillow Image.resize to {w}x{h}, {kimages.RESAMPLE_NAME}, as keras_model/voc.py resizes VOC "
                     f"images",
           "class_png": f"mode P, {w}x{h} (the model's input size), pixel value = class index, {pal_name} palette",
           "overlay_png": "the RGB image at its original size, 45 % image + 55 % class colour (class map scaled up "
                          "with nearest neighbour)",
           "palette": pal_name, "setup_s": round(setup, 3), "images": []}
    for i, (im, name) in enumerate(zip(images, names)):
        r = {"source": str(im.path.resolve()), "format": im.format, "mode": im.mode, "conversion": im.conversion,
             "original_size": {"width": im.size[0], "height": im.size[1]}, "backend": backend,
             "class_png": f"{name}_class.png", "overlay_png": f"{name}_overlay.png",
             "class_histogram": _histogram(preds[i], cls_names), "wall_s": round(walls[i], 4)}
        if refs is not None:
            r["compare"] = _agreement(preds[i], refs[i])
        rec["images"].append(r)
    if refs is not None:
        rec["compare"] = dict(_agreement(preds, refs), threshold=float(config["csim"]["threshold"]))
    return rec


def _write(d: Path, rec: dict, images, preds, palette) -> None:
    """All outputs into a temporary directory beside ``d``, then renamed into place (replacing an earlier result)."""
    from PIL import Image

    from keras_model import images as kimages

    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=d.parent, prefix=f".{d.name}.tmp-"))
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 -> an ordinary directory once renamed
        for im, r, cls in zip(images, rec["images"], preds):
            kimages.class_png(cls, palette).save(tmp / r["class_png"])
            rgb = np.asarray(load_rgb(im.path))
            Image.fromarray(kimages.overlay(rgb, cls, palette)).save(tmp / r["overlay_png"])
            test_hook("infer_write")
        (tmp / "infer.json").write_text(json.dumps(rec, indent=2) + "\n")
        swap_dir(tmp, d)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _summary_lines(rec: dict) -> list[str]:
    lines = []
    for r in rec["images"]:
        top = sorted(r["class_histogram"], key=lambda e: -e["pixels"])[:3]
        classes = ", ".join(f"{e['name']} {100 * e['fraction']:.1f} %" for e in top)
        size = f"{r['original_size']['width']}x{r['original_size']['height']}"
        cmp = ""
        if "compare" in r:
            cmp = f"; vs Keras: {r['compare']['differing_pixels']} of {r['compare']['pixels']} pixels differ"
        lines.append(f"[infer] {r['source']}: {size} {r['format']}, conversion: {r['conversion']} -> "
                     f"{r['class_png']}, {r['overlay_png']}: {classes} ({r['wall_s']:.3f} s{cmp})")
    return lines


def cmd_infer(args, cfg) -> int:
    rec = run(cfg, args.images, backend=args.backend, out=args.out, compare=args.compare)
    for line in _summary_lines(rec):
        print(line)
    print(f"[infer] {len(rec['images'])} image(s) through {rec['backend_detail']}; each image resized with "
          f"{rec['resize']}")
    print(f"[infer] outputs in {rec['out']} (infer.json, *_class.png, *_overlay.png)")
    c = rec.get("compare")
    if c:
        print(f"[infer] --compare: {c['pixels'] - c['differing_pixels']} of {c['pixels']} pixels agree with the Keras "
              f"model ({100 * c['agreement']:.4f} %, {c['differing_pixels']} differ)")
        if c["agreement"] < c["threshold"]:
            print(f"unet-fsic: error: --compare: {c['differing_pixels']} of {c['pixels']} pixels differ from the "
                  f"Keras model (agreement {100 * c['agreement']:.4f} % < csim.threshold {100 * c['threshold']:g} %; "
                  f"see {rec['out']}/infer.json)", file=sys.stderr)
            return 1
    return 0


def register_cli(add):
    sp = add("infer", cmd_infer, "run the build's model on your own PNG/JPEG images (any size: converted to RGB and "
             "resized bilinearly to the model's input) and write per image a class-index PNG, an overlay PNG and "
             "infer.json into --out (default BUILD/infer/<backend>); see docs/infer.md")
    sp.add_argument("images", nargs="+", metavar="IMAGE_OR_DIR",
                    help="PNG or JPEG files, or directories (their *.png, *.jpg, *.jpeg files, not recursive)")
    sp.add_argument("--backend", choices=BACKENDS, default="keras",
                    help="keras: the trained W5A8 model (default); csim: the compiled hls4ml C model; rtl: the FSIC "
                         "wrapper's RTL simulation (Icarus) through the host driver; pynq: the board")
    sp.add_argument("--out", metavar="DIR", help="output directory (default BUILD/infer/<backend>); an earlier infer "
                    "result there is replaced")
    sp.add_argument("--compare", action="store_true", help="also run the Keras model and report the pixel-for-pixel "
                    "agreement (exit 1 below csim.threshold)")
