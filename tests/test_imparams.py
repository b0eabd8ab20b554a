"""ImParams against independent truth: the seed notebook's printed outputs (SiffPy's own
print of the derived seed-like header), hand-derived framelists of a small acquisition, and
what the real 2019b / 2022 ScanImage headers state about their acquisitions."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libsiff.errors import SiffError, SiffFormatError, SiffIndexError
from libsiff.imparams import SIROI, ImParams, ROIGroup, split_nvfd

HEADERS = Path(__file__).parent / "data" / "headers"
SEED_HEADER = (HEADERS / "derived_seedlike_fastz_6planes_2ch_header.txt").read_text()
SEED_ROIS = (HEADERS / "derived_seedlike_fastz_roigroups.json").read_text()
SEED_FRAMES = 94306  # the seed file's frame count, printed by the seed

# ---- literal output of the seed notebook (seed-siffpy-intro.rst) -----------------------------

SEED_PRINT_IM_PAR = "\n".join([
    'Image parameters: ',
    '\tScanImage modules : ',
    '\t\tbase',
    '\t\tBeams',
    '\t\tCameraManager',
    '\t\tChannels',
    '\t\tConfigurationSaver',
    '\t\tCoordinateSystems',
    '\t\tCycleManager',
    '\t\tDisplay',
    '\t\tFastZ',
    '\t\tIntegrationRoiManager',
    '\t\tMotionManager',
    '\t\tMotors',
    '\t\tPhotostim',
    '\t\tPmts',
    '\t\tRoiManager',
    '\t\tScan2D',
    '\t\tShutters',
    '\t\tStackManager',
    '\t\tTileManager',
    '\t\tUserFunctions',
    '\t\tWSConnector',
    '\t\tWaveformManager',
    '\t_num_frames_from_siffio : 94306',
    "\troi_groups : {'imagingRoiGroup': ",
    '        ROI group Default Imaging ROI Group with',
    '        1 ROI(s):',
    '',
    '        ',
    '        ROI  with',
    '        13 scanfield(s):',
    '',
    "        {'ver': 1, 'classname': 'scanimage.mroi.scanfield.fields.RotatedRectangle', "
    "'name': 'Default Imaging Scanfield', 'UserData': None, 'roiUuid': '9DB51A994047081F', "
    "'roiUuiduint64': 1.136401848e+19, 'centerXY': [0, 0], 'sizeXY': [0.9, 1.8], "
    "'rotationDegrees': 0, 'enable': 1, 'pixelResolutionXY': [128, 256], "
    "'pixelToRefTransform': [[0.00703125, 0, -0.453515625], [0, 0.00703125, -0.903515625], "
    "[0, 0, 1]], 'affine': [[0.9, 0, -0.45], [0, 1.8, -0.9], [0, 0, 1]]}",
    '        ',
    "        , 'integrationRoiGroup': ",
    '        ROI group  with',
    '        1 ROI(s):',
    '',
    '        ',
    '        ROI  with',
    '        1 scanfield(s):',
    '',
    '        ',
    '        ',
    '        }',
    '',  # print() adds the final empty line shown in the notebook
])

SEED_PRINT_FASTZ = "\n".join([
    'FastZ module: ',
    '\tsubmodules : {}',
    '\tactuatorLag : 0',
    '\tdiscardFlybackFrames : True',
    '\tenable : True',
    '\tenableFieldCurveCorr : False',
    '\terrorMsg : ',
    '\tflybackTime : 0.015',
    '\thasFastZ : True',
    '\tname : SI FastZ',
    '\tnumDiscardFlybackFrames : 1',
    '\tposition : -45',
    '\treserverInfo : ',
    '\tuserInfo : ',
    '\tvolumePeriodAdjustment : -0.0006',
    '\twarnMsg : ',
    '\twaveformType : sawtooth',
])

SEED_TIMEPOINTS_0_10 = [
    0, 2, 4, 6, 8, 10, 14, 16, 18, 20, 22, 24, 28, 30, 32, 34, 36, 38, 42, 44, 46, 48, 50, 52,
    56, 58, 60, 62, 64, 66, 70, 72, 74, 76, 78, 80, 84, 86, 88, 90, 92, 94, 98, 100, 102, 104,
    106, 108, 112, 114, 116, 118, 120, 122, 126, 128, 130, 132, 134, 136,
]

SEED_MODULES = [
    "base", "Beams", "CameraManager", "Channels", "ConfigurationSaver", "CoordinateSystems",
    "CycleManager", "Display", "FastZ", "IntegrationRoiManager", "MotionManager", "Motors",
    "Photostim", "Pmts", "RoiManager", "Scan2D", "Shutters", "StackManager", "TileManager",
    "UserFunctions", "WSConnector", "WaveformManager",
]


@pytest.fixture(scope="module")
def seed():
    return ImParams.from_header(SEED_HEADER, SEED_ROIS, SEED_FRAMES, filename="FB_1.siff")


def header(name: str) -> tuple[str, str]:
    return ((HEADERS / f"{name}_header.txt").read_text(),
            (HEADERS / f"{name}_roigroups.json").read_text())


def edit(text: str, key: str, value: str) -> str:
    """Replace the value of one ``SI.*`` line (which must exist)."""
    lines = text.split("\n")
    hits = [i for i, line in enumerate(lines) if line.startswith(key + " = ")]
    assert len(hits) == 1, key
    lines[hits[0]] = f"{key} = {value}"
    return "\n".join(lines)


# ---- the seed notebook's printed outputs ---------------------------------------------------------

def test_print_im_params_is_the_seed_text(seed, capsys):
    print(seed)
    assert capsys.readouterr().out == SEED_PRINT_IM_PAR + "\n"
    assert str(seed) == repr(seed) == SEED_PRINT_IM_PAR


def test_print_fastz_is_the_seed_text(seed, capsys):
    print(seed.FastZ)
    assert capsys.readouterr().out == SEED_PRINT_FASTZ + "\n"


def test_seed_framelists(seed):
    assert seed.flatten_by_timepoints(timepoint_start=0, timepoint_end=10) == SEED_TIMEPOINTS_0_10
    assert seed.flatten_by_timepoints(timepoint_start=0, timepoint_end=10, reference_z=3) == [
        6, 20, 34, 48, 62, 76, 90, 104, 118, 132]
    assert seed.framelist_by_color(color_channel=0, lower_bound_timepoint=0,
                                   upper_bound_timepoint=10) == SEED_TIMEPOINTS_0_10
    assert seed.framelist_by_slices(color_channel=0, lower_bound=0, upper_bound=5,
                                    slices=[2]) == [4, 18, 32, 46, 60]
    # get_frames(framelist_by_slices(color_channel=0, slices=[3])).shape == (6736, 256, 128)
    assert (len(seed.framelist_by_slices(color_channel=0, slices=[3])), *seed.shape) == (
        6736, 256, 128)
    # get_frames(flatten_by_timepoints(color_channel=None)).reshape(array_shape) prints
    # ['timepoints: 6736', 'slices: 6', 'channels: 2', 'rows: 256', 'columns: 128']
    assert seed.array_shape == (6736, 6, 2, 256, 128)
    assert len(seed.flatten_by_timepoints(color_channel=None)) == 6736 * 6 * 2
    # sum_mask's 2-D result, one value per frame of flatten_by_timepoints(): 6736 * 6
    assert len(seed.flatten_by_timepoints()) == 40416


def test_seed_geometry(seed):
    """The seed example of docs/compatibility.md §1.7: 6 slices + 1 flyback plane, 2 colours,
    94306 frames, 256x128."""
    assert seed.num_frames == 94306
    assert seed.frames_per_volume == 12
    assert seed.num_discard_flyback_frames == 2
    assert seed.num_true_frames == 80833
    assert seed.num_timepoints == seed.num_volumes == 6736
    assert seed.single_channel_volume == (6, 256, 128)
    assert seed.shape == (256, 128)
    assert seed.volume == (6, 2, 256, 128)
    assert seed.volume_one_color == (6, 256, 128)
    assert seed.stack == seed.array_shape
    assert seed.flyback_frames[:6] == [12, 13, 26, 27, 40, 41]
    assert len(seed.flyback_frames) == 6736 * 2  # the 2 trailing frames are image frames
    assert seed.discard_frames is True
    assert (seed.num_slices, seed.frames_per_slice, seed.num_colors) == (6, 1, 2)
    assert seed.colors == [1, 2] and seed.color_list == [1, 2]
    assert seed.lowest_color_channel == 1
    assert seed.zoom == 1
    assert seed.imaging_fov == [[-135, -135], [135, -135], [135, 135], [-135, 135]]
    assert seed.step_size == 5
    assert seed.z_vals == [-45, -40, -35, -30, -25, -20]
    assert seed.frame_rate == 61.4651 and seed.frame_period == 0.0162694
    assert seed.volume_rate == 8.78073 and seed.volume_period == pytest.approx(1 / 8.78073)
    assert seed.scale == [1.0, 5, 1, 270 / 256, 270 / 128]
    assert seed.scale_force_z == seed.scale
    assert seed.scale_no_color_no_fps == [1.0, 1, 270 / 256, 270 / 128]
    assert seed.axis_labels == ["Time", "Z planes", "Color channel", "x", "y"]
    assert seed.final_full_volume_frame == 6736 * 12


def test_flim_keys(seed):
    # binResolution = 2 → 5 ps * 2**2 = 20 ps; Tau_bins = 627
    assert seed.picoseconds_per_bin == 20
    assert seed.num_bins == 627
    bins = seed.arrival_time_bins
    assert bins.dtype == float and bins.shape == (627,) and list(bins[:3]) == [0.0, 20.0, 40.0]
    for resolution, width in [(0, 5), (3, 40)]:
        text = edit(SEED_HEADER, "SI.hScan2D.hAcq.binResolution", str(resolution))
        assert ImParams.from_header(text, SEED_ROIS, 10).picoseconds_per_bin == width
    without = "\n".join(line for line in SEED_HEADER.split("\n") if "hAcq" not in line)
    im_par = ImParams.from_header(without, SEED_ROIS, 10)
    with pytest.warns(RuntimeWarning, match="binResolution"):
        assert im_par.picoseconds_per_bin == 20
    assert im_par.num_bins is None


# ---- module tree and the dict-like interface -----------------------------------------------------

def test_modules(seed):
    assert list(seed.si_modules) == SEED_MODULES
    assert hasattr(seed, "FastZ") and not hasattr(seed, "NoSuchModule")
    with pytest.raises(AttributeError):
        seed.NoSuchModule
    fastz = seed.FastZ
    assert fastz.module_name == "FastZ" and fastz.submodules == {}
    assert fastz.enable is True and fastz["numDiscardFlybackFrames"] == 1
    with pytest.raises(KeyError):
        fastz["noSuchKey"]
    assert seed.base.VERSION_MAJOR == 2022 and seed.base.imagingSystem == "Imaging_RGG"
    assert seed.Scan2D.Acq.Tau_bins == 627
    assert seed.Scan2D.submodules["Acq"].binResolution == 2
    assert seed.Scan2D.virtualChannelSettings__1.source == "AI1"
    assert seed.Display.scanfieldDisplays.z == 0
    assert seed.RoiManager.scanFrameRate == 61.4651
    assert seed.Channels.channelName[0] == "Channel 1"
    assert "FastZ" in dir(seed) and "Acq" in dir(seed.Scan2D)


def test_dict_interface(seed):
    assert seed["num_frames"] == 94306
    assert seed["FastZ"] is seed.FastZ
    with pytest.raises(KeyError):
        seed["no_such_field"]
    assert list(seed.keys()) == ["si_modules", "_num_frames_from_siffio", "roi_groups"]
    assert [k for k, _ in seed.items()] == list(seed.keys())
    assert seed.values()[1] == 94306
    im_par = ImParams.from_header(SEED_HEADER, SEED_ROIS, 10)
    im_par["MyNote"] = "x"
    assert im_par.mynote == "x"
    assert str(im_par).endswith("\tmynote : x\n")


def test_roi_groups(seed):
    assert list(seed.roi_groups) == ["imagingRoiGroup", "integrationRoiGroup"]
    imaging = seed.roi_groups["imagingRoiGroup"]
    assert isinstance(imaging, ROIGroup) and isinstance(imaging.rois, SIROI)
    assert imaging.name == "Default Imaging ROI Group"
    assert imaging.roiUuid == "E9CD2A60E29A5EDE" and imaging.UserData is None
    assert imaging.rois.scanfields["pixelResolutionXY"] == [128, 256]
    assert imaging.rois.raw["name"] == "Default Imaging Roi"
    assert not hasattr(imaging.rois, "name")  # SiffPy keeps only the scanfields
    assert seed.roi_groups["integrationRoiGroup"].name == ""


def test_siffpy_construction_gives_the_same_object():
    """SiffPy's ImParams.from_dict(header_dict, num_frames) + add_roi_data(dict)."""
    im_par = ImParams.from_dict(split_nvfd(SEED_HEADER), num_frames=SEED_FRAMES)
    im_par.add_roi_data(json.loads(SEED_ROIS))
    assert str(im_par) == SEED_PRINT_IM_PAR
    via_reader_dict = ImParams.from_file_header({
        "Filename": "x.siff", "Number of frames": SEED_FRAMES,
        "Non-varying frame data": SEED_HEADER, "ROI string": SEED_ROIS})
    assert str(via_reader_dict) == SEED_PRINT_IM_PAR and via_reader_dict.filename == "x.siff"
    assert str(ImParams()) == "Image parameters: \n\tScanImage modules : \n"
    assert ImParams().num_frames == 0


