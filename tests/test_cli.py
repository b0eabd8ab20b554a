"""The ``siff`` command-line tool and libsiff.tiff_export.siff_to_tiff (fast tests)."""

import io
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import libsiff
from libsiff import SiffError, SiffIOError
from libsiff.tiff_export import siff_to_tiff
from siffviewer.cli import ProgressBar, file_info, main

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "siffviewer" / "data" / "sample.siff"
corrosiffpy = pytest.importorskip("corrosiffpy")


@pytest.fixture
def sample(tmp_path):
    path = tmp_path / "sample.siff"
    shutil.copy(SAMPLE, path)
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ siff info

def test_info_human_readable(capsys, sample):
    code, out, err = run(capsys, "info", sample)
    assert code == 0 and err == ""
    lines = dict(line.split(":", 1) for line in out.splitlines())
    lines = {k: v.strip() for k, v in lines.items()}
    assert lines["Frames"] == "320"
    assert lines["Frame size"] == "96 x 112 pixels (rows x columns)"
    assert lines["Timepoints"] == "40"
    assert lines["Planes"].startswith("3, z step 5 um")
    assert lines["Colour channels"] == "2 (channel 1, 2)"
    assert lines["Frames per volume"] == "8 in the file: 6 imaging + 2 flyback (skipped)"
    assert lines["Frame rate"] == "30 Hz" and lines["Volume rate"] == "7.5 Hz"
    assert lines["Bin width"] == "20 ps per arrival bin, 629 bins (12.58 ns)"
    assert lines["Started"].startswith("2024-04-17T19:42:25.033")
    assert "BigTIFF" in lines["File"] and "4.7 MB" in lines["File"]


def test_info_json_matches_the_library(capsys, sample):
    code, out, _ = run(capsys, "info", sample, "--json")
    assert code == 0
    info = json.loads(out)
    with libsiff.SiffReader(sample) as sr:
        p, sio = sr.im_params, sr.siffio
        n = sio.num_frames()
        assert info["frames"] == n == 320
        assert info["frame_shape"] == list(sio.frame_shape())
        assert info["timepoints"] == p.num_timepoints
        assert info["planes"] == p.num_slices
        assert info["colors"] == p.num_colors and info["color_channels"] == [1, 2]
        assert info["frames_per_volume"] == p.frames_per_volume
        assert info["flyback_frames_per_volume"] == p.num_discard_flyback_frames
        assert info["discard_flyback_frames"] is True
        assert info["array_shape"] == list(p.array_shape)
        assert info["zoom"] == p.zoom
        assert info["frame_rate_hz"] == p.RoiManager.scanFrameRate
        assert info["volume_rate_hz"] == p.RoiManager.scanVolumeRate
        assert info["bin_width_ps"] == p.picoseconds_per_bin == 20
        assert info["arrival_bins"] == p.num_bins
        assert info["histogram_length"] == p.num_bins + 2
        stamps = sio.get_experiment_timestamps()
        assert info["first_frame_time_s"] == stamps[0] and info["last_frame_time_s"] == stamps[-1]
        assert info["start_epoch_ns"] == int(sio.get_epoch_timestamps_laser([0])[0])
    assert info["file_size_bytes"] == SAMPLE.stat().st_size
    assert info["warnings"] == [] and info["damaged_trailing_frame"] is None


def test_info_truncated_file_reports_what_it_can(capsys, tmp_path):
    path = tmp_path / "cut.siff"
    data = SAMPLE.read_bytes()
    with libsiff.open_file(SAMPLE) as sio:
        end_of_frame_3 = sio.get_frame_metadata([3])[0]["data_offset"] + \
            sio.get_frame_metadata([3])[0]["strip_byte_counts"]
    path.write_bytes(data[:end_of_frame_3 + 100])  # 4 whole frames and part of the 5th
    code, out, _ = run(capsys, "info", path, "--json")
    assert code == 0
    info = json.loads(out)
    assert info["frames"] == 4 and info["damaged_trailing_frame"] == 4
    assert any("ends inside frame 4" in w for w in info["warnings"])
    code, out, _ = run(capsys, "info", path)
    assert "4 complete (the file ends inside frame 4)" in out and "Warning:" in out


