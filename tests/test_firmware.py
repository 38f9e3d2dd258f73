"""Firmware (issue #6): the Caravel RV32I example/driver builds with Debian's riscv64-unknown-elf toolchain, the
ELF is pure RV32I, its compiled register offsets equal the generated header (and pipeline.hw.regmap), the expected
identity in the image equals the build it was compiled against, and the driver's native unit tests pass against
the register model (firmware/test/regmodel.c).

Toolchain missing: skip locally, FAIL when CI is set (the CI image must apt-get install gcc-riscv64-unknown-elf
binutils-riscv64-unknown-elf)."""
from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

from pipeline.hw import regmap, rtl

REPO = Path(__file__).resolve().parent.parent
FW = REPO / "firmware"
CROSS = "riscv64-unknown-elf-"
REG_NAMES = ["CTRL", "IER", "ISR", "FRAMES_DONE", "WORDS_IN", "WORDS_OUT", "FRAMES_IN", "ERR", "OUT_MODE",
             "ID_MAGIC", "ID_VERSION", "ID_IMG", "ID_CH", "ID_BITS", "ID_MODEL_HASH", "ID_WORDS_IN",
             "ID_WORDS_OUT", "ID_HLS", "IN_CRC", "OUT_CRC", "DROP_FRAMES", "STALL_LIMIT", "IN_LEVEL", "ID_IN_BUF",
             "ID_LINES"]


def _need_toolchain():
    from _support import require_tools

    require_tools(*(CROSS + t for t in ("gcc", "readelf", "objdump", "objcopy", "size")),
                  why="apt-get install gcc-riscv64-unknown-elf binutils-riscv64-unknown-elf")


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def _make(out: Path, *args):
    return _run(["make", "-C", str(FW), f"OUT={out}", *args])


def _header_defines(path: Path) -> dict:
    return {m.group(1): int(m.group(2), 16 if m.group(2).startswith("0x") else 10)
            for m in re.finditer(r"#define (UNET_FSIC_\w+) (0x[0-9A-Fa-f]+|\d+)u", path.read_text())}


def _check_rv32i(elf: Path):
    hdr = _run([CROSS + "readelf", "-h", str(elf)])
    assert re.search(r"Class:\s+ELF32", hdr)
    assert re.search(r"Machine:\s+RISC-V", hdr)
    # e_flags 0: no RVC (compressed), float ABI soft (ilp32), no RVE
    assert re.search(r"Flags:\s+0x0\b", hdr), hdr
    attrs = _run([CROSS + "readelf", "-A", str(elf)])
    m = re.search(r'Tag_RISCV_arch: "([^"]+)"', attrs)
    assert m, attrs
    assert re.fullmatch(r"rv32i\d+p\d+", m.group(1)), f"not plain RV32I: {m.group(1)}"
    dis = _run([CROSS + "objdump", "-d", "-M", "no-aliases", str(elf)])
    # instruction lines only ("addr:\tenc\tmnemonic ..."); rodata in .text is dumped as data lines (2 fields)
    insns = [p for p in (ln.split("\t") for ln in dis.splitlines() if re.match(r"\s*[0-9a-f]+:\t", ln))
             if len(p) >= 3]
    assert len(insns) > 50
    for parts in insns:
        enc, mnem = parts[1].strip(), parts[2].split()[0]
        assert len(enc) == 8, f"non-32-bit instruction {parts}"       # no C extension
        assert not re.match(r"(mul|div|rem|c\.|f|amo|lr\.|sc\.|csr)", mnem), f"non-RV32I instruction {parts}"


def _uf_regmap_section(elf: Path, tmp: Path) -> bytes:
    out = tmp / "uf_regmap.bin"
    _run([CROSS + "objcopy", "-O", "binary", "--only-section=.uf_regmap", "--set-section-flags",
          ".uf_regmap=alloc", str(elf), str(out)])
    return out.read_bytes()


def _parse_sig(blob: bytes):
    """.uf_regmap = the expected identity (9 x uint32), then 27 records {char name[16]; uint32 value}."""
    assert len(blob) == 9 * 4 + 27 * 20, len(blob)
    ident = struct.unpack_from("<9I", blob, 0)
    recs = {}
    for i in range(27):
        name, val = struct.unpack_from("<16sI", blob, 36 + i * 20)
        recs[name.rstrip(b"\0").decode()] = val
    return recs, ident


