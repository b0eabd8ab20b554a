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


def _compile(tmp_path, extra=(), source="test_siff.c", name="test_siff"):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    exe = tmp_path / name
    cmd = [cc, "-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Wshadow", "-Wpedantic", "-Werror", *extra,
           f"-I{CSRC}", str(ROOT / "tests" / "c" / source),
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


@pytest.mark.skipif(sys.platform != "linux", reason="sanitizers checked on Linux")
@pytest.mark.parametrize("seed", ["raw_volume", "compressed_plane", "mixed_random"])
def test_fuzz_mutants_under_sanitizers(tmp_path, seed):
    """Deterministic mutations of the golden files through every kernel, under ASan/UBSan:
    any read outside a buffer or undefined behaviour aborts the run."""
    try:
        exe = _compile(tmp_path, ("-fsanitize=address,undefined", "-fno-sanitize-recover=all"),
                       source="fuzz_siff.c", name="fuzz_siff")
    except subprocess.CalledProcessError as e:
        pytest.skip(f"sanitizers unavailable: {e.stderr[:200]}")
    golden = ROOT / "tests" / "data" / "golden" / f"{seed}.siff"
    res = subprocess.run([str(exe), str(golden), "300", str(tmp_path)], capture_output=True,
                         text=True, timeout=600, env={"ASAN_OPTIONS": "detect_leaks=1"})
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    assert "300 mutants run" in res.stdout