def test_info_lists_header_warnings_instead_of_printing_them(capsys, tmp_path):
    from libsiff.writer import SiffWriter

    path = tmp_path / "nobin.tiff"
    with libsiff.open_file(SAMPLE) as sio:
        header = sio.get_file_header()
        nvfd = "\n".join(line for line in header["Non-varying frame data"].split("\n")
                         if "binResolution" not in line)
        with SiffWriter(path, nvfd, header["ROI string"]) as writer:
            for i in range(8):
                writer.add_tiff_frame(sio.get_frames([i])[0], sio.get_description(i))
    code, out, err = run(capsys, "info", path)
    assert code == 0 and err == ""
    assert f"Warning:           {path}: header has no SI.hScan2D.hAcq.binResolution" in out
    info = json.loads(run(capsys, "info", path, "--json")[1])
    assert info["frames"] == 8 and info["timepoints"] == 1 and len(info["warnings"]) == 1


def test_file_info_of_a_file_without_frames(tmp_path):
    path = tmp_path / "empty.siff"
    with libsiff.open_file(SAMPLE) as sio:
        first_ifd = sio.file_info.first_ifd
    path.write_bytes(SAMPLE.read_bytes()[:first_ifd + 10])
    info = file_info(path)
    assert info["frames"] == 0 and info["frame_shape"] is None
    assert info["first_frame_time_s"] is None and info["start_time_utc"] is None


