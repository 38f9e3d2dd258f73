"""Data sets: the embedded synthetic set, and Pascal VOC read from a VOC-layout fixture written by the test."""
import io
import tarfile

import numpy as np
import pytest
from PIL import Image

import keras_model  # noqa: F401
from keras_model import data, synthetic, voc
from pipeline.config import validate
from pipeline.errors import UserError


def test_synthetic_is_deterministic_and_non_trivial():
    x1, y1 = synthetic.make_split(5, "train", 24)
    x2, y2 = synthetic.make_split(5, "train", 24)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    xv, _ = synthetic.make_split(5, "val", 24)
    assert not np.array_equal(x1, xv)  # splits differ
    assert x1.shape == (24, 64, 64, 3) and x1.dtype == np.uint8 and y1.shape == (24, 64, 64)
    labels = set(np.unique(y1).tolist())
    assert labels <= set(range(21)) | {255}
    assert 255 in labels  # object borders are void, like VOC
    x, y = synthetic.make_split(5, "train", 200)
    valid = y != 255
    counts = np.bincount(y[valid], minlength=21)
    assert (counts > 0).all(), "every one of the 21 classes occurs"
    assert counts.max() / counts.sum() < 0.45, "a majority-class predictor must score well under 50 %"


def _palette_png(mask: np.ndarray) -> bytes:
    im = Image.fromarray(mask.astype(np.uint8), mode="P")
    im.putpalette(voc.voc_palette())
    b = io.BytesIO()
    im.save(b, format="PNG")
    return b.getvalue()


def _jpeg(rgb: np.ndarray) -> bytes:
    b = io.BytesIO()
    Image.fromarray(rgb).save(b, format="JPEG", quality=95)
    return b.getvalue()


def _fixture_files():
    """A VOC-layout fixture: 3 images at 128x96 with known class rectangles and void borders."""
    files = {}
    truth = {}
    for k, (sid, cls) in enumerate([("2007_000001", 15), ("2007_000002", 7), ("2008_000003", 20)]):
        m = np.zeros((96, 128), np.uint8)
        m[16:80, 32:96] = cls
        m[14:16, 30:98] = 255  # void band above the object
        rgb = np.full((96, 128, 3), 40, np.uint8)
        rgb[16:80, 32:96] = (200, 50 + 40 * k, 30)
        files[f"JPEGImages/{sid}.jpg"] = _jpeg(rgb)
        files[f"SegmentationClass/{sid}.png"] = _palette_png(m)
        truth[sid] = (m, cls)
    files["ImageSets/Segmentation/train.txt"] = b"2007_000001\n2007_000002\n"
    files["ImageSets/Segmentation/val.txt"] = b"2008_000003\n"
    return files, truth


def _write_dir(root, files):
    for rel, b in files.items():
        p = root / "VOCdevkit" / "VOC2012" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b)


def _write_tar(path, files):
    with tarfile.open(path, "w") as t:
        for rel, b in files.items():
            info = tarfile.TarInfo("VOCdevkit/VOC2012/" + rel)
            info.size = len(b)
            t.addfile(info, io.BytesIO(b))


@pytest.mark.parametrize("form", ["dir", "tar"])
def test_voc_fixture_round_trip(tmp_path, form):
    files, truth = _fixture_files()
    if form == "dir":
        _write_dir(tmp_path, files)
        root = tmp_path  # the directory containing VOCdevkit/
    else:
        root = tmp_path / "VOCtrainval_11-May-2012.tar"
        _write_tar(root, files)
    x, y, ids = voc.load_split(root, "train", (64, 64))
    assert ids == ["2007_000001", "2007_000002"]
    assert x.shape == (2, 64, 64, 3) and y.shape == (2, 64, 64)
    for i, sid in enumerate(ids):
        m, cls = truth[sid]
        # palette index is the class (not /255): nearest resize of the known mask
        ref = np.asarray(Image.fromarray(m, mode="P").resize((64, 64), Image.NEAREST))
        assert np.array_equal(y[i], ref)
        assert set(np.unique(y[i]).tolist()) == {0, cls, 255}
    xv, yv, idv = voc.load_split(root, "val", (64, 64))
    assert idv == ["2008_000003"] and set(np.unique(yv).tolist()) == {0, 20, 255}
    # the object is red-ish where the mask says so (image and mask stay aligned after resizing)
    inside = y[0] == 15
    assert x[0][inside][:, 0].mean() > 150 and x[0][~inside & (y[0] == 0)][:, 0].mean() < 80


