"""`siff diff` and the header diff on real ScanImage headers (tests/data/headers), written
into .siff files with libsiff's writer, against the differences checked by hand with
`diff` on the header texts (the derived header's edits are listed in the headers' README)."""

import json
from pathlib import Path

import numpy as np
import pytest

from libsiff.writer import SiffWriter
from siffviewer.cli import main
from siffviewer.model.header_diff import diff_files

HEADERS = Path(__file__).parent / "data" / "headers"

# si2022_slowstack_volume -> derived_seedlike_fastz_6planes_2ch, by hand from `diff` of the texts
CHANGED = {
    "Channels.channelDisplay": ("1", "[1 2]"), "Channels.channelSave": ("1", "[1 2]"),
    "Channels.channelsActive": ("1", "[1 2]"),
    "FastZ.discardFlybackFrames": ("false", "true"), "FastZ.enable": ("false", "true"),
    "FastZ.flybackTime": ("0.07", "0.015"), "FastZ.numDiscardFlybackFrames": ("0", "1"),
    "FastZ.position": ("50", "-45"),
    "RoiManager.linesPerFrame": ("512", "256"), "RoiManager.pixelsPerLine": ("512", "128"),
    "RoiManager.scanFramePeriod": ("0.0333177", "0.0162694"),
    "RoiManager.scanFrameRate": ("30.0141", "61.4651"),
    "RoiManager.scanVolumeRate": ("0.187588", "8.78073"),
    "StackManager.actualNumSlices": ("20", "6"), "StackManager.actualNumVolumes": ("1", "6737"),
    "StackManager.actualStackZStepSize": ("8.949", "5"),
    "StackManager.centeredStack": ("1", "false"), "StackManager.framesPerSlice": ("8", "1"),
    "StackManager.numFramesPerVolume": ("160", "6"),
    "StackManager.numFramesPerVolumeWithFlyback": ("160", "7"),
    "StackManager.numSlices": ("20", "6"), "StackManager.numVolumes": ("1", "6737"),
    "StackManager.stackActuator": ("'motor'", "'fastZ'"),
    "StackManager.stackDefinition": ("'bounded'", "'uniform'"),
    "StackManager.stackMode": ("'slow'", "'fast'"),
    "StackManager.stackZEndPos": ("912.489", "-20"),
    "StackManager.stackZStartPos": ("742.467", "-45"),
    "StackManager.stackZStepSize": ("1", "5"),
    "StackManager.zPowerReference": ("742.467", "-45"),
    "StackManager.zs": (None, "[-45 -40 -35 -30 -25 -20]"),
    "StackManager.zsAllActuators": (None, "[-45 -40 -35 -30 -25 -20]"),
    "StackManager.zsRelative": (None, "[-45 -40 -35 -30 -25 -20]"),
    "TileManager.isFastZ": ("false", "true"),
}
ADDED = {"Scan2D.Acq.Tau_bins": "627", "Scan2D.Acq.binResolution": "2"}


def write_siff(path: Path, header: str, rois: str, shape=(4, 4)) -> Path:
    """A one-frame .siff carrying the header text ``header`` and the ROI JSON ``rois``."""
    with SiffWriter(path, (HEADERS / f"{header}_header.txt").read_text(),
                    (HEADERS / f"{rois}_roigroups.json").read_text()) as w:
        w.add_frame(np.array([0, 1]), np.array([1, 2]), np.array([5, 9]), shape=shape)
    return path


@pytest.fixture
def files(tmp_path):
    return {
        "2022": write_siff(tmp_path / "slowstack.siff", "si2022_slowstack_volume",
                           "si2022_slowstack_volume"),
        "seed": write_siff(tmp_path / "seedlike.siff", "derived_seedlike_fastz_6planes_2ch",
                           "derived_seedlike_fastz"),
        "2019": write_siff(tmp_path / "single.siff", "si2019b_singleplane", "si2019b_singleplane"),
    }


def test_siff_diff_json_equals_the_hand_checked_list(files, capsys):
    assert main(["diff", str(files["2022"]), str(files["seed"]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    changed = {row["setting"]: (row["a"], row["b"]) for row in out["changed"]}
    assert set(changed) == set(CHANGED)
    for key, (a, b) in CHANGED.items():
        assert changed[key][1] == b
        if a is not None:
            assert changed[key][0] == a
    # the slow stack's zs: 20 slices x 8 frames per slice, 742.467 to 912.489
    zs = changed["StackManager.zs"][0].strip("[]").split()
    assert len(zs) == 160 and zs[0] == "742.467" and zs[-1] == "912.489"
    assert {row["setting"]: row["b"] for row in out["added"]} == ADDED
    assert out["removed"] == []


def _raw_keys(name: str) -> set[str]:
    """Header keys as ImParams paths, by hand: SI.hFoo.bar -> Foo.bar, SI.X -> base.X."""
    keys = set()
    for line in (HEADERS / f"{name}_header.txt").read_text().splitlines():
        if " = " not in line:
            continue
        parts = line.split(" = ")[0].split(".")
        if len(parts) == 2:
            keys.add(f"base.{parts[1]}")
        else:
            parts = [p[1:] if len(p) > 1 and p[0] == "h" and p[1].isupper() else p for p in parts[1:]]
            keys.add(".".join(parts))
    return keys


def test_siff_diff_between_scanimage_2019b_and_2022(files, capsys):
    diff = diff_files(files["2019"], files["2022"])
    a, b = _raw_keys("si2019b_singleplane"), _raw_keys("si2022_slowstack_volume")
    assert {k for k, _ in diff.added} == b - a
    assert {k for k, _ in diff.removed} == a - b
    changed = {k: (x, y) for k, x, y in diff.changed}
    # checked by hand in the two header texts
    assert changed["base.VERSION_MAJOR"] == ("'2019b'", "2022")
    assert changed["Channels.channelSave"] == ("[1 2]", "1")
    assert changed["base.acqState"] == ("'loop'", "'grab'")
    assert "RoiManager.linesPerFrame" not in changed  # 512 in both
    # 2019b has no CameraManager module (headers' README): all of it is added
    added = dict(diff.added)
    assert added["CameraManager.name"] == "'SI CameraManager'"
    # the text output
    assert main(["diff", str(files["2019"]), str(files["2022"])]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{len(diff.changed)} changed, {len(b - a)} added, {len(a - b)} removed")
    assert "~ base.VERSION_MAJOR: '2019b' -> 2022" in text


def test_same_file_has_no_differences_and_missing_file_is_an_error(files, tmp_path, capsys):
    assert main(["diff", str(files["2022"]), str(files["2022"]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] == out["added"] == out["removed"] == []
    assert main(["diff", str(files["2022"]), str(tmp_path / "nope.siff")]) == 2
    assert "nope.siff: no such file" in capsys.readouterr().err