def _expected_identity(p: dict) -> tuple:
    """Independent packing (from the register map's field positions) of what ID_* must read for build p."""
    F = regmap.FIELDS
    img = (p["H"] << F[("ID_IMG", "H")][0]) | (p["W"] << F[("ID_IMG", "W")][0])
    ch = (p["C"] << F[("ID_CH", "C")][0]) | (p["classes"] << F[("ID_CH", "CLASSES")][0])
    bits = (p["weight_bits"] << F[("ID_BITS", "WEIGHT_BITS")][0]) | (p["act_bits"] << F[("ID_BITS", "ACT_BITS")][0]) \
        | (p["logit_bits"] << F[("ID_BITS", "LOGIT_BITS")][0]) | (p["class_bits"] << F[("ID_BITS", "CLASS_BITS")][0])
    om = (p["argmax"] << F[("OUT_MODE", "ARGMAX")][0]) \
        | (p["fields_per_word"] << F[("OUT_MODE", "FIELDS_PER_WORD")][0]) \
        | (p["field_bits"] << F[("OUT_MODE", "FIELD_BITS")][0])
    rm = regmap.REGMAP
    return (int(rm["magic"]), int(rm["version"]), img, ch, bits, p["model_hash"], p["words_in"], p["words_out"], om)


def _sizes(elf: Path) -> dict:
    line = _run([CROSS + "size", str(elf)]).splitlines()[1].split()
    return dict(text=int(line[0]), data=int(line[1]), bss=int(line[2]))


def test_example_build_header_is_generated():
    """The checked-in example identity header equals what pipeline.wrap renders for the default build."""
    got = (FW / "example_build" / "fsic" / "include" / "unet_fsic_build.h").read_text()
    assert got == rtl.render_build_header({})
    assert (FW / "include" / "unet_fsic_regs.h").read_text() == regmap.render_c_header(regmap.load_regmap())


def test_firmware_default_build(tmp_path):
    _need_toolchain()
    log = _make(tmp_path)
    elf = tmp_path / "unet_fsic_example.elf"
    assert "-march=rv32i -mabi=ilp32" in log and "-nostdlib" in log
    _check_rv32i(elf)
    # compiled offsets == generated header == pipeline.hw.regmap (the YAML)
    hdr = _header_defines(FW / "include" / "unet_fsic_regs.h")
    recs, ident = _parse_sig(_uf_regmap_section(elf, tmp_path))
    for name in REG_NAMES:
        assert recs[name] == hdr[f"UNET_FSIC_{name}"] == regmap.OFFSETS[name], name
    assert set(REG_NAMES) == set(regmap.OFFSETS), "register list in the test/firmware is out of date"
    assert recs["BASE"] == 0x30000000 and recs["PRJ_SEL"] == 0x30005000
    assert ident == _expected_identity(rtl.resolve_params({}))
    # images: hex is the Verilog-style flash image of the same bytes as the bin, at the flash base
    hexlines = (tmp_path / "unet_fsic_example.hex").read_text().split()
    assert hexlines[0] == "@10000000"
    hexbytes = bytes(int(t, 16) for t in hexlines if not t.startswith("@"))
    assert hexbytes == (tmp_path / "unet_fsic_example.bin").read_bytes()
    sz = _sizes(elf)
    assert 0 < sz["text"] < 4096 and sz["data"] + sz["bss"] <= 768, sz
    print(f"\nfirmware size (riscv64-unknown-elf-size): {sz}")


def test_firmware_against_build_dir(tmp_path):
    """make BUILD=<dir> compiles against that build's generated headers; the image expects that build."""
    _need_toolchain()
    params = dict(H=16, W=24, C=3, classes=7, output_mode="argmax", weight_bits=5, act_bits=8,
                  model_hash=0x5EED1234, hls_top_name="myproject")
    rtl.write_wrapper(tmp_path, params)
    _run(["make", "-C", str(FW), f"BUILD={tmp_path}"])
    elf = tmp_path / "firmware" / "unet_fsic_example.elf"
    _check_rv32i(elf)
    _, ident = _parse_sig(_uf_regmap_section(elf, tmp_path))
    p = rtl.resolve_params(params)
    assert ident == _expected_identity(p)
    assert ident[5] == 0x5EED1234 and ident[6] == (16 * 24 * 3 + 3) // 4


def test_driver_native_unit_tests(tmp_path):
    """The driver + example logic compiled for the host (MMIO hook) against the protocol-enforcing register model:
    select/identity/start/wait/timeout/error/busy/soft-reset/report paths."""
    from _support import require_tools

    require_tools("gcc", "make")
    out = _make(tmp_path, "test")
    assert re.search(r"ALL 15 TESTS PASSED", out), out
    for t in ("test_wait_timeout", "test_error_flags", "test_identity_mismatch", "test_start_wait_ok"):
        assert f"ok {t}" in out