def test_voc_through_config_and_void_ignored_in_metrics(tmp_path):
    files, _ = _fixture_files()
    _write_dir(tmp_path, files)
    cfg = validate({"data": {"source": "voc", "voc": {"root": str(tmp_path / "VOCdevkit")}}})
    x, y = data.load(cfg, "val")
    from keras_model import metrics

    cm = metrics.confusion_matrix(y, np.zeros_like(y), 21)
    assert cm.sum() == (y != 255).sum()  # void never counted


def test_voc_errors_are_one_clear_line(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        voc.load_split(tmp_path / "nope", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no ImageSets/Segmentation"):
        voc.load_split(tmp_path / "empty", "train")
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"this is not a tar")
    with pytest.raises(UserError, match="not a readable tar"):
        voc.load_split(bad, "train")
    files, _ = _fixture_files()
    del files["SegmentationClass/2007_000002.png"]
    _write_dir(tmp_path / "partial", files)
    with pytest.raises(UserError, match="missing SegmentationClass/2007_000002.png"):
        voc.load_split(tmp_path / "partial", "train")


@pytest.mark.parametrize("form", ["dir", "tar"])
def test_voc_mask_size_must_match_its_image(tmp_path, form):
    # a mask of another size used to be resized silently and trained on, misaligned with its image
    files, _ = _fixture_files()
    files["SegmentationClass/2007_000002.png"] = _palette_png(np.zeros((48, 64), np.uint8))
    if form == "dir":
        _write_dir(tmp_path, files)
        root = tmp_path
    else:
        root = tmp_path / "VOCtrainval_11-May-2012.tar"
        _write_tar(root, files)
    with pytest.raises(UserError) as ei:
        voc.load_split(root, "train", (64, 64))
    msg = str(ei.value)
    assert msg == (f"VOC root {root}: SegmentationClass/2007_000002.png is 64x48 but JPEGImages/2007_000002.jpg is "
                   "128x96 (a mask must match its image)")
    voc.load_split(root, "val", (64, 64))  # the other split is intact


def _tar_cuts(data: bytes) -> dict:
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        ms = t.getmembers()
    last = ms[-1]
    return {
        "first_header": 100,  # inside the very first header
        "member_data": ms[1].offset_data + 10,  # tarfile: "unexpected end of data"
        "at_header": ms[3].offset,  # exactly at a header: tarfile stops silently, as if the archive ended
        "in_header": ms[3].offset + 100,  # tarfile stops silently too
        "end_marker": last.offset_data + -(-last.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE,  # every member, no end
    }


@pytest.mark.parametrize("cut", ["first_header", "member_data", "at_header", "in_header", "end_marker"])
def test_truncated_voc_tar_is_one_line_naming_the_tar(tmp_path, cut):
    files, _ = _fixture_files()
    full = tmp_path / "full.tar"
    _write_tar(full, files)
    data = full.read_bytes()
    root = tmp_path / "VOCtrainval_11-May-2012.tar"
    n = _tar_cuts(data)[cut]
    assert 0 < n < len(data)
    root.write_bytes(data[:n])
    for split in ("train", "val"):
        with pytest.raises(UserError) as ei:
            voc.load_split(root, split, (64, 64))
        msg = str(ei.value)
        assert "\n" not in msg and len(msg) < 400, msg
        want = "not a readable tar file (method tar: ReadError('truncated header'))" if cut == "first_header" \
            else "truncated or corrupt tar ("
        assert msg.startswith(f"VOC root {root}: {want}"), msg
    voc.load_split(full, "val", (64, 64))  # the whole tar still reads


def test_voc_bad_listing_is_one_line(tmp_path):
    files, _ = _fixture_files()
    files["ImageSets/Segmentation/train.txt"] = b"2007_000001\n../../../etc/passwd\n"
    _write_dir(tmp_path, files)
    with pytest.raises(UserError, match=r"train\.txt: bad image id '\.\./\.\./\.\./etc/passwd'"):
        voc.load_split(tmp_path, "train")
    files["ImageSets/Segmentation/train.txt"] = b"2007_000001\n\xff\xfe\n"
    _write_dir(tmp_path, files)
    with pytest.raises(UserError, match=r"ImageSets/Segmentation/train\.txt is not UTF-8 text \(offset 12\)"):
        voc.load_split(tmp_path, "train")
