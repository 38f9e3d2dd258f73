"""``unet-fsic``: one command per pipeline step, each driven by a YAML build config.

Errors in the user's input (config, files, unsupported layers, missing tools) are printed as one line
``unet-fsic: error: ...`` with exit status 2; nothing half-written is left in the build directory.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings

from . import run
from .guard import build_lock, end_children, install_signal_handlers
from .stages import convert, cosim, csim, estimate, evaluate, firmware, import_report, infer, sweep, train, wrap


def _quiet_imports():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover
        pass


def _load(args):
    from .config import load_config

    overrides = {}
    if getattr(args, "build_dir", None):
        overrides["build_dir"] = args.build_dir
    return load_config(args.config, overrides or None)


# Every command, in pipeline order: each module defines ``register_cli(add)`` (see pipeline/stages/__init__.py).
COMMANDS = (train, evaluate, convert, csim, wrap, cosim, firmware, estimate, import_report, sweep, run, infer)


def _read_only(args) -> bool:
    """Commands that write nothing into the build dir (and so take no lock)."""
    return bool(getattr(args, "dry_run", False)) or getattr(args, "propose_rf", None) is not None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="unet-fsic",
        description="QKeras W5A8 U-Net -> hls4ml IP -> FSIC user project. Each command takes a YAML build config "
                    "(see hls4ml_configs/default.yaml and docs/config.md).",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name, fn, help):
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("config", metavar="CONFIG.yaml", help="build configuration")
        sp.add_argument("--build-dir", help="override the config's build_dir")
        sp.set_defaults(fn=fn)
        return sp

    def add_stage(name, fn, help):
        def run(args, fn=fn):
            cfg = _load(args)
            _quiet_imports()
            if _read_only(args):
                return fn(args, cfg)
            with build_lock(cfg["build_dir"]):  # one writer per build directory
                return fn(args, cfg)

        return add(name, run, help)

    for mod in COMMANDS:
        mod.register_cli(add_stage)
    return p


def main(argv=None) -> int:
    from .errors import UserError

    args = build_parser().parse_args(argv)
    install_signal_handlers()
    try:
        return int(args.fn(args) or 0)
    except UserError as e:
        print(f"unet-fsic: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM: child processes are ended, temporary dirs removed
        end_children()
        sig = getattr(e, "signum", signal.SIGINT)
        print(f"unet-fsic: interrupted ({signal.Signals(sig).name}); the interrupted stage left no result -- run "
              f"the command again to redo it", file=sys.stderr)
        return 128 + int(sig)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
