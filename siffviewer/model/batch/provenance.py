"""What a batch output was made from, so that a rerun can tell whether it is still current.

The inputs of one file's output are: the acquisition (size and a fingerprint of its bytes),
the masks (a masks file, the template's saved session or the acquisition's own), the FLIM
parameters file, every analysis option, and the libsiff version. :func:`input_record` lists
them; :func:`record_hash` condenses the record to one hex digest. A manifest beside the
outputs (``DIR/.siffbatch/<output>.json``) keeps the record, the digest of the output it
describes and the numbers of the summary row, written atomically once the output is.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path

from libsiff import __version__ as LIBSIFF_VERSION
from libsiff.atomic import atomic_open

MANIFEST_DIR = ".siffbatch"
FINGERPRINT_SPAN = 1 << 20  # bytes hashed at each end of an acquisition
_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a whole (small) file: masks, FLIM parameters, sessions, outputs."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def acquisition_fingerprint(path: str | os.PathLike) -> dict:
    """Size and SHA-256 of the first and last MiB of an acquisition (the header, the
    first frames and the end of the recording) -- cheap for files of any size."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        digest.update(fh.read(FINGERPRINT_SPAN))
        if size > FINGERPRINT_SPAN:
            fh.seek(max(FINGERPRINT_SPAN, size - FINGERPRINT_SPAN))
            digest.update(fh.read(FINGERPRINT_SPAN))
    return {"size": size, "ends_sha256": digest.hexdigest()}


def _file_entry(path) -> dict | None:
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        return {"path": str(path), "sha256": None}
    return {"path": str(path), "sha256": file_sha256(path)}


def input_record(acquisition: str | os.PathLike, options, session_files: list[Path],
                 registration: dict | None) -> dict:
    """Everything the output of ``acquisition`` depends on, as a JSON-ready dict.

    ``options`` is the TraceExportOptions; ``session_files`` the saved-session files the
    export reads (the template's, or the acquisition's own when no masks file is given);
    ``registration`` the registration settings applied first (None: no registration)."""
    opts = asdict(options) if is_dataclass(options) else dict(options)
    for name in ("masks", "flim_params", "template"):  # their contents are recorded below
        opts[name] = opts.get(name) is not None
    if opts.get("dff") is not None:
        opts["dff"] = [float(v) for v in opts["dff"]]
    return {
        "acquisition": acquisition_fingerprint(acquisition),
        "masks": _file_entry(options.masks),
        "flim_params": _file_entry(options.flim_params),
        "sessions": [_file_entry(p) for p in session_files],
        "options": opts,
        "registration": registration,
        "libsiff_version": LIBSIFF_VERSION,
    }


def record_hash(record: dict) -> str:
    """A stable SHA-256 hex digest of a JSON-ready record. Paths are left out (a folder
    moved as a whole stays current); the contents of the files count."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "path"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    text = json.dumps(strip(record), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest_path(out_dir: str | os.PathLike, output_name: str) -> Path:
    return Path(out_dir) / MANIFEST_DIR / (output_name + ".json")


def write_manifest(out_dir, output_name: str, record: dict, output: Path, result: dict) -> Path:
    """Record (atomically) that ``output`` was made from ``record``; ``result`` holds the
    summary numbers shown again when a rerun skips the file."""
    path = manifest_path(out_dir, output_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": "siffviewer-batch-manifest", "version": 1,
            "inputs_sha256": record_hash(record), "inputs": record,
            "output": {"name": output.name, "sha256": file_sha256(output)}, "result": result}
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, default=str)
    return path


def current_manifest(out_dir, output_name: str, record: dict) -> dict | None:
    """The manifest of an output that is up to date for ``record``, else None.

    Current means: the output and its manifest exist, the manifest was made from the same
    inputs, and the output's bytes are the ones the manifest describes."""
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
        return data
    except (OSError, ValueError, KeyError, TypeError):
        return None
