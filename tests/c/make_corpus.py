"""Writes the fuzzing seed corpus (tests/c/corpus/): small files with libsiff's writer that
reach every frame encoding, shape change, description field and container path.

Run from the repository root: ``python tests/c/make_corpus.py``."""

from pathlib import Path

import numpy as np

from libsiff.writer import SiffWriter, make_description, raw_words

OUT = Path(__file__).parent / "corpus"
NVFD = "SI.hScan2D.hAcq.Tau_bins = 14\nSI.hScan2D.hAcq.binResolution = 2\n"


def _photons(rng, n, shape, tau_bins=14):
    return rng.integers(0, shape[0], n), rng.integers(0, shape[1], n), rng.integers(0, tau_bins, n)


def _write(name, frames, nvfd=NVFD, roi='{"RoiGroups": {}}'):
    with SiffWriter(OUT / name, nvfd, roi) as w:
        for add in frames:
            add(w)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    rng = np.random.default_rng(17)
    d = make_description
    _write("raw.siff", [lambda w, i=i: w.add_frame(*_photons(rng, 20, (6, 5)), (6, 5), "raw",
                                                   d(i + 1, 0.25 * i, 10**18 + i, 10**18 + 7 * i, i))
                        for i in range(3)])
    _write("compressed.siff", [lambda w, i=i: w.add_frame(*_photons(rng, 25, (4, 8)), (4, 8),
                                                          "compressed", d(i + 1, 0.5 * i, 5 + i))
                               for i in range(3)])
    _write("tiff.siff", [lambda w, i=i: w.add_tiff_frame(
        rng.integers(0, 9, (5, 4)).astype(np.uint16), d(i + 1, i, i)) for i in range(2)])
    _write("mixed_shapes.siff", [
        lambda w: w.add_frame(*_photons(rng, 9, (4, 4)), (4, 4), "raw", d(1, 0, 1)),
        lambda w: w.add_frame(*_photons(rng, 9, (3, 5)), (3, 5), "compressed", d(2, 1, 2)),
        lambda w: w.add_tiff_frame(np.ones((4, 4), np.uint16), d(3, 2, 3)),
    ])
    _write("events.siff", [lambda w, i=i: w.add_frame(
        *_photons(rng, 6, (4, 4)), (4, 4), "raw",
        d(i + 1, i, i, appended_text=f"event {i}", text_timestamp=i + 0.5)) for i in range(2)])
    # photons outside the frame and arrival bins past Tau_bins
    _write("out_of_range.siff", [lambda w: w.add_raw_words(
        raw_words(np.array([0, 9, 65535]), np.array([1, 2, 65535]), np.array([3, 200, 2**31])),
        (4, 4), d(1, 0, 1))])
    _write("no_tau_bins.siff", [lambda w: w.add_frame(*_photons(rng, 5, (3, 3)), (3, 3), "raw",
                                                      d(1, 0, 1))], nvfd="SI.acqState = 'grab'\n")
    for path in sorted(OUT.iterdir()):
        print(path.name, path.stat().st_size)


if __name__ == "__main__":
    main()
