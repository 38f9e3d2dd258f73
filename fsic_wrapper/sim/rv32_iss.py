"""RV32I instruction-set simulator (Unicorn) with the Caravel management-SoC memory map of firmware/link.ld, whose
FSIC user-project window is served by a caller-supplied bus (in the cocotb bench: AXI-Lite accesses to the real
USER_PRJ0 RTL, see test_firmware_iss.py).

Memory map (what the firmware touches; everything else is unmapped, so a stray access stops the run):

  0x0000_0000  DFF RAM, 1 KB (.data/.bss/stack; mapped as one 4 KB page, accesses above 0x3FF are violations)
  0x1000_0000  SPI flash, 4 MB, execute in place: the ELF's PT_LOAD segments at their load (physical) addresses
  0x2600_0000  Caravel housekeeping page (reg_mprj_datal at +0x0C): writes recorded
  0x3000_0000  FSIC user project window, 4 KB: 32-bit accesses only, forwarded to ``user_read`` / ``user_write``
               (offset in the window) -- only after project 0 was selected (FSIC routes the window to the selected
               user project; an access before the selection is a protocol violation and is not forwarded)
  0x3000_2000  FSIC AXI-Lite<->AXIS mailbox, 4 KB: plain RAM, recorded
  0x3000_5000  FSIC config control, 4 KB: +0x0 = user-project select (read back as written), recorded

Every access outside RAM/flash is appended to ``accesses`` as ``(op, address, value)`` (op 'R' or 'W') in program
order; protocol problems go to ``violations``.  ``run()`` executes from the ELF entry point until the core parks in
crt0's final ``j .`` (main returned), an instruction budget or an access budget is exhausted, or an access faults.
"""
from __future__ import annotations

import struct
from typing import Callable

from unicorn import UC_ARCH_RISCV, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, UC_MODE_RISCV32, Uc, UcError
from unicorn.riscv_const import UC_RISCV_REG_PC

DFF_BASE, DFF_SIZE, DFF_PAGE = 0x0000_0000, 0x400, 0x1000
FLASH_BASE, FLASH_SIZE = 0x1000_0000, 0x0040_0000
HK_BASE = 0x2600_0000
USER_BASE = 0x3000_0000
MAILBOX_BASE = 0x3000_2000
CFG_BASE = 0x3000_5000
PAGE = 0x1000
JAL_SELF = 0x0000006F          # "j ." (jal x0, 0): crt0's park loop after main returns


def load_elf32(blob: bytes) -> tuple[int, list[tuple[int, bytes]]]:
    """(entry, [(load address, bytes)]) of the PT_LOAD segments of a little-endian ELF32 RISC-V executable.
    Segments are placed at their physical (load) address: .data lives in flash and crt0 copies it to RAM."""
    if blob[:4] != b"\x7fELF" or blob[4] != 1 or blob[5] != 1:
        raise ValueError("not a little-endian ELF32 file")
    (e_type, e_machine, _ver, e_entry, e_phoff, _shoff, _flags, _ehsize, e_phentsize,
     e_phnum) = struct.unpack_from("<HHIIIIIHHH", blob, 16)
    if e_machine != 243:
        raise ValueError(f"ELF machine {e_machine} is not RISC-V (243)")
    segs = []
    for i in range(e_phnum):
        p_type, p_offset, _vaddr, p_paddr, p_filesz, _memsz, _flags, _align = struct.unpack_from(
            "<8I", blob, e_phoff + i * e_phentsize)
        if p_type == 1 and p_filesz:
            segs.append((p_paddr, blob[p_offset:p_offset + p_filesz]))
    return e_entry, segs