def test_nvfd_splitting():
    pairs = split_nvfd("SI.a = 1\nSI.hB.c = x = y\r\nSI.a = 2\n\nno separator\n")
    assert pairs == {"SI.a": "2", "SI.hB.c": "x"}  # duplicates overwrite; " = " truncates
    assert list(pairs) == ["SI.a", "SI.hB.c"]


def test_num_frames_from_header_when_not_given():
    im_par = ImParams.from_header(SEED_HEADER, SEED_ROIS, None)
    assert "_num_frames_from_siffio" not in im_par.keys()
    assert im_par.num_frames == 6737 * 6  # actualNumVolumes * numFramesPerVolume


def test_roi_string_edge_cases():
    assert ImParams.from_header(SEED_HEADER, "", 10).roi_groups == {}
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert ImParams.from_header(SEED_HEADER, "{not json", 10).roi_groups == {}


# ---- a small acquisition derived by hand: 20 timepoints x (6 planes + 1 flyback) x 2 colours ---

@pytest.fixture(scope="module")
def small():
    return ImParams.from_header(SEED_HEADER, SEED_ROIS, 20 * 7 * 2 + 5)  # + 5 frames of a 21st


def test_small_acquisition(small):
    assert small.num_timepoints == 20
    assert small.array_shape == (20, 6, 2, 256, 128)
    assert small.flyback_frames == [f for t in range(20) for f in (14 * t + 12, 14 * t + 13)]
    assert small.all_frames == [f for f in range(285) if f % 14 < 12]
    assert small.framelist_by_slice(slice_idx=0) == [14 * t for t in range(20)]
    assert small.framelist_by_slice(color_channel=1, slice_idx=5) == [14 * t + 11
                                                                      for t in range(20)]
    per_slice = small.framelist_by_slice()
    assert len(per_slice) == 6 and all(len(frames) == 20 for frames in per_slice)
    assert small.framelist_by_timepoint(color_channel=0)[3] == [42, 44, 46, 48, 50, 52]
    assert small.framelist_by_timepoint(1, timepoint_start=18, slice_idx=2) == [257, 271]
    assert small.flatten_by_timepoints(19, color_channel=None) == list(range(266, 278))
    # no upper bound: up to num_true_frames = (285 * 12) // 14 = 244 logical frames, i.e.
    # 4 of the 5 written frames 280..284 of the 21st volume (SiffPy's truncation, kept)
    assert small.num_true_frames == 244
    assert small.framelist_by_color(0, lower_bound_timepoint=19) == [
        266, 268, 270, 272, 274, 276, 280, 282]
    assert small.framelist_by_color(1, lower_bound_timepoint=19) == [
        267, 269, 271, 273, 275, 277, 281, 283]
    assert small.frame_index(19, 5, 1) == 277
    assert small.frame_index(20, 2, 0) == 284  # written frame of the incomplete volume
    with pytest.raises(SiffIndexError):
        small.frame_index(20, 2, 1)  # frame 285: not in the file
    with pytest.raises(SiffIndexError):
        small.frame_index(0, 6, 0)
    assert list(small.frame_index(np.arange(3), 0, 1)) == [1, 15, 29]
    table = small.frame_table()
    assert table.timepoint[[0, 13, 14, 284]].tolist() == [0, 0, 1, 20]
    assert table.slice[[0, 2, 11, 12, 13]].tolist() == [0, 1, 5, -1, -1]
    assert table.color[[0, 1, 12, 13]].tolist() == [0, 1, 0, 1]
    assert table.is_flyback.sum() == 40 and table.is_flyback[[12, 13, 26]].all()
    assert (table.repeat[~table.is_flyback] == 0).all()


