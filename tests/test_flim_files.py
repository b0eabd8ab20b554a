"""FLIM inputs read from files (FLIMParams JSON, IRF histogram files) that are malformed end
as a SiffFormatError naming the file (still a ValueError, never a bare KeyError or numpy's
message), and well-formed ones still read."""

import json

import numpy as np
import pytest

from libsiff import SiffFormatError
from libsiff.flim import FLIMParams, irf_from_file
from libsiff.flim.params import default_flimparams

MALFORMED = [
    (b"{not json", "not a FLIM parameters JSON file"),
    (b"\xff\xfe\x00garbage", "not a FLIM parameters JSON file"),
    (b"[1, 2, 3]", "no object"),
    (b"[" * 100_000 + b"]" * 100_000, "not a FLIM parameters JSON file"),
    (json.dumps({"class": "Calibration"}).encode(), "holds a Calibration"),
    (json.dumps({"irf": {"tau_offset": 1, "tau_g": 0.1}}).encode(), "invalid FLIM parameters"),
    (json.dumps({"exps": [3], "irf": {}}).encode(), "invalid FLIM parameters"),
    (json.dumps({"exps": [{"tau": 1, "frac": 2}], "irf": {"tau_offset": 1, "tau_g": 0.1},
                 "units": "nanoseconds"}).encode(), "invalid FLIM parameters"),
]


@pytest.mark.parametrize("content, why", MALFORMED)
def test_malformed_flimparams_name_the_file(tmp_path, content, why):
    path = tmp_path / "fit.flimparams"
    path.write_bytes(content)
    with pytest.raises(SiffFormatError, match=why) as err:
        FLIMParams.load(path)
    assert str(path) in str(err.value) and isinstance(err.value, ValueError)


def test_saved_flimparams_read_back(tmp_path):
    params = default_flimparams(n_exps=2, bin_width_ps=40)
    loaded = FLIMParams.load(params.save(tmp_path / "fit"))
    assert loaded == params and loaded.bin_width_ps == 40


@pytest.mark.parametrize("name, content", [
    ("irf.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, "
                b"'shape': (1099511627776,), }" + b" " * 44 + b"\n"),
    ("irf.npy", b"plain text, no npy magic"),
    ("irf.csv", b"1,2\nthree,4\n"),
    ("irf.txt", b"1\n2\n-3\n4\n"),
])
def test_malformed_histogram_files_name_the_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SiffFormatError, match="not an arrival-time histogram") as err:
        irf_from_file(path, period_bins=100, bin_width_ps=20)
    assert str(path) in str(err.value)


def test_histogram_file_reads(tmp_path):
    # a Gaussian IRF centred at bin 30, sigma 2 bins: the analytic truth of the calibration
    bins = np.arange(100)
    counts = np.round(1e5 * np.exp(-0.5 * ((bins - 30) / 2.0) ** 2))
    np.save(tmp_path / "irf.npy", counts)
    np.savetxt(tmp_path / "irf.csv", np.stack([bins, counts], axis=1), delimiter=",")
    for name in ("irf.npy", "irf.csv"):
        cal = irf_from_file(tmp_path / name, period_bins=100, bin_width_ps=20)
        assert cal.offset_bins == pytest.approx(30 - 0.1, abs=0.05)  # lifetime held at 0.1 bin
        assert cal.irf_sigma_bins == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize("content, why", MALFORMED)
def test_the_apps_fit_json_reader_shares_the_checks(tmp_path, content, why):
    """``siffviewer``'s reader of --flim-params (bare or ``{"flim_params": ...}``) raises the
    same SiffFormatError naming the file, the 100,000-deep JSON included."""
    from siffviewer.model.export import read_flim_params_json

    for path, data in ((tmp_path / "bare.json", content),
                       (tmp_path / "wrapped.json", b'{"flim_params": ' + content + b"}")):
        path.write_bytes(data)
        if path.name == "wrapped.json" and not content.startswith(b"{"):
            continue  # not an object: no longer valid JSON once wrapped, covered by bare.json
        with pytest.raises(SiffFormatError, match=why) as err:
            read_flim_params_json(path)
        assert str(path) in str(err.value)
    missing = tmp_path / "missing.json"
    with pytest.raises(SiffFormatError, match="missing.json: no such FLIM parameters file"):
        read_flim_params_json(missing)
    params = default_flimparams(n_exps=2, bin_width_ps=40)
    wrapped = tmp_path / "fit.json"
    wrapped.write_text(json.dumps({"flim_params": params.to_dict(), "other": 1}))
    assert read_flim_params_json(wrapped) == params
