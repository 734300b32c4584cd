import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_check_extension_passes_on_a_good_build():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "check_extension.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ops load, compute and raise clear errors" in result.stdout