def test_clamped_end_warns(small):
    with pytest.warns(RuntimeWarning, match="timepoint_end"):
        frames = small.flatten_by_timepoints(timepoint_start=19, timepoint_end=25)
    assert frames == [266, 268, 270, 272, 274, 276]


def test_argument_errors(small):
    with pytest.raises(ValueError):
        small.framelist_by_color(2)
    with pytest.raises(ValueError):
        small.flatten_by_timepoints(color_channel=2)
    with pytest.raises(ValueError):
        small.flatten_by_timepoints(reference_z=6)
    with pytest.raises(ValueError):
        small.framelist_by_slice(slice_idx=-1)
    with pytest.raises(ValueError):
        small.flatten_by_timepoints(timepoint_start=-1)
    with pytest.raises(TypeError):
        small.flatten_by_timepoints(timepoint_start=1.5)


def test_mroi_geometry():
    """Two imaging ROIs: x from the scanfields, y = sum of heights + fly-to lines
    (docs/compatibility.md §1.7):
    int(0.001 s / (6.31018e-05 s * 2 (bidirectional))) + 1 = 8 lines after each ROI."""
    text = edit(SEED_HEADER, "SI.hRoiManager.mroiEnable", "true")
    rois = json.loads(SEED_ROIS)
    template = rois["RoiGroups"]["imagingRoiGroup"]["rois"]
    roi_list = []
    for height in (100, 50):
        roi = json.loads(json.dumps(template))
        roi["scanfields"]["pixelResolutionXY"] = [128, height]
        roi_list.append(roi)
    rois["RoiGroups"]["imagingRoiGroup"]["rois"] = roi_list
    im_par = ImParams.from_header(text, json.dumps(rois), 10)
    assert im_par.shape == (100 + 8 + 50 + 8, 128)
    assert isinstance(im_par.roi_groups["imagingRoiGroup"].rois, list)
    roi_list[1]["scanfields"]["pixelResolutionXY"] = [64, 50]
    im_par = ImParams.from_header(text, json.dumps(rois), 10)
    with pytest.raises(NotImplementedError):
        im_par.xsize


