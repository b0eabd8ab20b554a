"""Apply a session that is open in the app (perhaps unsaved) to other acquisitions: its
ROIs, channel, registration choice, FLIM parameters and dF/F become the options of a
batch, recorded as files in the output folder (what ``siff batch`` is given)."""

from __future__ import annotations

import json
from pathlib import Path

from ..export import TraceExportOptions, atomic_write_text
from ..session_file import write_session_file

APPLIED_SESSION = "applied-session.npz"
APPLIED_FLIM_PARAMS = "applied-flim-params.json"


def session_options(doc, shape: tuple[int, int, int], out_dir, wide: bool = False
                    ) -> TraceExportOptions:
    """Write ``doc`` (a SessionDocument of an acquisition of ``shape``) and its channel's
    FLIM parameters to ``out_dir`` and return the TraceExportOptions that apply them:
    the same as ``siff batch --masks OUT/applied-session.npz --channel C [--raw]
    [--flim-params OUT/applied-flim-params.json] [--dff P,W]``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    masks = write_session_file(out / APPLIED_SESSION, doc, shape)
    params = doc.flim_params.get(doc.channel)
    flim = (atomic_write_text(out / APPLIED_FLIM_PARAMS,
                              json.dumps({"flim_params": params}, indent=1, default=float))
            if params else None)
    return TraceExportOptions(masks=masks, channel=doc.channel,
                              raw=None if doc.registered else True, flim_params=flim,
                              dff=doc.dff, wide=wide)
