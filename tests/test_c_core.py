"""Builds the C core on its own (no Python headers) with -Wall -Wextra -Werror and runs its
unit tests; also checks the compiled binding's version matches the package."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import libsiff
from libsiff import _bindings

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "libsiff" / "csrc"


def _compile(tmp_path, extra=()):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    exe = tmp_path / "test_siff"
    cmd = [cc, "-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Wpedantic", "-Werror", *extra,
           f"-I{CSRC}", str(ROOT / "tests" / "c" / "test_siff.c"),
           *map(str, sorted(CSRC.glob("*.c"))), "-o", str(exe), "-lm", "-lpthread"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return exe


def test_c_unit_tests(tmp_path):
    exe = _compile(tmp_path)
    res = subprocess.run([str(exe)], capture_output=True, text=True,
                         env={"TMPDIR": str(tmp_path)})
    assert res.returncode == 0, res.stdout + res.stderr
    assert " 0 failures" in res.stdout


@pytest.mark.skipif(sys.platform != "linux", reason="sanitizers checked on Linux")
def test_c_unit_tests_under_sanitizers(tmp_path):
    try:
        exe = _compile(tmp_path, ("-fsanitize=address,undefined", "-fno-sanitize-recover=all"))
    except subprocess.CalledProcessError as e:  # toolchain without sanitizer runtimes
        pytest.skip(f"sanitizers unavailable: {e.stderr[:200]}")
    res = subprocess.run([str(exe)], capture_output=True, text=True,
                         env={"TMPDIR": str(tmp_path), "ASAN_OPTIONS": "detect_leaks=1"})
    assert res.returncode == 0, res.stdout + res.stderr


def test_binding_version_matches_package():
    v = _bindings.c_version()
    assert f"{v // 10000}.{v // 100 % 100}.{v % 100}" == libsiff.__version__