# ---- the real headers: what they state about their acquisitions ---------------------------------

def test_real_2019b_single_plane():
    """ScanImage 2019b: one plane, channelSave = [1;2], 512x512, zoom 3, stack and FastZ off,
    framesPerSlice = 600 (frames of the time series, not repeats: the stack is off)."""
    nvfd, rois = header("si2019b_singleplane")
    im_par = ImParams.from_header(nvfd, rois, 600 * 2)
    assert im_par.base.VERSION_MAJOR == "2019b"
    assert "CameraManager" not in im_par.si_modules and "TileManager" not in im_par.si_modules
    assert list(im_par.si_modules)[:3] == ["base", "Beams", "Channels"]
    assert (im_par.num_slices, im_par.frames_per_slice, im_par.num_colors) == (1, 1, 2)
    assert im_par.shape == (512, 512) and im_par.zoom == 3
    assert im_par.array_shape == (600, 1, 2, 512, 512)
    assert im_par.discard_frames is False and im_par.flyback_frames == []
    assert im_par.frame_rate == 30.0209
    assert im_par.flatten_by_timepoints(0, 3) == [0, 2, 4]
    assert im_par.framelist_by_color(1, 0, 3) == [1, 3, 5]
    assert im_par.roi_groups["imagingRoiGroup"].rois.scanfields["pixelResolutionXY"] == [512, 512]
    assert im_par.num_bins is None
    with pytest.warns(RuntimeWarning):
        assert im_par.picoseconds_per_bin == 20


