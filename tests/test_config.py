"""Config validation: every bad input is one line naming the file and key, exit 2, nothing written."""
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import SCHEMA, defaults, load_config, to_markdown, validate
from pipeline.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_shipped_configs_are_valid():
    for p in sorted((REPO / "hls4ml_configs").glob("*.yaml")):
        if p.name.startswith("sweep"):
            continue
        if "voc" in p.name:
            # the VOC example points at a file the user supplies; everything but that must validate
            with pytest.raises(ConfigError, match="data.voc.root: no such file"):
                load_config(p)
            continue
        load_config(p)


@pytest.mark.parametrize("user,match", [
    ({"train": {"float": {"epoch": 3}}}, r"train\.float\.epoch: unknown key \(did you mean 'epochs'\?\)"),
    ({"train": {"float": {"epochs": "ten"}}}, r"train\.float\.epochs: expected an integer >= 0, got 'ten'"),
    ({"train": {"float": {"epochs": -1}}}, r"train\.float\.epochs: expected an integer >= 0, got -1"),
    ({"quant": {"weight_bits": 1}}, r"quant\.weight_bits: expected an integer in \[2, 16\], got 1"),
    ({"hls": {"backend": "Quartus"}}, r"hls\.backend: expected one of 'Vitis', 'Vivado'"),
    ({"model": {"input_shape": [64, 64]}}, r"model\.input_shape: expected 3 items, got 2"),
    ({"model": {"input_shape": [60, 64, 3]}}, r"model\.input_shape: H and W must be divisible by 2\*\*depth"),
    ({"data": {"source": "voc"}}, r"data\.voc\.root: required"),
    ({"data": {"voc": {"root": "/definitely/not/here"}}}, r"data\.voc\.root: no such file or directory"),
    ({"model": 3}, r"model: expected a mapping"),
    ({"quant": {"int_bits": {"enc1_conv1": "x"}}}, r"quant\.int_bits\.enc1_conv1: expected an integer"),
])
def test_validation_errors_name_the_key(user, match):
    with pytest.raises(ConfigError, match=match):
        validate(user, "x.yaml")


def _cli(args, cwd):
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=300)


@pytest.mark.parametrize("text,match", [
    ("train:\n  float:\n    epoch: 3\n", "train.float.epoch: unknown key"),
    ("model: {depth: 9}\n", "model.depth: expected an integer in [1, 6], got 9"),
    ("model: [1, 2\n", "not valid YAML (line"),
    ("data: {source: voc, voc: {root: missing_dir}}\n", "data.voc.root: no such file or directory: missing_dir"),
])
def test_cli_bad_config_one_line_exit_2_nothing_written(tmp_path, text, match):
    cfgf = tmp_path / "bad.yaml"
    cfgf.write_text(f"build_dir: {tmp_path / 'out'}\n" + text)
    r = _cli(["train", str(cfgf)], tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("unet-fsic: error: ") and str(cfgf) in lines[0] and match in lines[0]
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_cli_missing_config_file(tmp_path):
    r = _cli(["evaluate", str(tmp_path / "nope.yaml")], tmp_path)
    assert r.returncode == 2 and "no such config file" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_docs_config_reference_is_current():
    doc = (REPO / "docs" / "config.md").read_text()
    assert doc.strip() == to_markdown().strip(), \
        "regenerate with: python -m pipeline.config --markdown > docs/config.md"


def test_defaults_cover_schema():
    d = defaults()
    assert set(d) == set(SCHEMA.keys)
    assert d["model"]["input_shape"] == [64, 64, 3] and d["quant"]["weight_bits"] == 5
