"""Pascal VOC 2012 segmentation, read from a local copy (no download: these machines cannot reach it).

Accepted roots: the ``VOC2012`` directory itself, a ``VOCdevkit`` directory containing it, a directory containing
``VOCdevkit``, or the official ``VOCtrainval_11-May-2012.tar`` (read in place, not extracted).

Masks are the palette PNGs of ``SegmentationClass/``: the *palette index* is the class (0 background, 1..20 objects)
and 255 is void (object borders, difficult regions) -- ignored by the loss and the metrics. (The seed divided the
indices by 255, which turned the task into "void vs everything"; we do not.) Images are resized bilinearly and masks
with nearest neighbour to the model size.
"""
from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.errors import UserError

CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
VOID = 255
_ID_RE = re.compile(r"[A-Za-z0-9_.-]+")  # VOC image ids look like 2007_000032


def _one_line(e, limit: int = 200) -> str:
    """An exception's text as one short line (tarfile / PIL messages can span lines)."""
    t = " ".join(str(e).split()) or type(e).__name__
    return t if len(t) <= limit else t[:limit] + "..."


def voc_palette() -> list[int]:
    """The standard VOC colour map (bit-interleaved), 256 entries flattened as [r,g,b,...]."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


class _Source:
    """Uniform access to VOC2012 files in a directory or in the tar."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.tar = None
        if not self.root.exists():
            raise UserError(f"VOC root {root}: no such file or directory")
        if self.root.is_file():
            try:
                self.tar = tarfile.open(self.root)
            except (tarfile.TarError, OSError) as e:
                why = [ln.strip("- ") for ln in str(e).splitlines() if "method tar" in ln] or [e]
                raise UserError(f"VOC root {root}: not a readable tar file ({_one_line(why[0])})") from None
            members = self._list_tar()
            names = [m.name for m in members]
            marker = "ImageSets/Segmentation/train.txt"
            hits = [n for n in names if n.endswith(marker)]
            if not hits:
                raise UserError(f"VOC root {root}: tar has no */{marker} (is this VOCtrainval_11-May-2012.tar?)")
            self.prefix = hits[0][: -len(marker)]
            self.members = {m.name: m for m in members}
        else:
            for cand in (self.root, self.root / "VOC2012", self.root / "VOCdevkit" / "VOC2012"):
                if (cand / "ImageSets" / "Segmentation").is_dir():
                    self.base = cand
                    break
            else:
                raise UserError(
                    f"VOC root {root}: no ImageSets/Segmentation found (expected VOC2012/, VOCdevkit/VOC2012/ or the "
                    "official tar)")

    def _list_tar(self) -> list:
        """Every member, or one line if the tar is truncated / corrupt. tarfile stops silently at a missing or cut
        header, so the archive must also end with its end-of-archive (zero) block where the listing stopped."""
        try:
            members = self.tar.getmembers()
            f = self.tar.fileobj
            f.seek(self.tar.offset)
            end = f.read(tarfile.BLOCKSIZE)
        except Exception as e:  # tarfile.ReadError, EOFError / zlib / lzma errors of compressed tars, OSError
            raise UserError(f"VOC root {self.root}: truncated or corrupt tar ({_one_line(e)})") from None
        if len(end) < tarfile.BLOCKSIZE or end.count(0) != tarfile.BLOCKSIZE:
            last = f" after {members[-1].name}" if members else ""
            raise UserError(f"VOC root {self.root}: truncated or corrupt tar (no end-of-archive block{last}; "
                            "re-copy or re-download it)")
        return members

    def read(self, rel: str) -> bytes:
        if self.tar is not None:
            m = self.members.get(self.prefix + rel)
            if m is None or not m.isfile():
                raise UserError(f"VOC root {self.root}: missing {rel} in the tar")
            try:
                return self.tar.extractfile(m).read()
            except Exception as e:  # a corrupt compressed stream
                raise UserError(f"VOC root {self.root}: cannot read {rel} from the tar ({_one_line(e)})") from None
        p = self.base / rel
        if not p.is_file():
            raise UserError(f"VOC root {self.root}: missing {rel}")
        return p.read_bytes()


def load_split(root: str | Path, split: str, size=(64, 64), limit: int | None = None):
    """(images (n,H,W,3) uint8, masks (n,H,W) uint8 with 0..20 and 255 void, ids)."""
    src = _Source(root)
    listing = f"ImageSets/Segmentation/{split}.txt"
    try:
        text = src.read(listing).decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"VOC root {root}: {listing} is not UTF-8 text (offset {e.start})") from None
    ids = [s.strip() for s in text.splitlines() if s.strip()]
    if limit:
        ids = ids[:limit]
    if not ids:
        raise UserError(f"VOC root {root}: {listing} lists no images")
    bad = next((sid for sid in ids if not _ID_RE.fullmatch(sid) or ".." in sid), None)
    if bad is not None:
        raise UserError(f"VOC root {root}: {listing}: bad image id {bad[:80]!r} (expected names like 2007_000032)")
    h, w = size
    x = np.empty((len(ids), h, w, 3), np.uint8)
    y = np.empty((len(ids), h, w), np.uint8)
    for i, sid in enumerate(ids):
        try:
            im = Image.open(io.BytesIO(src.read(f"JPEGImages/{sid}.jpg"))).convert("RGB")
            mk = Image.open(io.BytesIO(src.read(f"SegmentationClass/{sid}.png")))
        except UserError:
            raise
        except Exception as e:  # PIL's many exception types for corrupt files
            raise UserError(f"VOC root {root}: cannot read image/mask of '{sid}' ({_one_line(e)})") from None
        if mk.mode != "P":
            raise UserError(f"VOC root {root}: SegmentationClass/{sid}.png is mode {mk.mode}, expected a palette PNG")
        if mk.size != im.size:
            raise UserError(f"VOC root {root}: SegmentationClass/{sid}.png is {mk.size[0]}x{mk.size[1]} but "
                            f"JPEGImages/{sid}.jpg is {im.size[0]}x{im.size[1]} (a mask must match its image)")
        x[i] = np.asarray(im.resize((w, h), Image.BILINEAR))
        m = np.asarray(mk.resize((w, h), Image.NEAREST))
        bad = (m > 20) & (m != VOID)
        if bad.any():
            raise UserError(f"VOC root {root}: SegmentationClass/{sid}.png has class index {int(m[bad][0])} "
                            "(expected 0..20 or 255)")
        y[i] = m
    return x, y, ids