def test_real_2022_slow_stack():
    """ScanImage 2022: slow stack of 20 slices x 8 frames per slice, channelSave = 1, 512x512,
    one volume (160 frames); FastZ present but disabled."""
    nvfd, rois = header("si2022_slowstack_volume")
    im_par = ImParams.from_header(nvfd, rois, 160)
    assert list(im_par.si_modules) == SEED_MODULES
    assert (im_par.num_slices, im_par.frames_per_slice, im_par.num_colors) == (20, 8, 1)
    assert im_par.colors == 1 and im_par.color_list == [1]
    assert im_par.shape == (512, 512)
    assert im_par.volume == (20, 8, 1, 512, 512)
    assert im_par.volume_one_color == im_par.volume  # SiffPy quirk with one colour
    assert im_par.array_shape == (1, 20, 8, 1, 512, 512)
    assert im_par.frames_per_volume == 160 and im_par.num_timepoints == 1
    assert im_par.step_size == 8.949
    assert hasattr(im_par, "FastZ") and im_par.discard_frames is False
    assert im_par.flyback_frames == [] and im_par.num_discard_flyback_frames == 0
    # reference_z selects slice 3 (all 8 repeats), docs/compatibility.md §8a decision 5
    assert im_par.flatten_by_timepoints(reference_z=3) == list(range(24, 32))
    assert im_par.framelist_by_slices(slices=[2, 0]) == list(range(16, 24)) + list(range(8))
    assert im_par.framelist_by_slice(slice_idx=19) == list(range(152, 160))
    assert im_par.scale == [1.0, 1 / 160, 8.949, 1, 270 / 512, 270 / 512]
    assert im_par.axis_labels == ["Time", "Sub-slice repeats", "Z planes", "x", "y"]
    table = im_par.frame_table()
    assert table.slice.tolist() == [s for s in range(20) for _ in range(8)]
    assert table.repeat.tolist() == list(range(8)) * 20


