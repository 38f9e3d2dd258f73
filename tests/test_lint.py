"""``ruff check`` (configuration in pyproject.toml: pyflakes, pycodestyle, import order, 120 columns) is clean over
the repository. ~1 s."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_check_is_clean():
    from _support import require_tools

    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.is_file():
        require_tools("ruff", why="pip install -r requirements.txt installs it")
        ruff = "ruff"
    r = subprocess.run([str(ruff), "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]