class Rv32Soc:
    def __init__(self, elf: bytes, user_read: Callable[[int], int], user_write: Callable[[int, int], None],
                 max_user_accesses: int = 20000):
        self.user_read, self.user_write = user_read, user_write
        self.max_user_accesses = max_user_accesses
        self.accesses: list[tuple[str, int, int]] = []
        self.violations: list[str] = []
        self.user_accesses = 0
        self.selected: int | None = None      # last value written to the project-select register
        self.mailbox = [0] * (PAGE // 4)
        self.stop_reason = ""
        self.entry, segs = load_elf32(elf)

        uc = self.uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV32)
        uc.mem_map(FLASH_BASE, FLASH_SIZE)
        uc.mem_map(DFF_BASE, DFF_PAGE)
        for addr, data in segs:
            if not (FLASH_BASE <= addr and addr + len(data) <= FLASH_BASE + FLASH_SIZE):
                raise ValueError(f"segment at {addr:#x} is not in the flash")
            uc.mem_write(addr, data)
        uc.mmio_map(HK_BASE, PAGE, self._hk_read, None, self._hk_write, None)
        uc.mmio_map(USER_BASE, PAGE, self._user_read, None, self._user_write, None)
        uc.mmio_map(MAILBOX_BASE, PAGE, self._mb_read, None, self._mb_write, None)
        uc.mmio_map(CFG_BASE, PAGE, self._cfg_read, None, self._cfg_write, None)
        uc.hook_add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, self._dff_guard, begin=DFF_BASE + DFF_SIZE,
                    end=DFF_BASE + DFF_PAGE - 1)
        self.park = self._find_park(uc)

    # ------------------------------------------------------------------ set-up
    def _find_park(self, uc) -> int:
        """Address of the first ``j .`` at or after the entry point (crt0: ``call main`` then ``5: j 5b``)."""
        code = bytes(uc.mem_read(self.entry, 0x200))
        for i in range(0, len(code), 4):
            if struct.unpack_from("<I", code, i)[0] == JAL_SELF:
                return self.entry + i
        raise ValueError("no park loop (j .) found after the entry point")

    # ------------------------------------------------------------------ MMIO callbacks
    def _fault(self, msg: str):
        self.violations.append(msg)
        self.uc.emu_stop()

    def _dff_guard(self, uc, access, address, size, value, user_data):
        self._fault(f"access at {address:#x} beyond the 1 KB DFF RAM (pc {uc.reg_read(UC_RISCV_REG_PC):#x})")

    def _hk_read(self, uc, off, size, ud):
        self.accesses.append(("R", HK_BASE + off, 0))
        return 0

    def _hk_write(self, uc, off, size, value, ud):
        self.accesses.append(("W", HK_BASE + off, value))

    def _user_read(self, uc, off, size, ud):
        if size != 4 or off & 3:
            self._fault(f"{size}-byte read at user-project offset {off:#x} (the bus is 32-bit)")
            return 0
        if self.selected != 0:
            self._fault(f"read of user-project offset {off:#x} before project 0 was selected")
            return 0
        v = int(self.user_read(off)) & 0xFFFFFFFF
        self.accesses.append(("R", USER_BASE + off, v))
        self._count()
        return v

    def _user_write(self, uc, off, size, value, ud):
        if size != 4 or off & 3:
            self._fault(f"{size}-byte write at user-project offset {off:#x} (the bus is 32-bit)")
            return
        if self.selected != 0:
            self._fault(f"write of user-project offset {off:#x} before project 0 was selected")
            return
        self.accesses.append(("W", USER_BASE + off, value & 0xFFFFFFFF))
        self.user_write(off, value & 0xFFFFFFFF)
        self._count()

    def _count(self):
        self.user_accesses += 1
        if self.user_accesses >= self.max_user_accesses:
            self.stop_reason = "access budget"
            self.uc.emu_stop()

    def _mb_read(self, uc, off, size, ud):
        v = self.mailbox[off // 4]
        self.accesses.append(("R", MAILBOX_BASE + off, v))
        return v

    def _mb_write(self, uc, off, size, value, ud):
        self.mailbox[off // 4] = value & 0xFFFFFFFF
        self.accesses.append(("W", MAILBOX_BASE + off, value & 0xFFFFFFFF))

    def _cfg_read(self, uc, off, size, ud):
        v = (self.selected or 0) if off == 0 else 0
        self.accesses.append(("R", CFG_BASE + off, v))
        return v

    def _cfg_write(self, uc, off, size, value, ud):
        self.accesses.append(("W", CFG_BASE + off, value & 0xFFFFFFFF))
        if off == 0:
            self.selected = value & 0xFFFFFFFF

    # ------------------------------------------------------------------ run
    def run(self, max_insns: int = 5_000_000) -> dict:
        """Run from the entry point; returns {'stop': 'parked' | 'access budget' | 'instruction budget' |
        'violation' | 'fault: ...', 'pc': int}."""
        try:
            self.uc.emu_start(self.entry, self.park, count=max_insns)
        except UcError as e:
            self.stop_reason = f"fault: {e}"
        pc = self.uc.reg_read(UC_RISCV_REG_PC)
        if not self.stop_reason:
            if self.violations:
                self.stop_reason = "violation"
            elif pc == self.park:
                self.stop_reason = "parked"
            else:
                self.stop_reason = "instruction budget"
        return {"stop": self.stop_reason, "pc": pc}

    def writes_to(self, addr: int) -> list[int]:
        return [v for op, a, v in self.accesses if op == "W" and a == addr]
