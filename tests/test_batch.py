"""``siff batch`` / siffviewer.model.batch on real Dask clusters of 2 workers, on small
simulated acquisitions. Truth: ``siff export-traces`` run file by file, the simulator's
photons, and the files' modification times."""

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import libsiff
from libsiff import SiffCancelled
from libsiff.simulate import SimulationSpec, simulate
from siffviewer.cli import main
from siffviewer.model.batch import output_names, run_batch
from siffviewer.model.batch.runner import local_cluster
from siffviewer.model.export import TraceExportOptions
from siffviewer.model.masks import MaskSet

from checks import timeless

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent
SHAPE = (2, 24, 32)  # planes, rows, columns
N_GOOD = 4



def _spec(seed: int, height: int = SHAPE[1]) -> SimulationSpec:
    return SimulationSpec(height=height, width=SHAPE[2], slices=SHAPE[0], colors=1,
                          flyback_planes=1, timepoints=16, taus_ns=(2.5,), motion="none",
                          photons_per_pixel=0.5, seed=seed)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Four good acquisitions, their simulated truth, and a masks file of two ROIs."""
    folder = tmp_path_factory.mktemp("acquisitions")
    truths = {}
    for i in range(N_GOOD):
        path = folder / f"fly{i}.siff"
        truths[path.name] = simulate(path, _spec(seed=10 + i))
    masks_path, rois = save_masks(folder.parent / "rois.siffmasks.npz", ("soma", "dendrite"))
    return {"folder": folder, "truths": truths, "masks": masks_path, "rois": rois}


def save_masks(path: Path, names: tuple[str, str]):
    """A masks file of two ROIs: one on both planes, one on plane 0; and (mask, planes)."""
    masks = MaskSet(SHAPE)
    soma = np.zeros(SHAPE[1:], bool)
    soma[4:14, 6:18] = True
    masks.add_roi(names[0], mask=soma, all_planes=True)
    dend = np.zeros(SHAPE[1:], bool)
    dend[15:22, 3:30] = True
    masks.add_roi(names[1], mask=dend)
    return masks.save(path), [(soma, [0, 1]), (dend, [0])]


@pytest.fixture(scope="module")
def cluster():
    """A real LocalCluster of 2 worker processes (one thread each), shared by the tests."""
    with local_cluster(2) as local:
        yield local.scheduler_address


def read_summary(folder: Path) -> dict[str, dict]:
    with open(folder / "summary.csv", newline="") as fh:
        return {Path(row["file"]).name: row for row in csv.DictReader(fh)}


def export_traces_reference(capsys, source: Path, masks: Path, out: Path) -> bytes:
    """What ``siff export-traces`` writes for one file."""
    code = main(["export-traces", str(source), "--masks", str(masks), "--out", str(out)])
    capsys.readouterr()
    assert code == 0
    return timeless(out.read_bytes())


def truth_means(truth, mask: np.ndarray, planes: list[int]) -> tuple[float, float]:
    """Of the simulated photons inside ``mask`` on ``planes``: the mean count per timepoint
    and their mean arrival time (ns)."""
    per_t = np.zeros(truth.spec.timepoints)
    taus = []
    for frame in np.flatnonzero(np.isin(truth.plane, planes)):
        y, x, tau = truth.photons(frame)
        inside = mask[y, x]
        per_t[truth.timepoint[frame]] += inside.sum()
        taus.append(tau[inside])
    return float(per_t.mean()), float(np.concatenate(taus).mean()) * truth.bin_width_ps / 1000


# ------------------------------------------------------------------ naming

def test_output_names_tell_equal_stems_apart(tmp_path):
    paths = [tmp_path / "day1" / "fly.siff", tmp_path / "day2" / "fly.siff",
             tmp_path / "day1" / "other.siff", tmp_path / "x" / "summary.siff"]
    assert output_names(paths) == ["day1_fly.csv", "day2_fly.csv", "other.csv",
                                   "x_summary.csv"]
    same_parent = [tmp_path / "a" / "run" / "fly.siff", tmp_path / "b" / "run" / "fly.siff"]
    assert output_names(same_parent) == ["a_run_fly.csv", "b_run_fly.csv"]


# ------------------------------------------------------------------ outputs

def test_batch_equals_export_traces_file_by_file(capsys, data, tmp_path):
    out = tmp_path / "out"
    code = main(["batch", str(data["folder"]), "--masks", str(data["masks"]), "--out", str(out),
                 "--workers", "2"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert f"{N_GOOD} files: {N_GOOD} done, 0 up to date, 0 failed" in stdout
    summary = read_summary(out)
    assert sorted(summary) == sorted(data["truths"])
    workers = set()
    for name, truth in data["truths"].items():
        source = data["folder"] / name
        reference = export_traces_reference(capsys, source, data["masks"],
                                            tmp_path / f"ref-{source.stem}.csv")
        batch_csv = out / (source.stem + ".csv")
        assert timeless(batch_csv.read_bytes()) == reference
        row = summary[name]
        assert row["status"] == "done" and row["error"] == ""
        assert int(row["frames"]) == np.count_nonzero(truth.plane >= 0)  # no flyback
        assert int(row["timepoints"]) == truth.spec.timepoints
        assert row["rois"] == "2" and row["roi_names"] == "soma;dendrite"
        expected = np.array([truth_means(truth, m, planes) for m, planes in data["rois"]])
        got = [float(v) for v in row["mean_photons"].split(";")]
        np.testing.assert_allclose(got, expected[:, 0], rtol=1e-12)
        lifetimes = [float(v) for v in row["mean_lifetime_ns"].split(";")]
        np.testing.assert_allclose(lifetimes, expected[:, 1], rtol=1e-9)
        assert int(row["file_bytes"]) == source.stat().st_size
        workers.add(row["worker"])
    assert len(workers) == 2  # both processes of the local cluster took files


@pytest.mark.parametrize("how", [["--workers", "0", "--threads", "2"],
                                 ["--workers", "1", "--threads", "2"]],
                         ids=["threads-of-this-process", "one-process-of-two-threads"])
def test_threaded_batch_equals_export_traces_file_by_file(capsys, data, tmp_path, how):
    """Files run two at a time on the threads of one process give the same outputs."""
    out = tmp_path / "out"
    code = main(["batch", str(data["folder"]), "--masks", str(data["masks"]), "--out", str(out),
                 *how])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert f"{N_GOOD} files: {N_GOOD} done, 0 up to date, 0 failed" in stdout
    summary = read_summary(out)
    for name in data["truths"]:
        source = data["folder"] / name
        reference = export_traces_reference(capsys, source, data["masks"],
                                            tmp_path / f"ref-{source.stem}.csv")
        assert timeless((out / (source.stem + ".csv")).read_bytes()) == reference
        assert summary[name]["status"] == "done"
    assert len({row["worker"] for row in summary.values()}) == 1  # one process ran them all


def test_cancel_on_threads_stops_the_files_not_finished(data, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(SiffCancelled):
        run_batch([data["folder"]], out, TraceExportOptions(masks=data["masks"]), workers=0,
                  threads=2, cancel=lambda: True)
    summary = read_summary(out)
    assert sorted(summary) == sorted(data["truths"])
    assert any(row["status"] == "cancelled" for row in summary.values())
    for name, row in summary.items():  # a file is either finished and written, or not at all
        assert row["status"] in ("done", "cancelled")
        assert (out / (Path(name).stem + ".csv")).exists() == (row["status"] == "done")
    assert not list(out.glob(".*.part"))


def nwb_series(path: Path) -> dict[str, np.ndarray]:
    """Every ROI response series of an NWB file (read with pynwb) by name."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        ophys = io.read().processing["ophys"]
        return {"photons": ophys["Fluorescence"]["photons"].data[:],
                "lifetime_ns": ophys["lifetime_ns"].data[:],
                "lifetime_se_ns": ophys["lifetime_se_ns"].data[:]}


