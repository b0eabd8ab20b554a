"""Builds the C core on its own (no Python headers) with -Wall -Wextra -Werror and runs its
unit tests and the fuzz target; also checks the compiled binding's version matches the
package."""

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


CORPUS = ROOT / "tests" / "c" / "corpus"
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all")


def _fuzz_driver(tmp_path):
    try:
        return _compile(tmp_path, SANITIZE, source="fuzz_siff.c", name="fuzz_siff")
    except subprocess.CalledProcessError as e:
        pytest.skip(f"sanitizers unavailable: {e.stderr[:200]}")


@pytest.mark.skipif(sys.platform != "linux", reason="sanitizers checked on Linux")
@pytest.mark.parametrize("seed", ["raw_volume", "compressed_plane", "mixed_random"])
def test_fuzz_mutants_under_sanitizers(tmp_path, seed):
    """Deterministic mutations of the golden files through every public C call (both read
    paths, 1-8 threads, up to 17 masks), under ASan/UBSan: any read outside a buffer or
    undefined behaviour aborts the run; the driver leaves no temporary file behind."""
    exe = _fuzz_driver(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    golden = ROOT / "tests" / "data" / "golden" / f"{seed}.siff"
    res = subprocess.run([str(exe), "100", str(work), str(golden)], capture_output=True,
                         text=True, timeout=600, env={"ASAN_OPTIONS": "detect_leaks=1"})
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    assert "101 inputs run" in res.stdout
    assert list(work.iterdir()) == []


def _libfuzzer_build(tmp_path):
    """The libFuzzer binary (clang), or None when clang or its fuzzer runtime is missing."""
    clang = shutil.which("clang")
    if clang is None:
        return None
    exe = tmp_path / "fuzz_libfuzzer"
    cmd = [clang, "-std=c11", "-g", "-O1", "-fsanitize=fuzzer,address,undefined",
           "-fno-sanitize-recover=all", "-DSIFF_LIBFUZZER", f"-I{CSRC}",
           str(ROOT / "tests" / "c" / "fuzz_siff.c"), *map(str, sorted(CSRC.glob("*.c"))),
           "-o", str(exe), "-lm", "-lpthread"]
    return exe if subprocess.run(cmd, capture_output=True).returncode == 0 else None


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="sanitizers checked on Linux")
def test_fuzz_smoke_60s(tmp_path):
    """About 60 s of coverage-guided fuzzing (libFuzzer, ASan/UBSan) from the committed seed
    corpus; without clang, the deterministic mutant driver over the corpus under gcc."""
    seeds = sorted(CORPUS.glob("*.siff"))
    assert len(seeds) >= 5
    work = tmp_path / "work"
    work.mkdir()
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    exe = _libfuzzer_build(tmp_path)
    env = {"TMPDIR": str(work), "ASAN_OPTIONS": "detect_leaks=1", "PATH": "/usr/bin:/bin"}
    if exe is not None:
        res = subprocess.run([str(exe), "-max_total_time=60", "-rss_limit_mb=2048",
                              "-timeout=30", str(corpus)], capture_output=True, text=True,
                             timeout=600, env=env)
        assert res.returncode == 0, res.stderr[-4000:]
        assert "Done " in res.stderr
    else:
        exe = _fuzz_driver(tmp_path)
        res = subprocess.run([str(exe), "3000", str(work), *map(str, seeds)],
                             capture_output=True, text=True, timeout=900, env=env)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
        assert f"{3001 * len(seeds)} inputs run" in res.stdout
    assert list(work.iterdir()) == []
