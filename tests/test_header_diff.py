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

# si2022_slowstack_volume -> derived_seedlike_fastz_6planes_2ch, by hand from `diff` of the
# texts: header keys and the values as written
CHANGED = {
    "SI.hChannels.channelDisplay": ("1", "[1;2]"), "SI.hChannels.channelSave": ("1", "[1;2]"),
    "SI.hChannels.channelsActive": ("1", "[1;2]"),
    "SI.hFastZ.discardFlybackFrames": ("false", "true"), "SI.hFastZ.enable": ("false", "true"),
    "SI.hFastZ.flybackTime": ("0.07", "0.015"), "SI.hFastZ.numDiscardFlybackFrames": ("0", "1"),
    "SI.hFastZ.position": ("50", "-45"),
    "SI.hRoiManager.linesPerFrame": ("512", "256"), "SI.hRoiManager.pixelsPerLine": ("512", "128"),
    "SI.hRoiManager.scanFramePeriod": ("0.0333177", "0.0162694"),
    "SI.hRoiManager.scanFrameRate": ("30.0141", "61.4651"),
    "SI.hRoiManager.scanVolumeRate": ("0.187588", "8.78073"),
    "SI.hStackManager.actualNumSlices": ("20", "6"),
    "SI.hStackManager.actualNumVolumes": ("1", "6737"),
    "SI.hStackManager.actualStackZStepSize": ("8.949", "5"),
    "SI.hStackManager.centeredStack": ("1", "false"), "SI.hStackManager.framesPerSlice": ("8", "1"),
    "SI.hStackManager.numFramesPerVolume": ("160", "6"),
    "SI.hStackManager.numFramesPerVolumeWithFlyback": ("160", "7"),
    "SI.hStackManager.numSlices": ("20", "6"), "SI.hStackManager.numVolumes": ("1", "6737"),
    "SI.hStackManager.stackActuator": ("'motor'", "'fastZ'"),
    "SI.hStackManager.stackDefinition": ("'bounded'", "'uniform'"),
    "SI.hStackManager.stackMode": ("'slow'", "'fast'"),
    "SI.hStackManager.stackZEndPos": ("912.489", "-20"),
    "SI.hStackManager.stackZStartPos": ("742.467", "-45"),
    "SI.hStackManager.stackZStepSize": ("1", "5"),
    "SI.hStackManager.zPowerReference": ("742.467", "-45"),
    "SI.hStackManager.zs": (None, "[-45 -40 -35 -30 -25 -20]"),
    "SI.hStackManager.zsAllActuators": (None, "[-45;-40;-35;-30;-25;-20]"),
    "SI.hStackManager.zsRelative": (None, "[-45;-40;-35;-30;-25;-20]"),
    "SI.hTileManager.isFastZ": ("false", "true"),
}
ADDED = {"SI.hScan2D.hAcq.Tau_bins": "627", "SI.hScan2D.hAcq.binResolution": "2"}

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
    zs = changed["SI.hStackManager.zs"][0].strip("[]").split()
    assert len(zs) == 160 and zs[0] == "742.467" and zs[-1] == "912.489"
    assert {row["setting"]: row["b"] for row in out["added"]} == ADDED
    assert out["removed"] == []


def _raw_keys(name: str) -> set[str]:
    """The SI.* keys of a header text, by hand."""
    lines = (HEADERS / f"{name}_header.txt").read_text().splitlines()
    return {line.split(" = ")[0] for line in lines if line.startswith("SI") and " = " in line}


def test_siff_diff_between_scanimage_2019b_and_2022(files, capsys):
    diff = diff_files(files["2019"], files["2022"])
    a, b = _raw_keys("si2019b_singleplane"), _raw_keys("si2022_slowstack_volume")
    assert {k for k, _ in diff.added} == b - a
    assert {k for k, _ in diff.removed} == a - b
    changed = {k: (x, y) for k, x, y in diff.changed}
    # checked by hand in the two header texts
    assert changed["SI.VERSION_MAJOR"] == ("'2019b'", "2022")
    assert changed["SI.hChannels.channelSave"] == ("[1;2]", "1")
    assert changed["SI.acqState"] == ("'loop'", "'grab'")
    assert "SI.hRoiManager.linesPerFrame" not in changed  # 512 in both
    # 2019b has no CameraManager module (headers' README): all of it is added
    added = dict(diff.added)
    assert added["SI.hCameraManager.name"] == "'SI CameraManager'"
    # the text output
    assert main(["diff", str(files["2019"]), str(files["2022"])]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{len(diff.changed)} changed, {len(b - a)} added, {len(a - b)} removed")
    assert "~ SI.VERSION_MAJOR: '2019b' -> 2022" in text


def test_same_file_has_no_differences_and_missing_file_is_an_error(files, tmp_path, capsys):
    assert main(["diff", str(files["2022"]), str(files["2022"]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] == out["added"] == out["removed"] == []
    assert main(["diff", str(files["2022"]), str(tmp_path / "nope.siff")]) == 2
    assert "nope.siff: no such file" in capsys.readouterr().err


def test_settings_are_compared_by_value_and_named_as_the_metadata_dock_names_them(files):
    from siffviewer.model.header_diff import diff_headers, read_header
    from siffviewer.model.session import Session

    a = {"SI.hChannels.channelSave": "[1;2]", "SI.hFastZ.position": "1", "SI.x": "'on'"}
    b = {"SI.hChannels.channelSave": "[1 2]", "SI.hFastZ.position": "1.0", "SI.x": "'off'"}
    assert diff_headers(a, b).changed == [("SI.x", "'on'", "'off'")]
    path = files["2019"].with_name("two_channels.siff")  # one complete timepoint
    with SiffWriter(path, (HEADERS / "si2019b_singleplane_header.txt").read_text(),
                    (HEADERS / "si2019b_singleplane_roigroups.json").read_text()) as w:
        for _ in range(2):
            w.add_frame(np.array([0, 1]), np.array([1, 2]), np.array([5, 9]), shape=(4, 4))
    session = Session(path)
    listed = session.header_settings()
    session.close()
    assert listed == read_header(path) == read_header(files["2019"])
    assert listed["SI.hChannels.channelSave"] == "[1;2]" and listed["SI.VERSION_MAJOR"] == "'2019b'"