def test_batch_nwb_equals_export_nwb_and_is_part_of_the_resume_record(capsys, data, cluster,
                                                                       tmp_path):
    out = tmp_path / "out"
    code = main(["-q", "batch", str(data["folder"]), "--masks", str(data["masks"]), "--out",
                 str(out), "--scheduler", cluster, "--nwb"])
    assert code == 0, capsys.readouterr().err
    for name in data["truths"]:
        source = data["folder"] / name
        ref = tmp_path / f"ref-{source.stem}.nwb"
        assert main(["-q", "export-nwb", str(source), "--masks", str(data["masks"]), "-o",
                     str(ref)]) == 0
        got, want = nwb_series(out / (source.stem + ".nwb")), nwb_series(ref)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
    capsys.readouterr()
    (out / "fly2.nwb").unlink()  # a missing NWB output makes its file redone, only it
    rerun = {Path(o.source).name: o.status for o in run_batch(
        [data["folder"]], out, TraceExportOptions(masks=data["masks"]), scheduler=cluster,
        nwb=True).outcomes}
    assert rerun == {n: "done" if n == "fly2.siff" else "skipped" for n in data["truths"]}
    assert (out / "fly2.nwb").is_file()
    # whether an NWB is written is an input of the record: a run without --nwb redoes all
    plain = run_batch([data["folder"]], out, TraceExportOptions(masks=data["masks"]),
                      scheduler=cluster)
    assert {o.status for o in plain.outcomes} == {"done"}


