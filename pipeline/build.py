"""The build directory's layout, in one place: every path under ``build_dir`` that a stage, the report, the firmware
step or the host driver reads or writes is a property of :class:`BuildDir`.

::

    <build_dir>/
      train/       float_model.h5, w5a8_model.h5, int_bits.json, history_*.csv, curves.png     (train)
      evaluate/    metrics.{json,md}, confusion.png, iou_per_class.png, overlays.png           (evaluate)
      hls/         the hls4ml project; interface.json, layers.json, hls_config.json            (convert)
      csim/        report.{json,md}                                                            (csim)
      fsic/        rtl/, sim/, include/, python/, filelist.f, filelist_sim.f                  (wrap)
      cosim/       report.{json,md}, <simulator>.log, outputs_<simulator>.npz                  (cosim)
      firmware/    unet_fsic_example.{elf,hex,bin}                                             (firmware)
      estimate/    estimate.{json,md}, utilization.png                                         (estimate)
      reports/     vendor_report.json                                                          (import-report)
      .stages/     <stage>.json: the run's cache records                                       (run)
      report.md, report.html                                                                   (run)
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent  # the source checkout (RTL, firmware sources, the register map)


@dataclass(frozen=True)
class BuildDir:
    root: Path

    @classmethod
    def of(cls, config_or_path) -> "BuildDir":
        """From a validated config (its ``build_dir``) or a path."""
        if isinstance(config_or_path, dict):
            return cls(Path(config_or_path["build_dir"]))
        return cls(Path(config_or_path))

    def resolved(self) -> "BuildDir":
        """The same layout with an absolute root (for tools that run in another working directory)."""
        return BuildDir(self.root.resolve())

    def tempdir(self, prefix: str) -> Path:
        """A fresh temporary directory inside the build dir (for atomic swaps: same file system)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=self.root, prefix=f".{prefix}.tmp-"))

    # --- train / evaluate --------------------------------------------------------------------------------------------
    @property
    def train(self) -> Path:
        return self.root / "train"

    def checkpoint(self, variant: str) -> Path:
        """``float`` / ``w5a8`` model file."""
        return self.train / f"{variant}_model.h5"

    @property
    def evaluate(self) -> Path:
        return self.root / "evaluate"

    # --- hls4ml project ----------------------------------------------------------------------------------------------
    @property
    def hls(self) -> Path:
        return self.root / "hls"

    @property
    def hls_firmware(self) -> Path:
        return self.hls / "firmware"

    @property
    def weights(self) -> Path:
        return self.hls_firmware / "weights"

    @property
    def interface_json(self) -> Path:
        return self.hls / "interface.json"

    @property
    def layers_json(self) -> Path:
        return self.hls / "layers.json"

    def compiled_lib(self) -> Path | None:
        """The newest shared library ``hls_model.compile()`` wrote into ``hls/firmware`` (None if none)."""
        libs = sorted(self.hls_firmware.glob("*.so"), key=lambda p: p.stat().st_mtime)
        return libs[-1] if libs else None

    @property
    def csim(self) -> Path:
        return self.root / "csim"

    # --- FSIC wrapper, RTL co-simulation, firmware --------------------------------------------------------------
    @property
    def fsic(self) -> Path:
        return self.root / "fsic"

    @property
    def fsic_rtl(self) -> Path:
        return self.fsic / "rtl"

    @property
    def build_json(self) -> Path:
        """The wrapper's build description (sizes, identity, stream formats) for Python tools and the host driver."""
        return self.fsic / "python" / "unet_fsic_build.json"

    @property
    def build_header(self) -> Path:
        return self.fsic / "include" / "unet_fsic_build.h"

    @property
    def filelist_sim(self) -> Path:
        return self.fsic / "filelist_sim.f"

    @property
    def cosim(self) -> Path:
        return self.root / "cosim"

    @property
    def firmware(self) -> Path:
        return self.root / "firmware"

    # --- estimate, vendor reports, the run ----------------------------------------------------------------------------
    @property
    def estimate(self) -> Path:
        return self.root / "estimate"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def stage_records(self) -> Path:
        return self.root / ".stages"

    def stage_record(self, stage: str) -> Path:
        return self.stage_records / f"{stage}.json"

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"