def test_no_warning_on_the_common_paths(seed):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seed.flatten_by_timepoints()
        seed.framelist_by_slice()
        seed.framelist_by_timepoint(0)
        str(seed)


# ---- hostile header text (issue 17): a clear SiffFormatError naming the file, nothing else ------

def _from(nvfd: str = SEED_HEADER, rois: str = SEED_ROIS, frames: int = 280) -> ImParams:
    return ImParams.from_header(nvfd, rois, frames, filename="evil.siff")


@pytest.mark.parametrize("key", ["SI.hFoo.__class__", "SI.hFoo.__dict__", "SI.hFoo.params",
                                 "SI.hFoo.submodules", "SI.hFoo.module_name",
                                 "SI.hFoo.hBar.__getattr__", "SI.__class__"])
def test_header_keys_cannot_overwrite_attributes(key):
    im_par = _from(SEED_HEADER + f"\n{key} = 7\n")
    foo = im_par.si_modules.get("Foo") or im_par.base
    assert foo.__class__.__name__ in ("ScanImageModule", "ScanImageSubModule")
    assert isinstance(foo.submodules, dict) and isinstance(foo.params, dict)
    assert im_par.num_timepoints == 20  # the geometry of the seed header is intact
    str(im_par.si_modules["FastZ"])


