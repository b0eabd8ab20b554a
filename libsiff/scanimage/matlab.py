"""Parse the MATLAB value literals of a ScanImage header, as SiffPy does, without ``eval``.

ScanImage writes every setting as ``SI.<path> = <MATLAB expression>``. :func:`parse_value`
turns the right-hand side into a Python value with SiffPy's results
(docs/compatibility.md §1.4 and §9), except for the deliberate changes of
docs/compatibility.md §8a decision 7:

* ``Inf``, ``-Inf`` and ``NaN`` become floats (SiffPy keeps the bare words as strings);
* cell arrays ``{...}`` become lists, element by element: ``{'Channel 1' 'Channel 2'}`` gives
  ``['Channel 1', 'Channel 2']`` and ``{[-1 1] [-1 1]}`` gives ``[[-1, 1], [-1, 1]]``
  (SiffPy gives a one-element set of concatenated strings, and the last bracket's contents).
  ``{}`` is an empty cell array and gives ``[]``.

Two further corrections SiffPy's ``eval`` gets wrong and the seed never shows: quoted text is
taken verbatim, the MATLAB way (``'C:\\new'`` keeps its backslash; ``'it''s'`` gives
``it's``), and nothing is ever executed.

Everything else is as SiffPy gives it: numbers as ``int`` when they are Python int literals,
else ``float``; ``true``/``false`` in any letter case as booleans; ``[1;2]`` and ``[1 2]`` as
flat lists; ``[a b;c d]`` as a list of rows; a bracketed text that is not a clean matrix
(``[true true]``, double spaces, ragged rows) kept as the raw string; other bare words
(``zeros(0,2)``, ``@fn.handle``, ``scanimage.types.X.Y``) kept as the raw string.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .limits import MAX_VALUE_DEPTH, check_nesting

__all__ = ["parse_value"]

_INT = re.compile(r"[+-]?(?:0+|[1-9][0-9]*)\Z")
_FLOAT = re.compile(
    r"[+-]?(?:[0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)?"
    r"|\.[0-9]+(?:[eE][+-]?[0-9]+)?"
    r"|[0-9]+[eE][+-]?[0-9]+)\Z"
)
_NONFINITE = {"Inf": math.inf, "+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
_WORDS = {"True": True, "False": False, "None": None}
_PY_TOKEN = re.compile(r"\s*(?:(\[)|(\])|(,)|([^\s\[\],]+))?\s*")
_SEPARATORS = " \t,;"
_OPENS_TOKEN = " \t,;{[("


class _NotThis(ValueError):
    """Internal: the text is not of the form a sub-parser handles."""


def parse_value(text: Any) -> Any:
    """Convert one ScanImage header value (MATLAB syntax) to a Python value.

    Parameters
    ----------
    text : str
        The right-hand side of an ``SI.key = value`` line. Anything that is not a string
        (e.g. ``None`` for a line without ``" = "``) is returned unchanged.

    Returns
    -------
    object
        ``int``, ``float``, ``bool``, ``None``, ``str``, or a (nested) ``list``; the original
        string when the text is not a literal this parser (or SiffPy) understands.

    Examples
    --------
    >>> parse_value("[1;2]"), parse_value("'sawtooth'"), parse_value("Inf")
    ([1, 2], 'sawtooth', inf)
    >>> parse_value("{'Channel 1' 'Channel 2'}")
    ['Channel 1', 'Channel 2']

    Raises
    ------
    SiffFormatError
        The value nests brackets deeper than
        :data:`~libsiff.scanimage.limits.MAX_VALUE_DEPTH`. Parsing takes time linear in
        the text's length times its nesting depth.
    """
    if not isinstance(text, str):
        return text
    check_nesting(text, "header value", limit=MAX_VALUE_DEPTH)
    return _parse(text)


def _parse(text: str) -> Any:
    """:func:`parse_value` after the nesting check (called again for nested groups)."""
    s = text.strip()
    try:
        return _scalar(s)
    except _NotThis:
        pass
    if s.startswith("{") and s.endswith("}"):
        try:
            return _cell(s)
        except _NotThis:
            pass
    if s.startswith("[") and s.endswith("]"):
        try:
            return _python_list(s)
        except _NotThis:
            pass
    inner = _last_bracket_contents(s)
    if inner is not None:
        return _siffpy_matrix(inner, text)
    return text


def _last_bracket_contents(s: str) -> str | None:
    r"""What SiffPy's greedy ``re.match(r"^.*\[(.*)\].*$", s)`` captures, in linear time.

    The text from the last ``[`` that has a ``]`` after it up to the last ``]``; None when
    there is no such pair or the text spans lines (``.`` does not match a newline).
    """
    if s.endswith("\n"):  # ``$`` also matches before one final newline
        s = s[:-1]
    if "\n" in s:
        return None
    close = s.rfind("]")
    if close < 0:
        return None
    start = s.rfind("[", 0, close)
    return None if start < 0 else s[start + 1:close]


# ---- scalars ---------------------------------------------------------------------------

def _numeric(s: str) -> int | float | None:
    """An int or float literal's value (SiffPy's types), else None."""
    if _INT.match(s):
        return _number(s)
    if _FLOAT.match(s):
        return float(s)
    return None


def _scalar(s: str) -> Any:
    """A number, Inf/NaN, true/false/none (any case) or one quoted string; else _NotThis."""
    number = _numeric(s)
    if number is not None:
        return number
    if s in _NONFINITE:
        return _NONFINITE[s]
    word = s.capitalize()  # SiffPy's second try: str.capitalize() then eval
    if word in _WORDS:
        return _WORDS[word]
    if s[:1] in ("'", '"'):
        end = _string_end(s, 0)
        if end == len(s):
            return _unquote(s)
    raise _NotThis(s)


def _string_end(s: str, start: int) -> int:
    """Index just past the quoted string opening at ``s[start]`` (doubled quote = literal)."""
    quote = s[start]
    i = start + 1
    while i < len(s):
        if s[i] == quote:
            if i + 1 < len(s) and s[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    raise _NotThis("unterminated string")


def _unquote(token: str) -> str:
    """MATLAB string literal → its text: no escape processing, doubled quotes collapse."""
    quote = token[0]
    return token[1:-1].replace(quote * 2, quote)


def _number(token: str) -> int | float:
    """SiffPy's per-element conversion: ``int()``, falling back to ``float()``.

    An integer too long for ``int()`` (Python's digit limit) becomes a float too."""
    try:
        return int(token)
    except ValueError:
        return float(token)  # raises ValueError for anything else


# ---- matrices ----------------------------------------------------------------------------

def _python_list(s: str) -> list:
    """A comma-separated Python list literal (``[]``, ``[0, 0]``, ``[[1, 2], [3, 4]]``).

    One left-to-right pass with a stack (linear in the text); one trailing comma per list is
    valid Python, items are ints, floats, True/False/None or lists.
    """
    stack: list[list] = []
    state = "start"  # start: after '['; item: after an item; comma: after ','
    root = None
    pos = 0
    while pos < len(s):
        match = _PY_TOKEN.match(s, pos)
        pos = match.end()
        opening, closing, comma, word = match.groups()
        if root is not None and (opening or closing or comma or word):
            raise _NotThis("text after the list")
        if opening:
            if stack and state == "item":
                raise _NotThis("missing comma")
            stack.append([])
            state = "start"
        elif closing:
            if not stack or (state == "comma" and not stack[-1]):
                raise _NotThis("misplaced ']'")
            done = stack.pop()
            if stack:
                stack[-1].append(done)
            else:
                root = done
            state = "item"
        elif comma:
            if state != "item" or not stack:
                raise _NotThis("misplaced ','")
            state = "comma"
        elif word:
            if state == "item" or not stack:
                raise _NotThis("missing comma")
            stack[-1].append(_python_scalar(word))
            state = "item"
    if root is None:
        raise _NotThis("unterminated list")
    return root


def _python_scalar(item: str) -> Any:
    """One element of a Python list literal: int, float, True/False/None; else _NotThis."""
    if item in _WORDS:  # exact Python spelling, unlike a bare scalar
        return _WORDS[item]
    number = _numeric(item)
    if number is None:
        raise _NotThis(item)
    return number


def _siffpy_matrix(inner: str, raw: str) -> Any:
    """SiffPy's matrix rule on the captured bracket contents; ``raw`` if a token fails.

    Rows split on ``;`` and columns on single spaces: both splits longer than one give a list
    of rows, otherwise a flat list. Double spaces or words make a token fail. Ragged rows
    (``[1;2 3]``, not valid MATLAB) also keep the raw text, as docs/compatibility.md §1.4 says
    (SiffPy's code would give ``[[1], [2, 3]]``).
    """
    rows = inner.split(";")
    cols = inner.split(" ")
    try:
        if len(rows) > 1 and len(cols) > 1:
            matrix = [[_number(t) for t in row.split(" ")] for row in rows]
            if any(len(row) != len(matrix[0]) for row in matrix):
                return raw
            return matrix
        return [_number(t) for t in (rows if len(rows) > 1 else cols)]
    except ValueError:
        return raw


# ---- cell arrays ---------------------------------------------------------------------------

def _cell(s: str) -> list:
    """A MATLAB cell array ``{a b; c d}`` → list (of rows when there are several columns)."""
    inner = s[1:-1]
    rows: list[list] = [[]]
    i = 0
    while i < len(inner):
        ch = inner[i]
        if ch in " \t,":
            i += 1
            continue
        if ch == ";":
            rows.append([])
            i += 1
            continue
        if ch in ("'", '"'):
            end = _string_end(inner, i)
            value = _unquote(inner[i:end])
        elif ch in "[{":
            end = _group_end(inner, i)
            token = inner[i:end]
            value = _cell(token) if ch == "{" else _parse(token)
        elif ch in "]})":
            raise _NotThis("unbalanced cell array")
        else:
            end = _bare_end(inner, i)
            token = inner[i:end]
            try:
                value = _scalar(token)
            except _NotThis:
                value = token
        rows[-1].append(value)
        i = end
    if len(rows) == 1:
        return rows[0]
    if any(len(row) != len(rows[0]) for row in rows):
        raise _NotThis("ragged cell array")
    if len(rows[0]) == 1:
        return [row[0] for row in rows]  # a column cell, flat like a [1;2] column vector
    return rows


def _group_end(s: str, start: int) -> int:
    """Index just past the bracket group opening at ``s[start]`` (quote-aware)."""
    pairs = {"[": "]", "{": "}", "(": ")"}
    stack = [pairs[s[start]]]
    i = start + 1
    while i < len(s):
        ch = s[i]
        if ch in ("'", '"') and s[i - 1] in _OPENS_TOKEN:
            i = _string_end(s, i)
            continue
        if ch in pairs:
            stack.append(pairs[ch])
        elif ch in ")]}":
            if ch != stack.pop():
                raise _NotThis("mismatched brackets")
            if not stack:
                return i + 1
        i += 1
    raise _NotThis("unterminated group")


def _bare_end(s: str, start: int) -> int:
    """Index just past a bare token (a word or number; parentheses kept together)."""
    i = start
    while i < len(s) and s[i] not in _SEPARATORS:
        if s[i] == "(":
            i = _group_end(s, i)
            continue
        if s[i] in "[{":
            break
        i += 1
    return i
