"""``firmware`` stage: build the Caravel example firmware against this build's generated headers.

``make -C firmware BUILD=<build_dir>`` (Debian ``riscv64-unknown-elf-gcc``, ``-march=rv32i -mabi=ilp32``) writes
``<build_dir>/firmware/unet_fsic_example.{elf,hex,bin}``; the ELF is checked to be 32-bit RISC-V without
compressed / multiply extensions (``readelf -h -A``), and its size is reported. Without the toolchain the stage says
so and skips (the rest of the flow does not depend on it).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ..build import REPO, BuildDir
from ..errors import UserError
from . import Stage

CROSS = "riscv64-unknown-elf-"


def run_stage(config) -> dict:
    bd = BuildDir.of(config).resolved()
    build = bd.root
    if not bd.build_header.is_file():
        raise UserError(f"{bd.build_header}: missing -- run `unet-fsic wrap CONFIG` first")
    if shutil.which(CROSS + "gcc") is None:
        return {"built": False, "reason": f"{CROSS}gcc not on PATH (Debian package gcc-riscv64-unknown-elf; "
                                          f"scripts/setup.sh installs it)"}
    r = subprocess.run(["make", "-s", "-C", str(REPO / "firmware"), f"BUILD={build}"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        last = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or ["?"]
        raise UserError(f"firmware build failed: {last[0]}")
    elf = bd.firmware / "unet_fsic_example.elf"
    hdr = subprocess.run([CROSS + "readelf", "-h", "-A", str(elf)], capture_output=True, text=True).stdout
    arch = re.search(r"Tag_RISCV_arch: \"([^\"]+)\"", hdr)
    size = subprocess.run([CROSS + "size", str(elf)], capture_output=True, text=True).stdout.splitlines()
    text, data, bss = (int(x) for x in size[1].split()[:3])
    return {"built": True, "elf": str(elf), "hex": str(elf.with_suffix(".hex")), "class": "ELF32" if "ELF32" in hdr
            else "?", "machine": "RISC-V" if "RISC-V" in hdr else "?", "arch": arch.group(1) if arch else "?",
            "text_bytes": text, "data_bytes": data, "bss_bytes": bss,
            "toolchain": subprocess.run([CROSS + "gcc", "--version"], capture_output=True,
                                        text=True).stdout.splitlines()[0]}


def headline(s: dict) -> str:
    if not s["built"]:
        return f"skipped: {s['reason']}"
    return f"{Path(s['elf']).name}: {s['class']} {s['machine']} {s['arch']}, text {s['text_bytes']:,} B"


STAGE = Stage("firmware", (), ("wrap",), ("firmware",), run_stage, headline)


def register_cli(add):
    """No command of its own: ``make -C firmware BUILD=DIR`` builds it (firmware/README.md); ``run`` runs it."""