@pytest.mark.parametrize("kind", ["missing", "garbage", "directory", "not_tiff"])
def test_user_errors_are_one_line_and_exit_2(capsys, tmp_path, kind):
    path = tmp_path / "x.siff"
    if kind == "garbage":
        path.write_bytes(b"hello")
    elif kind == "directory":
        path.mkdir()
    elif kind == "not_tiff":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(4096))
    code, out, err = run(capsys, "info", path)
    assert code == 2 and out == ""
    assert err.startswith("siff: error: ") and str(path) in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_console_script_prints_no_traceback(tmp_path):
    """A real process: exit status 2 and one 'siff: error:' line naming the file."""
    missing = tmp_path / "nope.siff"
    proc = subprocess.run([sys.executable, "-m", "siffviewer.cli", "info", str(missing)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == f"siff: error: {missing}: cannot open file: No such file or directory\n"
    proc = subprocess.run([sys.executable, "-m", "siffviewer.cli", "frobnicate"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"siff (libsiff {libsiff.__version__})"
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("info", "to-tiff", "export-traces", "session"):
        assert command in out


# ------------------------------------------------------------------ siff to-tiff

def description_count_offsets(path: Path) -> list[int]:
    """File offsets of the count field of every IFD's ImageDescription (BigTIFF)."""
    data = path.read_bytes()
    assert data[:4] == b"II+\x00"
    offsets, ifd = [], struct.unpack_from("<Q", data, 8)[0]
    while ifd:
        n = struct.unpack_from("<Q", data, ifd)[0]
        for k in range(n):
            entry = ifd + 8 + 20 * k
            if struct.unpack_from("<H", data, entry)[0] == 270:
                offsets.append(entry + 4)
        ifd = struct.unpack_from("<Q", data, ifd + 8 + 20 * n)[0]
    return offsets


def test_to_tiff_round_trip_against_corrosiffpy(capsys, sample, tmp_path):
    out_path = tmp_path / "out.tiff"
    code, out, err = run(capsys, "to-tiff", sample, "--out", out_path)
    assert code == 0, err
    assert out.startswith(f"{out_path}: 320 frames of 96 x 112 (uint16)")
    src, ours = libsiff.open_file(sample), corrosiffpy.open_file(str(out_path))
    np.testing.assert_array_equal(ours.get_frames(), src.get_frames())
    theirs_header, src_header = ours.get_file_header(), src.get_file_header()
    assert theirs_header["Non-varying frame data"] == src_header["Non-varying frame data"]
    assert theirs_header["ROI string"] == src_header["ROI string"]
    meta = ours.get_frame_metadata()
    assert [m["Frame metadata"] for m in meta] == [src.get_description(i) for i in range(320)]
    assert {(m["bits_per_sample"], m["siff_tag"]) for m in meta} == {(16, None)}
    np.testing.assert_array_equal(ours.get_experiment_timestamps(), src.get_experiment_timestamps())
    np.testing.assert_array_equal(ours.get_epoch_timestamps_laser(), src.get_epoch_timestamps_laser())
    # and libsiff reads it back the same way
    with libsiff.open_file(out_path) as back:
        np.testing.assert_array_equal(back.get_frames(), src.get_frames())
    src.close()

    # byte-identical to corrosiffpy.siff_to_tiff except ImageDescription's count, which
    # corrosiffpy writes as 1 and libsiff as the text's length (what TIFF readers expect)
    reference = tmp_path / "reference.tiff"
    corrosiffpy.siff_to_tiff(str(sample), str(reference))
    a, b = bytearray(out_path.read_bytes()), bytearray(reference.read_bytes())
    assert len(a) == len(b)
    offsets = description_count_offsets(out_path)
    assert len(offsets) == 320 and offsets == description_count_offsets(reference)
    for off in offsets:
        assert struct.unpack_from("<Q", b, off)[0] == 1
        a[off:off + 8] = b[off:off + 8] = bytes(8)
    assert a == b


def test_to_tiff_reads_back_with_tifffile(sample, tmp_path):
    tifffile = pytest.importorskip("tifffile")
    out_path = Path(siff_to_tiff(sample, tmp_path / "t.tiff"))
    with libsiff.open_file(sample) as src:
        frames = src.get_frames()
        descriptions = [src.get_description(i) for i in range(src.num_frames())]
    with tifffile.TiffFile(out_path) as tif:
        assert tif.is_bigtiff and tif.is_scanimage
        pages = np.stack([page.asarray() for page in tif.pages])
        assert [page.description for page in tif.pages][:5] == [d.rstrip("\n")
                                                                for d in descriptions[:5]]
    assert pages.dtype == np.uint16
    np.testing.assert_array_equal(pages, frames)


def test_to_tiff_chunking_does_not_change_the_file(sample, tmp_path):
    calls = []
    one = Path(siff_to_tiff(sample, tmp_path / "a.tiff", chunk_frames=7,
                            progress=lambda d, t: calls.append((d, t))))
    two = Path(siff_to_tiff(sample, tmp_path / "b.tiff"))
    assert one.read_bytes() == two.read_bytes()
    assert calls[0] == (0, 320) and calls[-1] == (320, 320)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and len(calls) == 1 + 46


def test_to_tiff_default_path_and_overwrite_rules(capsys, sample):
    target = sample.with_suffix(".tiff")
    code, out, _ = run(capsys, "to-tiff", sample)
    assert code == 0 and target.is_file() and out.startswith(str(target))
    before = target.read_bytes()
    code, out, err = run(capsys, "to-tiff", sample)
    assert code == 2 and err == f"siff: error: {target} exists (use --force to replace it)\n"
    target.write_bytes(b"stale")
    code, _, _ = run(capsys, "-q", "to-tiff", sample, "--force")
    assert code == 0 and target.read_bytes() == before


def test_to_tiff_failure_leaves_no_partial_file(sample, tmp_path, monkeypatch):
    target = tmp_path / "out.tiff"
    target.write_bytes(b"previous result")
    real = libsiff.SiffIO.get_frames
    calls = {"n": 0}

    def failing(self, frames=None, registration=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise libsiff.SiffCorruptError(f"{self.filename}: frame 20 is damaged")
        return real(self, frames, registration)

    monkeypatch.setattr(libsiff.SiffIO, "get_frames", failing)
    with pytest.raises(libsiff.SiffCorruptError):
        siff_to_tiff(sample, target, chunk_frames=10)
    assert target.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tiff", "sample.siff"]


def test_to_tiff_argument_errors(capsys, sample, tmp_path):
    with pytest.raises(SiffIOError, match="not implemented"):
        siff_to_tiff(sample, tmp_path / "x.tiff", mode="OME")
    assert not (tmp_path / "x.tiff").exists()  # (corrosiffpy leaves an empty file here)
    with pytest.raises(SiffIOError, match="refusing to overwrite the source"):
        siff_to_tiff(sample, sample)
    assert sample.read_bytes() == SAMPLE.read_bytes()
    code, _, err = run(capsys, "to-tiff", tmp_path / "none.siff")
    assert code == 2 and err == f"siff: error: {tmp_path / 'none.siff'}: no such file\n"
    code, _, err = run(capsys, "to-tiff", sample, "--out", tmp_path / "no" / "dir.tiff")
    assert code == 2 and "no such folder" in err
    junk = tmp_path / "junk.siff"
    junk.write_bytes(b"II*\x00" + bytes(100))
    code, _, err = run(capsys, "to-tiff", junk)
    assert code == 2 and err.startswith(f"siff: error: {junk}") and "Traceback" not in err
    assert not junk.with_suffix(".tiff").exists()


def test_to_tiff_of_a_file_without_frames(sample, tmp_path):
    with libsiff.open_file(sample) as sio:
        first_ifd = sio.file_info.first_ifd
    empty = tmp_path / "empty.siff"
    empty.write_bytes(SAMPLE.read_bytes()[:first_ifd + 10])
    with pytest.raises(SiffError, match="no complete frame"), \
            pytest.warns(RuntimeWarning, match="ends inside frame 0"):
        siff_to_tiff(empty)
    assert not empty.with_suffix(".tiff").exists()


# ------------------------------------------------------------------ siff export-traces

def _saved_masks(sample, tmp_path):
    from siffviewer.model.masks import MaskSet

    with libsiff.SiffReader(sample) as sr:
        shape = sr.im_params.single_channel_volume
    mask = np.zeros(shape[1:], bool)
    mask[30:60, 40:80] = True
    masks = MaskSet(shape)
    masks.add_roi("soma", mask=mask, all_planes=True)
    return masks, masks.save(tmp_path / "other.siffmasks.npz", source=str(sample))


def test_export_traces_options_match_corrosiffpy(capsys, sample, tmp_path):
    """--masks, --channel, --raw and --dff against corrosiffpy's sums of the same mask."""
    pd = pytest.importorskip("pandas")
    masks, masks_path = _saved_masks(sample, tmp_path)
    out_csv = tmp_path / "traces.csv"
    code, out, err = run(capsys, "export-traces", sample, "--masks", masks_path, "--out", out_csv,
                         "--channel", 1, "--raw", "--dff", "20,5")
    assert code == 0, err
    assert out.startswith(f"{out_csv}: 1 ROIs x 40 timepoints")
    text = out_csv.read_text()
    header = dict(line[2:].split(": ", 1) for line in text.splitlines() if line.startswith("# ")
                  and ": " in line)
    assert header["source_file"] == str(sample.resolve())  # absolute in every header
    assert header["colour_channel"].startswith("1 (0-based)") and header["scanimage_channel"] == "2"
    assert header["file_size_bytes"] == str(sample.stat().st_size)
    df = pd.read_csv(out_csv, comment="#")
    stack = masks.stack()[0]
    sio = corrosiffpy.open_file(str(sample))
    with libsiff.SiffReader(sample) as sr:
        grid = sr.frame_grid()
    want = np.zeros(40, np.uint64)
    for z in range(stack.shape[0]):
        want += np.asarray(sio.sum_roi(stack[z], frames=[int(f) for f in grid[:, z, 1]],
                                       registration={}), np.uint64)
    np.testing.assert_array_equal(df.photons.to_numpy(), want)
    # dF/F with F0 the 20th percentile in a 5 s moving window (scipy as the reference)
    from scipy import ndimage

    t = df.time_s.to_numpy()
    size = int(round(5 / np.median(np.diff(t)))) | 1
    f0 = ndimage.percentile_filter(want.astype(float), 20, size=size, mode="nearest")
    np.testing.assert_allclose(df.dff.to_numpy(), (want - f0) / f0, rtol=1e-12)
    # an existing output needs --force
    code, _, err = run(capsys, "export-traces", sample, "--masks", masks_path, "--out", out_csv)
    assert code == 2 and "exists (use --force" in err


def test_export_traces_usage_and_bad_inputs(capsys, sample, tmp_path):
    out = tmp_path / "t.csv"
    code, _, err = run(capsys, "export-traces", sample, "--masks", tmp_path / "none.npz", "--out", out)
    assert code == 2 and "none.npz: no such masks file" in err
    text = tmp_path / "masks.txt"
    text.write_text("these are not masks\n")
    code, _, err = run(capsys, "export-traces", sample, "--masks", text, "--out", out)
    assert code == 2 and err.count("\n") == 1 and "masks.txt: not a masks file" in err
    assert "pickle" not in err
    _, masks_path = _saved_masks(sample, tmp_path)
    code, _, err = run(capsys, "export-traces", sample, "-m", masks_path, "-o", out, "--channel", 5)
    assert code == 2 and "channel 5 does not exist" in err
    with pytest.raises(SystemExit) as exc:
        main(["export-traces", str(sample), "--out", str(out), "--dff", "ten"])
    assert exc.value.code == 2 and "PERCENTILE,WINDOW_S" in capsys.readouterr().err


def test_info_into_a_closed_pipe_is_quiet():
    """`siff info FILE | head -1`: the reader leaving early is not an error."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", "import sys; from siffviewer.cli import main;"
                                 " sys.exit(main())", "info", str(SAMPLE)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        proc.stdout.close()  # closed before the child writes: every write hits EPIPE
        err = proc.stderr.read().decode()
        assert proc.wait() == 0, err
        assert "Broken pipe" not in err and "Traceback" not in err


# ------------------------------------------------------------------ progress bar

def test_progress_bar_draws_in_place():
    stream = io.StringIO()
    bar = ProgressBar("to-tiff", stream=stream, enabled=True, width=10, min_interval=0.0)
    bar(0, 320)
    bar(160, 320)
    bar(320, 320)
    bar.close()
    text = stream.getvalue()
    frames = text.split("\r")[1:]
    assert frames[0].startswith("to-tiff [----------]   0%  0/320 frames")
    assert frames[1].startswith("to-tiff [#####-----]  50%  160/320 frames")
    assert frames[2].startswith("to-tiff [##########] 100%  320/320 frames")
    assert text.endswith("\n") and text.count("\n") == 1


def test_progress_bar_fraction_throttling_and_quiet():
    stream = io.StringIO()
    bar = ProgressBar("export", stream=stream, enabled=True, width=4, min_interval=3600)
    bar(0.25)
    bar(0.5)  # throttled
    bar(1.0)  # the final update is always drawn
    bar.close()
    assert [f[:18] for f in stream.getvalue().split("\r")[1:]] == ["export [#---]  25%",
                                                                   "export [####] 100%"]
    quiet = io.StringIO()
    with ProgressBar("x", stream=quiet) as bar:  # not a terminal: nothing is drawn
        bar(1, 2)
    assert quiet.getvalue() == ""


def test_to_tiff_progress_on_a_terminal(sample, tmp_path, monkeypatch, capsys):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main(["to-tiff", str(sample), "--out", str(tmp_path / "p.tiff")]) == 0
    drawn = tty.getvalue()
    assert drawn.startswith("\rto-tiff [") and "320/320 frames" in drawn and drawn.endswith("\n")
    tty.seek(0)
    tty.truncate()
    assert main(["-q", "to-tiff", str(sample), "--out", str(tmp_path / "p.tiff"), "-f"]) == 0
    assert tty.getvalue() == ""


def test_launcher_forwards_macos_file_open_events(qtbot, tmp_path):
    """packaging/launcher_gui.py: a QFileOpenEvent (Finder double-click) opens the file."""
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        import launcher_gui
    finally:
        sys.path.remove(str(ROOT / "packaging"))
    from PyQt6 import QtCore, QtWidgets

    class FileOpen:  # PyQt6 cannot construct a QFileOpenEvent; the filter reads only these
        def __init__(self, path):
            self.path = path

        def type(self):
            return QtCore.QEvent.Type.FileOpen

        def file(self):
            return self.path

    class Window(QtWidgets.QWidget):
        opened = []

        def open_path(self, path):
            self.opened.append(path)
            return True

    app = QtWidgets.QApplication.instance()
    for old in QtWidgets.QApplication.topLevelWidgets():  # windows other tests left behind
        if hasattr(old, "open_path"):
            old.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete.value)
    window = Window()
    qtbot.addWidget(window)
    window.show()
    forwarder = launcher_gui.install_file_open_handler(app)
    try:
        target = str(tmp_path / "a.siff")
        assert forwarder.eventFilter(app, FileOpen(target)) is True
        assert Window.opened == [target]
        assert forwarder.eventFilter(app, QtCore.QEvent(QtCore.QEvent.Type.Show)) is False
    finally:
        app.removeEventFilter(forwarder)


def test_launcher_bundle_check_in_the_dev_tree(tmp_path):
    """The --bundle-check report (used by the packaging smoke test) from the source tree."""
    out = tmp_path / "check.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, str(ROOT / "packaging" / "launcher_gui.py"),
                           "--bundle-check", str(out)], env=env, capture_output=True,
                          text=True, timeout=120)
    report = json.loads(out.read_text())
    assert proc.returncode == 0, report
    assert report["ok"] and not report["frozen"] and report["font_families"] > 0
    assert report["glyphs"] == {"ink": True, "distinct": True}
    assert report["sample_frames"] == 320 and report["icon_size"] == [256, 256]


def test_readme_lists_every_subcommand():
    """The README's table of ``siff`` subcommands is the parser's list, no more, no less."""
    import re

    from siffviewer.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    table = re.findall(r"^\| `siff ([a-z-]+)", (ROOT / "README.md").read_text(), re.M)
    assert sorted(table) == sorted(sub.choices)
