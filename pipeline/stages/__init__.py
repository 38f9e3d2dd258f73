"""The pipeline's stages and commands, one module each, all of one shape.

A stage module (train, evaluate, convert, csim, wrap, cosim, firmware, estimate) defines

* ``STAGE`` -- a :class:`Stage`: its name, the config sections it reads, the stages it depends on, the outputs (paths
  under the build dir) that must exist for a cached result to count, ``run(config) -> summary`` (JSON-able; raises
  :class:`pipeline.errors.UserError` on failure) and ``headline(summary) -> str``;
* ``register_cli(add)`` -- its ``unet-fsic`` sub-command(s); ``add(name, fn, help)`` creates a sub-command taking
  CONFIG.yaml and ``--build-dir`` and calls ``fn(args, config) -> exit status``.

``sweep`` and ``import_report`` are commands without a stage. Modules import their heavy dependencies (TensorFlow,
hls4ml, cocotb) inside functions, so importing a stage module is cheap.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Stage:
    name: str
    sections: tuple[str, ...]  # config sections (dotted) the stage reads
    deps: tuple[str, ...]  # stages whose outputs it reads
    outputs: tuple[str, ...]  # paths (relative to build_dir) that must exist for a cached stage to count
    run: Callable[[dict], dict]  # config -> JSON-able summary
    headline: Callable[[dict], str]  # summary -> one line
    inputs: tuple[str, ...] = ()  # repository files (relative to the repo root) whose contents are part of the key


def pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"