def test_header_key_depth_is_bounded():
    key = "SI.hFoo." + ".".join(["a"] * 5000)
    with pytest.raises(SiffFormatError, match=r"evil\.siff.*dot-separated parts"):
        _from(SEED_HEADER + f"\n{key} = 1\n")


def test_deep_header_value_and_roi_json_are_format_errors():
    with pytest.raises(SiffFormatError, match=r"evil\.siff.*nests brackets deeper"):
        _from(SEED_HEADER + "\nSI.hFoo.x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(SiffFormatError, match=r"evil\.siff.*ROI-group JSON nests"):
        _from(rois='{"RoiGroups": ' + "[" * 5000 + "]" * 5000 + "}")
    # brackets inside JSON strings do not count as JSON nesting (a ROI's name stays raw)...
    deep_name = json.loads(SEED_ROIS)
    deep_name["RoiGroups"]["imagingRoiGroup"]["rois"]["name"] = "[" * 5000
    _from(rois=json.dumps(deep_name))
    # ...but a group's string values are MATLAB values, held to the same bound
    deep_name["RoiGroups"]["imagingRoiGroup"]["name"] = "[" * 5000 + "]" * 5000
    with pytest.raises(SiffFormatError, match=r"evil\.siff.*imagingRoiGroup.*nests"):
        _from(rois=json.dumps(deep_name))


def test_roi_json_keys_and_wrong_rois():
    rois = json.loads(SEED_ROIS)
    group = rois["RoiGroups"]["imagingRoiGroup"]
    group["roi_list"] = 5
    group["__class__"] = "x"
    group["fields"] = 3
    im_par = _from(rois=json.dumps(rois))
    imaging = im_par.roi_groups["imagingRoiGroup"]
    assert isinstance(imaging, ROIGroup) and isinstance(imaging.fields, dict)
    assert [type(r) for r in imaging.roi_list] == [SIROI]
    assert imaging.fields["roi_list"] == 5
    group["rois"] = 5
    with pytest.raises(SiffFormatError, match=r"evil\.siff.*imagingRoiGroup.*'rois' is a int"):
        _from(rois=json.dumps(rois))


@pytest.mark.parametrize("key, value", [
    ("SI.hStackManager.actualNumSlices", "Inf"), ("SI.hStackManager.actualNumSlices", "NaN"),
    ("SI.hStackManager.actualNumSlices", "1e9"), ("SI.hStackManager.actualNumSlices", "-3"),
    ("SI.hStackManager.framesPerSlice", "1000000000"),
    ("SI.hStackManager.framesPerSlice", "-Inf"),
    ("SI.hFastZ.numDiscardFlybackFrames", "1e12"),
    ("SI.hChannels.channelSave", "[" + " ".join(["1"] * 5000) + "]"),
])
def test_counts_are_checked_against_the_file(key, value):
    """Non-finite counts and counts far beyond the file's 280 frames are format errors before
    any frame list is built."""
    im_par = _from(edit(SEED_HEADER, key, value))
    for get in (lambda: im_par.num_timepoints, lambda: im_par.framelist_by_slice(),
                lambda: im_par.flatten_by_timepoints(), lambda: im_par.frame_table()):
        with pytest.raises(SiffFormatError, match=r"evil\.siff: header value"):
            get()


def test_a_count_may_exceed_a_short_file():
    """An aborted 6-plane stack with 5 frames is still readable: no complete timepoint."""
    im_par = _from(frames=5)
    assert im_par.num_timepoints == 0 and im_par.framelist_by_slice() == [[]] * 6
    assert im_par.all_frames == [0, 1, 2, 3, 4]


def test_flim_keys_are_read_by_their_full_name():
    """A crafted key routed to the same submodule (``SI.hScan2D.Acq``) or appearing earlier
    under another module cannot change what ImParams reads (the C core reads the same)."""
    crafted = ("SI.hFoo.hAcq.Tau_bins = 5\nSI.Tau_bins = 6\n" + SEED_HEADER
               + "\nSI.hScan2D.Acq.Tau_bins = 999\nSI.hScan2D.Acq.binResolution = 7\n")
    im_par = _from(crafted)
    assert im_par.num_bins == 627 and im_par.picoseconds_per_bin == 20
    with pytest.raises(SiffFormatError, match=r"evil\.siff.*binResolution"):
        _from(edit(SEED_HEADER, "SI.hScan2D.hAcq.binResolution", "1e300")).picoseconds_per_bin


_HEADER_ALPHABET = st.sampled_from(
    list("SIh.ABFZaxyz_0123456789 =[]{}();,'\"-+eE\n\r") + [" = ", "SI.h", "Inf", "NaN", "true"])


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(extra=st.lists(_HEADER_ALPHABET, max_size=200).map("".join),
       frames=st.integers(0, 10_000))
def test_any_header_text_gives_a_result_or_a_siff_error(extra, frames):
    """Fuzzing: arbitrary lines added to a real header never raise anything but SiffError
    from construction, the counts or the frame lists."""
    try:
        im_par = ImParams.from_header(SEED_HEADER + "\n" + extra, SEED_ROIS, frames,
                                      filename="fuzz.siff")
        im_par.num_timepoints
        im_par.framelist_by_slice()
        im_par.flatten_by_timepoints(color_channel=None)
        im_par.num_bins
        str(im_par)
    except SiffError as exc:
        assert "fuzz.siff" in str(exc)


_JSON_TEXT = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
        st.sampled_from(["rois", "scanfields", "roi_list", "__class__", "fields", "name",
                         "pixelResolutionXY", "RoiGroups", "imagingRoiGroup"]), kids,
        max_size=4),
    max_leaves=20).map(json.dumps)