def test_a_corrupt_file_is_reported_and_the_others_finish(data, cluster, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(data["folder"], folder)
    good = (folder / "fly0.siff").read_bytes()
    (folder / "cut.siff").write_bytes(good[:5000])            # ends inside the header
    (folder / "noise.siff").write_bytes(os.urandom(100_000))  # not a TIFF at all
    simulate(folder / "wide.siff", _spec(seed=99, height=40))  # masks do not fit
    result = run_batch([folder], tmp_path / "out", TraceExportOptions(masks=data["masks"]),
                       scheduler=cluster)
    summary = read_summary(tmp_path / "out")
    assert {o.status for o in result.outcomes if Path(o.source).name in data["truths"]} == {"done"}
    assert sorted(Path(o.source).name for o in result.failed) == ["cut.siff", "noise.siff",
                                                                  "wide.siff"]
    for name in ("cut.siff", "noise.siff", "wide.siff"):
        assert summary[name]["status"] == "failed" and summary[name]["frames"] == ""
    assert "cut.siff" in summary["cut.siff"]["error"]
    assert "ends inside" in summary["cut.siff"]["error"]
    assert "(2, 24, 32)" in summary["wide.siff"]["error"]  # the masks' shape
    assert "(2, 40, 32)" in summary["wide.siff"]["error"]  # the acquisition's
    assert not (tmp_path / "out" / "cut.csv").exists()
    for name in data["truths"]:
        assert summary[name]["status"] == "done"
    code = main(["-q", "batch", str(folder), "--masks", str(data["masks"]),
                 "--out", str(tmp_path / "out"), "--scheduler", cluster])
    assert code == 1  # the exit status says some failed


def test_an_interrupted_batch_resumes_without_redoing_finished_files(data, cluster, tmp_path):
    out = tmp_path / "out"
    options = TraceExportOptions(masks=data["masks"])
    seen = []
    # interrupted after two files (in this process, so the cut is exact); resumed on Dask
    with pytest.raises(SiffCancelled):
        run_batch([data["folder"]], out, options, workers=0,
                  progress=lambda done, total, outcome: seen.append(outcome.source),
                  cancel=lambda: len(seen) >= 2)
    first = read_summary(out)
    finished = {"fly0.siff", "fly1.siff"}
    assert {n for n, row in first.items() if row["status"] == "done"} == finished
    assert {n for n, row in first.items() if row["status"] == "cancelled"} == \
        set(data["truths"]) - finished
    stamps = {n: (out / (Path(n).stem + ".csv")).stat().st_mtime_ns for n in finished}
    time.sleep(0.01)

    result = run_batch([data["folder"]], out, options, scheduler=cluster)
    second = read_summary(out)
    assert {n for n, row in second.items() if row["status"] == "skipped"} == finished
    assert {n for n, row in second.items() if row["status"] == "done"} == \
        set(data["truths"]) - finished
    for n in finished:  # not rewritten, and the summary still has its numbers
        assert (out / (Path(n).stem + ".csv")).stat().st_mtime_ns == stamps[n]
        assert second[n]["mean_photons"] == first[n]["mean_photons"] != ""
    assert not result.failed

    # a damaged output, other masks, --force: each makes the files it concerns redone
    victim = out / "fly0.csv"
    victim.write_text(victim.read_text().replace("soma", "SOMA"))
    assert {o.status for o in run_batch([data["folder"]], out, options, scheduler=cluster)
            .outcomes if o.output == str(victim)} == {"done"}
    other, _ = save_masks(tmp_path / "other.siffmasks.npz", ("cell", "dendrite"))
    redo = run_batch([data["folder"]], out, TraceExportOptions(masks=other), scheduler=cluster)
    assert [o.status for o in redo.outcomes] == ["done"] * N_GOOD
    assert "cell" in victim.read_text()
    forced = run_batch([data["folder"]], out, TraceExportOptions(masks=other),
                       scheduler=cluster, force=True)
    assert [o.status for o in forced.outcomes] == ["done"] * N_GOOD
    again = run_batch([data["folder"]], out, TraceExportOptions(masks=other), scheduler=cluster)
    assert [o.status for o in again.outcomes] == ["skipped"] * N_GOOD


def test_cancel_on_dask_stops_the_files_not_finished(data, cluster, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(SiffCancelled):
        run_batch([data["folder"]], out, TraceExportOptions(masks=data["masks"]),
                  scheduler=cluster, cancel=lambda: True)
    summary = read_summary(out)
    assert sorted(summary) == sorted(data["truths"])
    for name, row in summary.items():  # a file is either finished and written, or not at all
        assert row["status"] in ("done", "cancelled")
        assert (out / (Path(name).stem + ".csv")).exists() == (row["status"] == "done")
    assert not list(out.glob(".*.part"))


def test_local_workers_leave_ctrl_c_to_the_client(cluster):
    import signal

    with distributed.Client(cluster) as client:  # a Ctrl-C reaches the whole process group
        handlers = client.run(lambda: signal.getsignal(signal.SIGINT) == signal.SIG_IGN)
        threads = client.run(lambda: __import__("libsiff")._bindings._THREADS)
    assert list(handlers.values()) == [True, True]
    assert list(threads.values()) == [1, 1]  # one core per worker process


def test_outputs_record_their_inputs_and_a_changed_acquisition_is_redone(data, cluster,
                                                                          tmp_path):
    folder = tmp_path / "acq"
    shutil.copytree(data["folder"], folder)
    out = tmp_path / "out"
    options = TraceExportOptions(masks=data["masks"])
    run_batch([folder], out, options, scheduler=cluster)
    source = folder / "fly1.siff"
    header = dict(line[2:].split(": ", 1) for line in (out / "fly1.csv").read_text()
                  .splitlines() if line.startswith("# ") and ": " in line)
    raw = source.read_bytes()
    size = len(raw)
    digest = hashlib.sha256(str(size).encode() + raw[:1 << 20] + raw[max(1 << 20, size - (1 << 20)):])
    assert header["file_size_bytes"] == str(size)
    assert header["fingerprint"] == digest.hexdigest()[:32]
    assert header["libsiff_version"] == libsiff.__version__
    assert header["source_file"] == str(source.resolve())

    simulate(source, _spec(seed=1234))  # the same name, another recording
    rerun = {Path(o.source).name: o.status for o in
             run_batch([folder], out, options, scheduler=cluster).outcomes}
    assert rerun == {"fly0.siff": "skipped", "fly1.siff": "done", "fly2.siff": "skipped",
                     "fly3.siff": "skipped"}


def test_register_applies_the_templates_registration_settings(capsys, data, cluster,
                                                               tmp_path):
    from libsiff import SiffReader
    from libsiff.registration import RegistrationInfo, default_registration_path

    folder = tmp_path / "moving"
    folder.mkdir()
    moving = dict(motion="jitter", max_shift_px=2, photons_per_pixel=2.0)
    template = simulate(tmp_path / "template.siff", SimulationSpec(**{**vars(_spec(7)),
                                                                     **moving})).path
    for i in range(2):
        simulate(folder / f"m{i}.siff", SimulationSpec(**{**vars(_spec(20 + i)), **moving}))
    with SiffReader(template) as reader:
        reader.register(num_cycles=2, max_shift=3, reference_sigma=0.5, workers=1)
    out = tmp_path / "out"
    code = main(["-q", "batch", str(folder), "--masks", str(data["masks"]), "--out", str(out),
                 "--template", str(template), "--register", "--scheduler", cluster])
    assert code == 0, capsys.readouterr().err
    for i in range(2):
        source = folder / f"m{i}.siff"
        info = RegistrationInfo.load(default_registration_path(source))
        assert info.registration_type.value == "siffpy"
        assert info.options["num_cycles"] == 2 and info.options["max_shift"] == [3, 3]
        assert info.options["reference_sigma"] == 0.5
        text = (out / f"m{i}.csv").read_text()
        assert "# registration: siffpy" in text
        reference = export_traces_reference(capsys, source, data["masks"], tmp_path / f"r{i}.csv")
        assert timeless(text.encode()) == reference  # export-traces finds the same registration
    rerun = run_batch([folder], out, TraceExportOptions(masks=data["masks"], template=template),
                      register=True, scheduler=cluster)
    assert [o.status for o in rerun.outcomes] == ["skipped", "skipped"]


# ------------------------------------------------------------------ an existing cluster

def test_scheduler_option_uses_a_separately_started_cluster(capsys, data, tmp_path):
    dask = Path(sys.executable).with_name("dask")
    if not dask.exists():
        pytest.skip("the dask command is not installed beside this Python")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH",
                                                                                 "")]))
    scheduler_file = tmp_path / "scheduler.json"
    commands = [["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]]
    commands += [["worker", "--no-nanny", "--nthreads", "2", "--no-dashboard", "--host",
                  "127.0.0.1", "--name", "external"]]
    logs = [open(tmp_path / f"dask{i}.log", "w") for i in range(len(commands))]
    procs = []  # both start at once; the worker waits for the scheduler file
    try:
        for command, log in zip(commands, logs, strict=True):
            procs.append(subprocess.Popen([str(dask), *command, "--scheduler-file",
                                           str(scheduler_file)], env=env, stdout=log,
                                          stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
        out = tmp_path / "out"
        code = main(["-q", "batch", str(data["folder"]), "--masks", str(data["masks"]),
                     "--out", str(out), "--scheduler", address])
        _, err = capsys.readouterr()
        assert code == 0, err
        summary = read_summary(out)
        assert {row["status"] for row in summary.values()} == {"done"}
        assert {row["worker"] for row in summary.values()} == {"external"}
        source = data["folder"] / "fly2.siff"
        reference = export_traces_reference(capsys, source, data["masks"],
                                            tmp_path / f"ref-{source.stem}.csv")
        assert timeless((out / "fly2.csv").read_bytes()) == reference
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


def test_bad_arguments_are_clear_errors(capsys, data, tmp_path):
    code = main(["batch", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert code == 2 and "missing: no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    code = main(["batch", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert code == 2 and "no acquisitions" in capsys.readouterr().err
    code = main(["batch", str(data["folder"]), "--masks", str(tmp_path / "none.npz"),
                 "--out", str(tmp_path / "o")])
    assert code == 2 and "none.npz: no such masks file" in capsys.readouterr().err
