"""Shared test support (imported as ``_support``; pytest puts tests/ on sys.path)."""
from __future__ import annotations

import numpy as np


def randomize_weights(model, seed: int):
    """Seeded random weights with plausible BatchNorm statistics (positive variances, gammas around 1), so that an
    untrained tiny U-Net produces varied classes. Returns the weights set."""
    rng = np.random.default_rng(seed)
    ws = []
    for w in model.weights:
        shape, name = tuple(w.shape), w.name
        if "moving_variance" in name:
            v = rng.uniform(0.2, 1.0, shape)
        elif "gamma" in name:
            v = rng.uniform(0.5, 1.5, shape)
        elif "moving_mean" in name or "beta" in name:
            v = rng.normal(0.0, 0.3, shape)
        else:
            v = rng.normal(0.0, 0.6, shape)
        ws.append(v.astype(np.float32))
    model.set_weights(ws)
    return ws


def require_tools(*exes: str, modules: tuple[str, ...] = (), why: str = "scripts/setup.sh installs it") -> None:
    """Skip the calling test when one of the executables ``exes`` is not on PATH or one of the Python ``modules``
    cannot be imported -- but FAIL when the environment variable ``CI`` is set (non-empty): CI must never count a test
    that could not run as passing. ``.ci/run`` exports ``CI=true``."""
    import importlib.util
    import os
    import shutil

    import pytest

    missing = [e for e in exes if shutil.which(e) is None]
    missing += [f"python package {m}" for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return
    msg = f"{', '.join(missing)} missing ({why})"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and a required tool is missing: {msg}")
    pytest.skip(msg)


def cli_command() -> list[str]:
    """The installed ``unet-fsic`` entry point next to the running Python (what a user runs); ``python -m
    pipeline.cli`` only outside CI -- under CI a missing entry point is a failure."""
    import os
    import sys
    from pathlib import Path

    import pytest

    exe = Path(sys.executable).parent / "unet-fsic"
    if exe.is_file():
        return [str(exe)]
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and the unet-fsic entry point is missing next to {sys.executable}")
    return [sys.executable, "-m", "pipeline.cli"]
