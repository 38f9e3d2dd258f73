"""Config hardening (issue #12): hostile or absurd build configs / sweep specs are one error line naming the file and
the key, exit status 2, nothing written -- and never an expansion, a huge allocation, a traceback or a shell command.

Each test feeds a value that, before the fix, was measured to misbehave (alias bomb: > 3 GB and > 60 s; NaN clock:
"Fits: yes"; num_classes 2: traceback; project_name with a shell command: executed; ...).
"""
from __future__ import annotations

import ast
import math
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipeline import config as C
from pipeline.config import SCHEMA, Leaf, Section, check_build_dir, load_config, load_yaml, validate
from pipeline.errors import ConfigError
from pipeline.hw.parts import PARTS
from pipeline.stages import sweep

REPO = Path(__file__).resolve().parents[1]
ENV = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}


def _cli(args, cwd, timeout=120, preexec_fn=None):
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=ENV, timeout=timeout, preexec_fn=preexec_fn)


def _one_line(r, *fragments) -> str:
    """The CLI failed the project's way: exit 2, exactly one stderr line starting `unet-fsic: error: `, no traceback,
    every fragment in it."""
    lines = r.stderr.splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1, r.stderr[-2000:]
    assert lines[0].startswith("unet-fsic: error: "), lines[0]
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def _leaves(node: Section = SCHEMA, prefix: str = ""):
    for k, v in node.keys.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, Section):
            yield from _leaves(v, key)
        else:
            yield key, v


def _nest(key: str, value) -> dict:
    out: dict = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def _write(tmp_path: Path, text: str, name="c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(f"build_dir: {tmp_path / 'out'}\n" + text)
    return p


# ---------------------------------------------------------------------------------------------------------------------
# 1. YAML anchors / aliases, duplicate keys
def _alias_bomb(levels: int = 9) -> str:
    """The classic "billion laughs" under `seed:`: level i is 9 references to level i-1 -> 9**levels strings."""
    names = "abcdefghijklmnop"
    rows = ["seed:", f"  - &{names[0]} [" + ",".join(['"lol"'] * 9) + "]"]
    for i in range(1, levels):
        rows.append(f"  - &{names[i]} [" + ",".join([f"*{names[i - 1]}"] * 9) + "]")
    return "\n".join(rows) + "\n"


def test_alias_bomb_is_what_it_claims():
    # small enough to expand: the plain SafeLoader does expand it (9**3 strings), the strict one refuses it
    small = _alias_bomb(3)

    def count(x):
        return sum(count(y) for y in x) if isinstance(x, list) else 1

    assert count(yaml.safe_load(small)["seed"][2]) == 9**3
    with pytest.raises(Exception, match="anchors and aliases are not allowed"):
        yaml.load(small, Loader=C.StrictLoader)


def test_alias_bomb_one_line_fast_under_memory_limit(tmp_path):
    text = _alias_bomb(9)
    assert len(text) < 600  # a few hundred bytes that expand to 9**9 = 387 M strings
    cfg = _write(tmp_path, text)

    def limit():  # 2 GB of address space: an expansion dies of MemoryError instead of swapping the machine
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    t0 = time.monotonic()
    r = _cli(["estimate", str(cfg)], tmp_path, timeout=10, preexec_fn=limit)
    dt = time.monotonic() - t0
    print(f"alias bomb refused in {dt:.2f} s (CLI start-up included)")
    line = _one_line(r, str(cfg), "seed[0]: YAML anchor &a (line 3, column 5)", "anchors and aliases are not allowed")
    assert len(line) < 200
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text,key,msg", [
    ("x: &a 3\nseed: *a\n", "x", "YAML anchor &a (line 2, column 4)"),  # an anchor alone is refused too
    ("seed: *nowhere\n", "seed", "YAML alias *nowhere (line 2"),
    ("model:\n  <<: {depth: 2}\n", "model.<<", "YAML merge keys are not allowed (line 3"),
])
def test_anchors_aliases_merge_keys_refused(tmp_path, text, key, msg):
    with pytest.raises(ConfigError) as ei:
        load_config(_write(tmp_path, text))
    assert str(ei.value).startswith(f"{tmp_path / 'c.yaml'}: {key}: {msg}"), str(ei.value)