@settings(max_examples=300, deadline=2000)
@given(text=_JSON_TEXT | st.text(alphabet='{}[]":,0a \\', max_size=300))
def test_any_roi_json_gives_a_result_or_a_siff_error(text):
    """Fuzzing the ROI JSON: groups or a RuntimeWarning, or a SiffFormatError naming the file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            im_par = _from(rois=text)
        except SiffError as exc:
            assert "evil.siff" in str(exc)
            return
    for group in im_par.roi_groups.values():
        str(group)
        assert all(isinstance(roi, SIROI) for roi in group.roi_list)


def test_reader_reports_a_hostile_header_with_the_file_name(tmp_path):
    """End to end: a .siff whose header nests 5000 brackets opens with a SiffFormatError
    naming the file, and nothing is left open."""
    from libsiff import SiffReader
    from libsiff.writer import SiffWriter

    path = tmp_path / "deep.siff"
    nvfd = SEED_HEADER + "\nSI.hFoo.x = " + "[" * 5000 + "]" * 5000 + "\n"
    with SiffWriter(path, nvfd, SEED_ROIS) as writer:
        writer.add_frame([0], [0], [0], (256, 128))
    with pytest.raises(SiffFormatError, match=r"deep\.siff: header value nests"):
        SiffReader(str(path))
