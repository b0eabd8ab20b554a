"""What a batch output was made from, so that a rerun can tell whether it is still current.

The inputs of one file's output are what its export uses: the acquisition (size and a
fingerprint of its first and last MiB), the ROIs, channel, registration, FLIM parameters
and dF/F of the session the export applies (the saved one, the template's, or a masks
file, with the options' overrides), the output layout and the libsiff version.
:func:`input_record` lists them; :func:`record_hash` condenses the record to one digest.
A manifest beside the outputs (``DIR/.siffbatch/<output>.json``) keeps the record, the
digest of the output it describes and the numbers of the summary row, written atomically
once the output is.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from libsiff import __version__ as LIBSIFF_VERSION
from libsiff.atomic import atomic_open

MANIFEST_DIR = ".siffbatch"
_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a whole (small) file: registrations and outputs."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def input_record(opened, options, registration: dict | None, nwb: bool = False,
                 subject: dict | None = None) -> dict:
    """Everything the output of an acquisition depends on, as a JSON-ready dict.

    ``opened`` is the acquisition as :func:`~siffviewer.model.export.open_for_export` opened
    it (its identity and the session document the export applies); ``options`` the
    TraceExportOptions; ``registration`` the settings of a registration run first (None:
    the saved registration, if the session uses one, is an input); ``nwb`` whether an NWB
    file is written too, with ``subject``."""
    from libsiff.registration import default_registration_path

    from ..session_file import params_hash, rois_hash

    doc = opened.doc
    params = doc.flim_params.get(doc.channel)
    saved_reg = default_registration_path(opened.session.path)
    if not doc.registered:
        reg = None
    elif registration is not None:
        reg = {"registered_by_batch": registration}
    else:
        reg = {"file_sha256": file_sha256(saved_reg) if saved_reg.is_file() else None}
    return {
        "acquisition": asdict(opened.identity),
        "rois": {"names": [r[0] for r in doc.rois], "sha256_16": rois_hash(doc.rois)},
        "channel": doc.channel,
        "registration": reg,
        "flim_params_sha256_16": params_hash(params) if params else None,
        "dff": list(doc.dff) if doc.dff else None,
        "wide": bool(options.wide),
        "nwb": {"subject": subject} if nwb else None,
        "libsiff_version": LIBSIFF_VERSION,
    }


def record_hash(record: dict) -> str:
    """A stable SHA-256 hex digest of a JSON-ready record."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest_path(out_dir: str | os.PathLike, output_name: str) -> Path:
    """Where the manifest of output ``output_name`` of ``out_dir`` is."""
    return Path(out_dir) / MANIFEST_DIR / (output_name + ".json")


def write_manifest(out_dir, output_name: str, record: dict, output: Path, result: dict,
                   provenance: dict, extra_outputs=()) -> Path:
    """Record (atomically) that ``output`` (and ``extra_outputs``, e.g. the NWB file) was
    made from ``record``; ``result`` holds the summary numbers shown again when a rerun
    skips the file, ``provenance`` what the output's header records."""
    path = manifest_path(out_dir, output_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": "siffviewer-batch-manifest", "version": 1,
            "inputs_sha256": record_hash(record), "inputs": record,
            "output": {"name": output.name, "sha256": file_sha256(output)},
            "extra_outputs": [{"name": Path(p).name, "sha256": file_sha256(p)}
                              for p in extra_outputs],
            "result": result,
            "header_provenance": provenance}
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, default=str)
    return path


def current_manifest(out_dir, output_name: str, record: dict,
                     extra_names=()) -> dict | None:
    """The manifest of an output that is up to date for ``record``, else None.

    Current means: the output (and each of ``extra_names``) and its manifest exist, the
    manifest was made from the same inputs, and the outputs' bytes are the ones the
    manifest describes."""
    output = Path(out_dir) / output_name
    path = manifest_path(out_dir, output_name)
    if not (output.is_file() and path.is_file()):
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("inputs_sha256") != record_hash(record):
            return None
        if data["output"]["sha256"] != file_sha256(output):
            return None
        extras = {e["name"]: e["sha256"] for e in data.get("extra_outputs", [])}
        for name in extra_names:
            extra = Path(out_dir) / name
            if not extra.is_file() or extras.get(extra.name) != file_sha256(extra):
                return None
        return data
    except (OSError, ValueError, KeyError, TypeError):
        return None
