"""The MATLAB value parser against the test vectors of docs/compatibility.md §9, with the
changes of docs/compatibility.md §8a decision 7 (Inf/-Inf/NaN → float, cell arrays → lists), and against every
value of the real ScanImage headers in tests/data/headers."""

import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libsiff.errors import SiffError, SiffFormatError
from libsiff.matlab import parse_value
from libsiff.scanimage.matlab import _last_bracket_contents

HEADERS = Path(__file__).parent / "data" / "headers"

NAN = float("nan")
INF = float("inf")

# (MATLAB text, expected value). Types matter: 8e+07 is a float, 1 an int, true a bool.
SECTION_9 = [
    ("[1;2]", [1, 2]),
    ("[1 2]", [1, 2]),
    ("true", True),
    ("false", False),
    ("'sawtooth'", "sawtooth"),
    ("''", ""),
    ("-0.0006", -0.0006),
    ("8e+07", 80000000.0),
    ("[]", []),
    ("1", 1),
    ("1.684716838e+19", 1.684716838e19),
    ("[-135 -135;135 -135;135 135;-135 135]",
     [[-135, -135], [135, -135], [135, 135], [-135, 135]]),
    ("[1 0 0;0 1 0;0 0 1]", [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
    ("[Inf 1]", [INF, 1]),
    ("[8e+07 8e+07 NaN NaN]", [8e7, 8e7, NAN, NAN]),
    ("[true true]", "[true true]"),
    ("zeros(0,2)", "zeros(0,2)"),
    ("[2022  8  8 16 39 49.190]", "[2022  8  8 16 39 49.190]"),
    ("scanimage.types.BeamAdjustTypes.Exponential",
     "scanimage.types.BeamAdjustTypes.Exponential"),
    ("@scanimage.components.integrationRois.integrationPostProcessingFcn",
     "@scanimage.components.integrationRois.integrationPostProcessingFcn"),
]

# docs/compatibility.md §8a decision 7: where we differ from SiffPy on purpose (SiffPy's result
# in the comment).
DECISION_7 = [
    ("Inf", INF),  # SiffPy: 'Inf'
    ("NaN", NAN),  # SiffPy: 'NaN'
    ("-Inf", -INF),  # SiffPy: '-Inf'
    ("{[-1 1] [-1 1]}", [[-1, 1], [-1, 1]]),  # SiffPy: [-1, 1]
    ("{[0 2047] [-1 267] [0 100] [0 100]}",
     [[0, 2047], [-1, 267], [0, 100], [0, 100]]),  # SiffPy: [0, 100]
    ("{'Channel 1' 'Channel 2'}", ["Channel 1", "Channel 2"]),  # SiffPy: {'Channel 1Channel 2'}
    ("{16 16 16}", [16, 16, 16]),  # SiffPy: '{16 16 16}'
    ("{}", []),  # SiffPy: {} (an empty cell array is a cell array)
    ("{'@scanimage.util.defaultPowerFunction'}", ["@scanimage.util.defaultPowerFunction"]),
    ("{''}", [""]),
    ("{1 2;3 4}", [[1, 2], [3, 4]]),
    ("{'a';'b'}", ["a", "b"]),
    ("{zeros(0,2) true Inf}", ["zeros(0,2)", True, INF]),
]

# Other cases the semantics fix (docs/compatibility.md §1.4) or that MATLAB defines.
OTHER = [
    ("[0, 0]", [0, 0]),  # a well-formed Python list
    ("[5]", [5]),
    ("[1;2 3]", "[1;2 3]"),  # ragged: raw, as docs/compatibility.md §1.4 says
    ("TRUE", True),  # str.capitalize() rule
    ("'it''s'", "it's"),  # MATLAB doubled quote (SiffPy's eval gives 'its')
    ("'C:\\new\\tau'", "C:\\new\\tau"),  # verbatim, no escape processing
    ('"double"', "double"),
    ("007", "007"),  # not a Python literal: raw, as in SiffPy
    (" 42 ", 42),
    ("", ""),
    ("-45", -45),
    ("2.5e-08", 2.5e-08),
    ("[-0.5;.25]", [-0.5, 0.25]),
]


def same(a, b) -> bool:
    """Equal values of equal types, NaN equal to NaN, recursively through lists."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


@pytest.mark.parametrize("text, expected", SECTION_9 + DECISION_7 + OTHER,
                         ids=[t for t, _ in SECTION_9 + DECISION_7 + OTHER])
def test_vector(text, expected):
    assert same(parse_value(text), expected), parse_value(text)


def test_non_strings_pass_through():
    assert parse_value(None) is None
    assert parse_value(3) == 3


def test_never_executes_code():
    assert parse_value("__import__('os').getcwd()") == "__import__('os').getcwd()"
    assert parse_value("abs") == "abs"  # SiffPy's eval would give the builtin


def _header_values(name):
    for line in (HEADERS / name).read_text().split("\n"):
        if " = " in line:
            key, value = line.split(" = ", 1)
            yield key, value


@pytest.mark.parametrize("name", sorted(p.name for p in HEADERS.glob("*_header.txt")))
def test_real_headers_parse(name):
    """Every value of the real headers gives a value, and the only raw strings left are the
    ones SiffPy keeps raw: logical arrays, zeros(...), function handles, enum names."""
    for key, value in _header_values(name):
        result = parse_value(value)
        if isinstance(result, str) and not value.startswith("'"):
            assert (value.startswith(("[true", "[false", "zeros(", "@", "scanimage."))), key


def test_real_header_values():
    values = {k: parse_value(v) for k, v in _header_values("si2019b_singleplane_header.txt")}
    assert values["SI.hChannels.channelSave"] == [1, 2]
    assert math.isnan(values["SI.hFastZ.positionAbsoluteRaw"])
    assert values["SI.hRoiManager.imagingFovUm"] == [[-45, -45], [45, -45], [45, 45], [-45, 45]]
    values = {k: parse_value(v) for k, v in _header_values("si2022_slowstack_volume_header.txt")}
    assert values["SI.hChannels.channelSave"] == 1
    assert values["SI.hChannels.channelName"][:2] == ["Channel 1", "Channel 2"]
    assert len(values["SI.hChannels.channelName"]) == 64
    assert values["SI.hChannels.channelAdcResolution"] == [16] * 64
    assert values["SI.hBeams.lengthConstants"] == INF
    assert values["SI.hStackManager.zsRelative"] == [50] * 160


# ---- hostile values (issue 17): linear time, bounded nesting, only SiffError ------------------

SIFFPY_LAST_BRACKET = re.compile(r"^.*\[(.*)\].*$")  # SiffPy's (quadratic) matrix detector


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="[]; 1a'\n\r", max_size=40))
def test_last_bracket_capture_is_siffpy_regex(text):
    """The linear-time capture equals what SiffPy's greedy regex captures."""
    match = SIFFPY_LAST_BRACKET.match(text)
    assert _last_bracket_contents(text) == (None if match is None else match.group(1))


def test_many_open_brackets_parse_without_the_quadratic_regex():
    """40k '[' took 4.9 s with the regex; no matrix is captured, the text comes back."""
    text = "[" * 40_000 + "x"
    with pytest.raises(SiffFormatError, match="nests brackets deeper"):
        parse_value(text)  # counted as nesting: bounded before any recursion
    flat = "[1 2] " * 40_000 + "["  # shallow and long: SiffPy captures the last complete pair
    assert parse_value(flat) == [1, 2] == parse_value("[1 2] [1 2] [")


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, "{" * 5000 + "}" * 5000,
                                  "{[" * 3000 + "]}" * 3000])
def test_deep_values_are_format_errors(text):
    with pytest.raises(SiffFormatError, match="nests brackets deeper than 16"):
        parse_value(text)


def test_long_integers_do_not_leak_value_errors():
    assert parse_value("1" * 5000) == math.inf
    assert parse_value("[" + "9" * 5000 + " 1]") == [math.inf, 1]


@settings(max_examples=1000, deadline=2000)
@given(st.text(max_size=300) | st.text(alphabet="[]{}()'\";, 1.eE+-InfaNtrue\\", max_size=300))
def test_any_text_gives_a_value_or_a_siff_error(text):
    """Fuzzing: any text parses to a value or raises SiffError, never anything else."""
    try:
        parse_value(text)
    except SiffError:
        pass