@pytest.mark.parametrize("text,msg", [
    ("seed: 1\nseed: 2\n", "seed: duplicate key (line 3; first at line 2)"),
    ("model:\n  depth: 2\n  base_filters: 4\n  depth: 3\n", "model.depth: duplicate key (line 5; first at line 3)"),
    ("train:\n  float: {epochs: 1, epochs: 2}\n", "train.float.epochs: duplicate key (line 3; first at line 3)"),
    ("build_dir: elsewhere\n", "build_dir: duplicate key (line 2; first at line 1)"),
])
def test_duplicate_keys_refused_with_key_and_lines(tmp_path, text, msg):
    with pytest.raises(ConfigError, match=re.escape(msg)):
        load_config(_write(tmp_path, text))


def test_cli_duplicate_key_one_line(tmp_path):
    cfg = _write(tmp_path, "seed: 1\nseed: 2\n")
    _one_line(_cli(["estimate", str(cfg)], tmp_path), f"{cfg}: seed: duplicate key (line 3; first at line 2)")
    assert not (tmp_path / "out").exists()


def test_sweep_spec_and_its_base_config_use_the_strict_loader(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("seed: 1\nseed: 2\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(f"base_config: base.yaml\nbuild_dir: {tmp_path / 'sw'}\naxes: {{weight_bits: [4, 5]}}\n")
    with pytest.raises(ConfigError, match=re.escape(f"{base}: seed: duplicate key (line 2; first at line 1)")):
        sweep.load_spec(spec)
    spec.write_text(f"base_config: {REPO / 'hls4ml_configs/default.yaml'}\nbuild_dir: {tmp_path / 'sw'}\n"
                    "axes: {weight_bits: &w [4, 5], act_bits: *w}\n")
    with pytest.raises(ConfigError, match=re.escape(f"{spec}: axes.weight_bits: YAML anchor &w (line 3")):
        sweep.load_spec(spec)


# ---------------------------------------------------------------------------------------------------------------------
# 2. size caps
def test_huge_config_file_refused_before_parsing(tmp_path):
    cfg = tmp_path / "big.yaml"
    cfg.write_text(f"build_dir: {tmp_path / 'out'}\njunk: [" + "1," * 5_000_000 + "]\n")  # 10 MB, 5 M items
    n = cfg.stat().st_size
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as ei:
        load_config(cfg)
    print(f"10 MB config refused in {time.monotonic() - t0:.3f} s")
    assert str(ei.value) == f"{cfg}: config file is {n} bytes, at most {C.MAX_FILE_BYTES}"
    _one_line(_cli(["estimate", str(cfg)], tmp_path), f"config file is {n} bytes, at most 262144")
    assert not (tmp_path / "out").exists()


def test_many_values_and_deep_nesting_and_long_numbers_refused(tmp_path):
    many = _write(tmp_path, "junk: [" + "1," * 60_000 + "]\n")  # 120 KB: under the byte cap, over the value cap
    assert many.stat().st_size < C.MAX_FILE_BYTES
    with pytest.raises(ConfigError, match=r"junk\[9995\]: more than 10000 values \(line 2"):
        load_config(many)
    with pytest.raises(ConfigError, match=r"seed(\[0\]){15}: nested deeper than 16 levels"):
        load_config(_write(tmp_path, "seed: " + "[" * 5000 + "\n"))
    # a 100 KB sexagesimal integer took seconds of big-int arithmetic before anything looked at it
    with pytest.raises(ConfigError, match=r"seed: a number of 119999 characters \(line 2, column 7\), at most 100"):
        load_config(_write(tmp_path, "seed: " + ":".join(["59"] * 40_000) + "\n"))
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------------------------
# 3. NaN / inf, 4. absurd sizes: every numeric key of the schema
FLOAT_KEYS = [k for k, v in _leaves() if v.kind == "float"]
INT_KEYS = [k for k, v in _leaves() if v.kind == "int"]


def test_every_number_has_an_upper_bound():
    assert len(FLOAT_KEYS) >= 8 and len(INT_KEYS) >= 25
    for key, leaf in _leaves():
        numeric = [leaf] if leaf.kind in ("int", "float") else [leaf.item] if leaf.item else []
        for lf in numeric:
            if lf.kind in ("int", "float"):
                assert lf.min is not None and (lf.max is not None or lf.cap is not None), key
        if leaf.kind in ("list", "map"):
            assert leaf.length or leaf.max_items, key


@pytest.mark.parametrize("key", FLOAT_KEYS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_refused_for_every_float_key(key, bad):
    with pytest.raises(ConfigError, match=re.escape(f"x.yaml: {key}: expected a number in [") + r".*\(not a finite"):
        validate(_nest(key, bad), "x.yaml")


@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_huge_int_in_float_key_is_a_range_error_not_an_overflow(key):
    with pytest.raises(ConfigError, match=re.escape(f"x.yaml: {key}: expected a number in [")):
        validate(_nest(key, 10**400), "x.yaml")


@pytest.mark.parametrize("key", INT_KEYS)
def test_absurd_ints_refused_for_every_int_key(key):
    leaf = dict(_leaves())[key]
    top = leaf.max if leaf.max is not None else leaf.cap
    try:  # the bound itself passes the range check (a cross-check may still refuse it: target.reserved vs the part)
        validate(_nest(key, int(top)), "x.yaml")
    except ConfigError as e:
        assert key.startswith("target.reserved.") and "leaves nothing for the IP" in str(e), e
    for bad in (int(top) + 1, 10**12, 10**23):
        with pytest.raises(ConfigError, match=re.escape(f"x.yaml: {key}: expected an integer")) as ei:
            validate(_nest(key, bad), "x.yaml")
        assert str(bad) in str(ei.value)


@pytest.mark.parametrize("text,msg", [
    ("hls: {clock_period: .nan}\n", "hls.clock_period: expected a number in [1, 100], got nan (not a finite number)"),
    ("csim: {threshold: .nan}\n", "csim.threshold: expected a number in [0, 1], got nan (not a finite number)"),
    ("train: {float: {lr: .nan}}\n", "train.float.lr: expected a number in [0, 10], got nan (not a finite number)"),
    ("seed: 100000000000000000000000\n",
     "seed: expected an integer >= 0 and at most 4294967295, got 100000000000000000000000"),
    ("data: {synthetic: {train: 1000000000000}}\n",
     "data.synthetic.train: expected an integer >= 1 and at most 100000, got 1000000000000"),
    ("model: {input_shape: [1024, 1024, 3]}\ndata: {synthetic: {train: 2000}}\n",
     "data.synthetic.train: 2000 + 128 images of 1024x1024x3 are 6.2 GiB as uint8, at most 2 GiB"),
    ("model: {num_classes: 2}\n", "model.num_classes: must be 21 for data.source 'synthetic' (its class count), "
                                  "got 2"),
    ("model: {input_shape: [64, 64, 1]}\n", "model.input_shape: C must be 3 (the images are RGB), got 1"),
    ("hls: {part: xc7a35tcpg236-1}\n", "hls.part: unknown FPGA part 'xc7a35tcpg236-1' (known: xc7z010*, xc7z020*, "
                                       "xc7z045*, xczu9eg*)"),
])
def test_cli_bad_values_one_line_exit_2_nothing_written(tmp_path, text, msg):
    cfg = _write(tmp_path, text)
    _one_line(_cli(["estimate", str(cfg)], tmp_path), f"unet-fsic: error: {cfg}: {msg}")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------------------------
# 5. cross-field limits
def _module_constant(rel: str, name: str):
    """A module-level constant read from the source (keras_model imports TensorFlow; this test must not)."""
    for node in ast.parse((REPO / rel).read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not in {rel}")


def test_class_counts_agree_with_the_data_sources():
    assert C.DATA_CLASSES["synthetic"] == _module_constant("keras_model/synthetic.py", "NUM_CLASSES")
    assert C.DATA_CLASSES["voc"] == len(_module_constant("keras_model/voc.py", "CLASSES"))


def test_num_classes_checked_at_load_time_for_voc_too(tmp_path):
    (tmp_path / "voc").mkdir()
    cfg = _write(tmp_path, f"data: {{source: voc, voc: {{root: {tmp_path / 'voc'}}}}}\nmodel: {{num_classes: 20}}\n")
    with pytest.raises(ConfigError, match=r"model\.num_classes: must be 21 for data\.source 'voc'"):
        load_config(cfg)
    validate({"model": {"num_classes": 5}})  # a model-only config (unit tests build such models) stays valid


# ---------------------------------------------------------------------------------------------------------------------
# 6. hls.part
@pytest.mark.parametrize("part", ["xc7z020clg400-1", "xc7z020-clg400-1", "XC7Z010CLG400-1", "xczu9eg-ffvb1156-2-e"])
def test_known_parts_accepted(part):
    assert validate({"hls": {"part": part}})["hls"]["part"] == part


@pytest.mark.parametrize("part,msg", [
    ("xc7a35tcpg236-1", "unknown FPGA part 'xc7a35tcpg236-1'"),
    ("xc7z020clg400-1; rm -rf ~", "not a part name"),  # a known prefix followed by a shell command
    ("xc7z020$(reboot)", "not a part name"),
])
def test_unknown_or_unsafe_part_refused_listing_the_known_parts(part, msg):
    with pytest.raises(ConfigError) as ei:
        validate({"hls": {"part": part}}, "x.yaml")
    assert str(ei.value).startswith(f"x.yaml: hls.part: {msg}")
    assert all(p in str(ei.value) for p in PARTS)


# ---------------------------------------------------------------------------------------------------------------------
# 7. names and paths that reach generated files / a shell: canaries
def _no_canary(tmp_path: Path, *names: str):
    places = [tmp_path, REPO, REPO / "build", *tmp_path.parents]
    for name in names:
        assert not list(tmp_path.rglob(f"*{name}*")), name
        for d in places:
            assert not (d / name).exists(), d / name


BAD_NAMES = ["x;touch${IFS}PWNED;y", "../../../../ESCAPED", "a b", "x`touch PWNED`", "$(touch PWNED)", "1abc",
             "x" * 65, "x\ny"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_project_name_must_be_an_identifier(name):
    with pytest.raises(ConfigError, match=r"x\.yaml: hls\.project_name: expected a string matching"):
        validate({"hls": {"project_name": name}}, "x.yaml")


@pytest.mark.parametrize("field,name", [("quant.int_bits", "enc1;touch PWNED"), ("hls.reuse_factors", "../x"),
                                        ("hls.precision_overrides", "a b")])
def test_layer_names_in_maps_must_be_identifiers(field, name):
    value = {"result": "ap_fixed<8,3>"} if field.endswith("overrides") else 4
    with pytest.raises(ConfigError, match=re.escape(f"{field}.{name}: expected layer names matching")):
        validate(_nest(field, {name: value}), "x.yaml")


def test_precision_override_values_are_hls_types():
    ok = {"head": {"result": "ap_fixed<8,3,AP_RND_CONV,AP_SAT>", "weight": "ap_int<5>"}}
    assert validate({"hls": {"precision_overrides": ok}})["hls"]["precision_overrides"] == ok
    with pytest.raises(ConfigError, match=r"precision_overrides\.head\.result: expected a string that is an ap_fixed"):
        validate({"hls": {"precision_overrides": {"head": {"result": 'ap_fixed<8,3>; system("touch PWNED")'}}}})


@pytest.mark.parametrize("cmd", [["estimate"], ["run", "--dry-run"]])
@pytest.mark.parametrize("name", ["x;touch${IFS}PWNED;y", "../../../../ESCAPED"])
def test_cli_project_name_canary(tmp_path, cmd, name):
    cfg = _write(tmp_path, f"hls: {{project_name: '{name}'}}\n")
    _one_line(_cli([cmd[0], str(cfg), *cmd[1:]], tmp_path), f"{cfg}: hls.project_name: expected a string matching")
    assert not (tmp_path / "out").exists()
    _no_canary(tmp_path, "PWNED", "ESCAPED")


BAD_DIRS = ["o$(shell touch PWNED)", "o`touch PWNED`", "o;touch PWNED", "o|touch PWNED", "o&&touch PWNED",
            "o>PWNED", "o<x", "o'x", 'o"x', "o\\x", "o x", "o\ttouch", "o\ntouch PWNED", "o$HOME", "o*", "-rf",
            "o(x)", "o#x", "o{a,b}", "~/o"]


@pytest.mark.parametrize("value", BAD_DIRS)
def test_build_dir_metacharacters_refused(value):
    with pytest.raises(ConfigError) as ei:
        check_build_dir(value, "x.yaml")
    msg = str(ei.value)
    assert msg.startswith("x.yaml: build_dir: ") and "\n" not in msg
    assert "is not allowed in a build directory" in msg or "must not start with '-'" in msg


@pytest.mark.parametrize("value", ["build/default", "/tmp/x/b-1.2+3,a@b", "rel/ünïcode_dir"])
def test_ordinary_build_dirs_accepted(value):
    check_build_dir(value, "x.yaml")


def test_build_dir_existing_file_and_system_dirs_refused(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    for value, msg in [(str(f), f"'{f}' is an existing file, not a directory"),
                       (str(f / "sub"), f"'{f / 'sub'}' is under '{f}', an existing file, not a directory"),
                       ("/proc/self/b", "'/proc/self/b' is under /proc"), ("/sys/b", "'/sys/b' is under /sys"),
                       ("/dev/shm/b", "'/dev/shm/b' is under /dev"), ("/dev", "'/dev' is under /dev")]:
        with pytest.raises(ConfigError, match=re.escape(f"x.yaml: build_dir: {msg}")):
            check_build_dir(value, "x.yaml")
    link = tmp_path / "link"
    link.symlink_to("/proc")
    with pytest.raises(ConfigError, match=r"is under /proc"):
        check_build_dir(str(link / "b"), "x.yaml")


@pytest.mark.parametrize("cmd", [["estimate"], ["run", "--dry-run"]])
@pytest.mark.parametrize("value", ["o$(shell touch PWNED)", "o`touch PWNED`", "o;touch PWNED;", "o\ntouch PWNED",
                                   "o x"])
def test_cli_build_dir_override_canary(tmp_path, cmd, value):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("seed: 1\n")
    r = _cli([cmd[0], str(cfg), *cmd[1:], "--build-dir", str(tmp_path / value)], tmp_path)
    _one_line(r, f"{cfg}: build_dir (override): character ", "is not allowed in a build directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]
    _no_canary(tmp_path, "PWNED")


def test_cli_build_dir_in_yaml_canary_and_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("build_dir: 'o$(shell touch PWNED)'\n")
    _one_line(_cli(["run", str(cfg), "--dry-run"], tmp_path), f"{cfg}: build_dir: character '$' is not allowed")
    cfg.write_text(f"build_dir: {cfg}\n")
    _one_line(_cli(["estimate", str(cfg)], tmp_path), f"{cfg}: build_dir: '{cfg}' is an existing file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]
    _no_canary(tmp_path, "PWNED")


def test_sweep_build_dir_same_rules(tmp_path):
    spec = tmp_path / "s.yaml"
    for value, msg in [("o$(shell touch PWNED)", "character '$' is not allowed"),
                       (str(spec), f"'{spec}' is an existing file"), ("/proc/sweep", "is under /proc")]:
        spec.write_text(f"base_config: {REPO / 'hls4ml_configs/default.yaml'}\nbuild_dir: '{value}'\n"
                        "axes: {weight_bits: [4]}\n")
        with pytest.raises(ConfigError, match=re.escape(f"{spec}: build_dir: ") + ".*" + re.escape(msg)):
            sweep.load_spec(spec)
    spec.write_text(f"base_config: {REPO / 'hls4ml_configs/default.yaml'}\nbuild_dir: 'o;touch PWNED'\n")
    _one_line(_cli(["sweep", str(spec)], tmp_path), f"{spec}: build_dir: character ';' is not allowed")
    _no_canary(tmp_path, "PWNED")


def test_sweep_points_get_the_build_checks(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"base_config: {REPO / 'hls4ml_configs/default.yaml'}\nbuild_dir: {tmp_path / 'sw'}\n"
                    "overrides: {model: {num_classes: 2}}\naxes: {weight_bits: [4]}\n")
    with pytest.raises(ConfigError, match=r"point 0 \{'weight_bits': 4\}: .*model\.num_classes: must be 21"):
        sweep.load_spec(spec)
    spec.write_text(f"base_config: {REPO / 'hls4ml_configs/default.yaml'}\nbuild_dir: {tmp_path / 'sw'}\n"
                    "axes: {weight_bits: [" + ", ".join(["4"] * 40) + "], act_bits: [" + ", ".join(["8"] * 40) + "]}\n")
    with pytest.raises(ConfigError, match=re.escape(f"{spec}: axes: 1600 axis combinations + 0 points, at most 1000")):
        sweep.load_spec(spec)


def test_shipped_sweep_specs_still_load():
    for p in sorted((REPO / "hls4ml_configs").glob("sweep_*.yaml")):
        assert sweep.expand(sweep.load_spec(p)), p  # at least one point (from axes or explicit points)


# ---------------------------------------------------------------------------------------------------------------------
# 8. long values, 9. non-UTF-8
def test_long_values_and_keys_are_cut_in_messages(tmp_path):
    with pytest.raises(ConfigError) as ei:
        validate({"model": {"depth": "x" * 100_000}}, "x.yaml")
    msg = str(ei.value)
    assert len(msg) < 350 and msg.endswith("... (100002 characters)"), msg
    cfg = _write(tmp_path, "? " + "k" * 100_000 + "\n: 1\n")  # an explicit (long) key
    with pytest.raises(ConfigError) as ei:
        load_config(cfg)
    msg = str(ei.value)
    assert len(msg) < 400 and "unknown key" in msg and "(100000 characters)" in msg, msg[:500]
    with pytest.raises(ConfigError) as ei:
        validate(["x" * 100_000], "x.yaml")
    assert len(str(ei.value)) < 350 and str(ei.value).startswith("x.yaml: (top level): expected a mapping")


def test_cli_long_value_one_short_line(tmp_path):
    cfg = _write(tmp_path, "hls: {project_name: '" + "x;" * 50_000 + "'}\n")
    line = _one_line(_cli(["estimate", str(cfg)], tmp_path), "hls.project_name", "(100002 characters)")
    shown = line.split(", got ", 1)[1]
    assert len(shown) < 230 and shown.startswith("'x;x;x;"), shown


@pytest.mark.parametrize("data,msg", [
    (b"seed: 1\nhls: {part: \xff\xfe}\n", "config file is not UTF-8 text (byte 0xff at offset 20)"),
    ("seed: 1\n".encode("utf-16"), "config file is not UTF-8 text (byte 0xff at offset 0)"),
    (b"seed: 1\x00\n", "not valid YAML"),  # NUL: PyYAML's own reader error, one line
])
def test_cli_non_utf8_config_one_line(tmp_path, data, msg):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(data)
    _one_line(_cli(["estimate", str(cfg)], tmp_path), f"{cfg}: {msg}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def test_load_yaml_refuses_unreadable_paths(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_yaml(tmp_path)  # a directory


def test_leaf_default_kinds_are_described():
    # every leaf renders in docs/config.md with its bound (the reference is what users read for the limits)
    doc = C.to_markdown()
    for key, leaf in _leaves():
        assert f"| `{key}` |" in doc
        if isinstance(leaf, Leaf) and leaf.cap is not None:
            assert f"at most {leaf.cap}" in doc.split(f"| `{key}` |")[1].split("\n")[0], key
