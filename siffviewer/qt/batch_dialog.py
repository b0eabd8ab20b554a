"""File > Apply session to files…: the open session's ROIs and settings over many
acquisitions, as ``siff batch`` runs them (run_batch on a Dask LocalCluster), in the
background with progress and cancel, ending with the summary."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from PyQt6 import QtCore, QtWidgets

from ..workers import Job
from .export_dialogs import PathField

SUMMARY_COLUMNS = ("File", "Status", "ROIs", "Timepoints", "Seconds", "Output / error")


class BatchDialog(QtWidgets.QDialog):
    """Pick files and folders and an output folder, run the batch, show the summary.

    ``doc`` is the SessionDocument to apply (a snapshot taken when the dialog opens),
    ``shape`` its acquisition's (planes, rows, columns) and ``registration`` the session's
    RegistrationInfo (None: not registered), whose settings "Register each file first"
    repeats. ``sync`` runs the batch on the calling thread (tests)."""

    def __init__(self, doc, shape: tuple[int, int, int], source: Path, registration=None,
                 sync: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Apply session to files")
        self.doc, self.shape, self.sync = doc, tuple(shape), sync
        self.registration = registration
        self.job: Job | None = None
        self.result = None
        self.message = ""
        self.files = QtWidgets.QListWidget()
        self.files.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        add_files = QtWidgets.QPushButton("Add files…")
        add_folder = QtWidgets.QPushButton("Add folder…")
        remove = QtWidgets.QPushButton("Remove")
        add_files.clicked.connect(self._add_files)
        add_folder.clicked.connect(self._add_folder)
        remove.clicked.connect(lambda: [self.files.takeItem(self.files.row(i))
                                        for i in self.files.selectedItems()])
        picks = QtWidgets.QVBoxLayout()
        for b in (add_files, add_folder, remove):
            picks.addWidget(b)
        picks.addStretch(1)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.files, 1)
        top.addLayout(picks)
        self.out = PathField(Path(source).parent / "batch", folder=True)
        self.workers = QtWidgets.QSpinBox()
        self.workers.setRange(0, 256)
        self.workers.setValue(os.cpu_count() or 1)  # divided by the threads per worker
        self.workers.setToolTip("Dask worker processes (0: no Dask, the files run in this "
                                "process)")
        self.threads = QtWidgets.QSpinBox()
        self.threads.setRange(1, 64)
        self.threads.setValue(1)
        self.threads.setToolTip("Files each worker runs at once, on threads (with 0 workers: "
                                "files this process runs at once)")
        self.register = QtWidgets.QCheckBox(
            "Register each file first (this session's registration method and channel)"
            if registration is not None else
            "Register each file first (siffpy on the analysed channel: this session has no "
            "registration)")
        self.register.setToolTip("Without it, files registered before use their saved "
                                 "registration and the others are read unregistered")
        self.nwb = QtWidgets.QCheckBox("Also write an NWB file per acquisition")
        self.wide = QtWidgets.QCheckBox("Wide CSV (one column per ROI)")
        self.force = QtWidgets.QCheckBox("Redo files whose outputs are up to date")
        self.what = what = QtWidgets.QLabel()
        what.setWordWrap(True)
        self._describe()
        self.register.toggled.connect(lambda _: self._describe())
        self.threads.valueChanged.connect(self._threads_changed)
        form = QtWidgets.QFormLayout()
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.addRow("Output folder:", self.out)
        form.addRow("Workers:", self.workers)
        form.addRow("Threads per worker:", self.threads)
        form.addRow(self.register)
        form.addRow(self.nwb)
        form.addRow(self.wide)
        form.addRow(self.force)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFormat("%v of %m files")
        self.status = QtWidgets.QLabel("Add .siff files or folders, then Run.")
        self.status.setWordWrap(True)
        self.table = QtWidgets.QTableWidget(0, len(SUMMARY_COLUMNS))
        self.table.setHorizontalHeaderLabels(SUMMARY_COLUMNS)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.run_button = QtWidgets.QPushButton("Run")
        self.run_button.setDefault(True)
        self.cancel_button = QtWidgets.QPushButton("Cancel batch")
        self.cancel_button.setEnabled(False)
        self.close_button = QtWidgets.QPushButton("Close")
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.run_button, self.cancel_button, self.close_button):
            buttons.addWidget(b)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(QtWidgets.QLabel("Acquisitions (.siff files, or folders of them):"))
        lay.addLayout(top, 2)
        lay.addWidget(what)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.table, 3)
        lay.addLayout(buttons)
        self.resize(820, 640)

    def _describe(self) -> None:
        doc, rois = self.doc, len(self.doc.rois)
        frames = ("each file registered first" if self.register.isChecked() else
                  "registered" if doc.registered else "raw") + " frames"
        self.what.setText(
            f"Applies this session: {rois} ROI{'s' if rois != 1 else ''}, channel "
            f"{doc.channel}, {frames}, "
            f"{'a fitted' if doc.flim_params.get(doc.channel) else 'no'} FLIM model, "
            f"{'dF/F' if doc.dff else 'no dF/F'}. One CSV per file and summary.csv go to "
            "the output folder.")

    def _threads_changed(self, threads: int) -> None:
        """Keep workers x threads at the cores (the default), as ``siff batch`` does."""
        if self.workers.value() > 0:
            self.workers.setValue(max(1, (os.cpu_count() or 1) // max(1, threads)))

    # ------------------------------------------------------------------ inputs
    def add_paths(self, paths) -> None:
        """Add files or folders to the list (each once)."""
        have = {self.files.item(i).text() for i in range(self.files.count())}
        for p in paths:
            if str(p) not in have:
                self.files.addItem(str(p))
                have.add(str(p))

    def paths(self) -> list[str]:
        """The listed files and folders."""
        return [self.files.item(i).text() for i in range(self.files.count())]

    def _add_files(self) -> None:
        chosen, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self, "Acquisitions", str(self.out.path().parent), "ScanImage-FLIM (*.siff)")
        self.add_paths(chosen)

    def _add_folder(self) -> None:
        chosen = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder of acquisitions",
                                                            str(self.out.path().parent))
        if chosen:
            self.add_paths([chosen])

    # ------------------------------------------------------------------ running
    def start(self) -> Job | None:
        """Run the batch in the background; returns its Job (None when nothing to do)."""
        from ..model.batch import run_batch, session_options, settings_from_info

        paths, out = self.paths(), self.out.path()
        if not paths:
            self.status.setText("Add at least one file or folder first.")
            return None
        if not str(out) or str(out) == ".":
            self.status.setText("Choose an output folder first.")
            return None
        try:
            options = session_options(self.doc, self.shape, out, self.wide.isChecked())
        except OSError as e:
            self.status.setText(f"Cannot write to {out}: {e.strerror or e}")
            return None
        workers, threads = self.workers.value(), self.threads.value()
        nwb, force = self.nwb.isChecked(), self.force.isChecked()
        register = False
        if self.register.isChecked():
            try:
                register = settings_from_info(self.registration, self.doc.channel)
            except ValueError as e:
                self.status.setText(f"Cannot register the files: {e}")
                return None
            options = dataclasses.replace(options, raw=False)  # traces of what it registers

        def work(progress, cancelled):
            return run_batch(paths, out, options, register=register, workers=workers,
                             threads=threads, force=force, nwb=nwb,
                             progress=lambda done, total, _o: progress(done, total),
                             cancel=cancelled)

        self.job = job = Job("batch", work, sync=self.sync, parent=self)
        job.progressed.connect(self._progressed)
        job.finished_ok.connect(self._finished)
        job.failed.connect(self._failed)
        job.cancelled.connect(self._cancelled)
        self.table.setRowCount(0)
        self.progress.setRange(0, 0)  # busy until the first file ends
        where = (f"{workers} Dask worker{'s' if workers != 1 else ''}" if workers else
                 "this process, without Dask")
        self.status.setText(f"Running on {where}, {threads} file{'s' if threads != 1 else ''}"
                            f" at a time each…")
        self._running(True)
        job.start()
        return job

    def cancel(self) -> None:
        """Stop the batch: files not started are dropped, running ones stop soon."""
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.status.setText("Cancelling… (running files stop at their next check)")

    def _running(self, on: bool) -> None:
        self.run_button.setEnabled(not on)
        self.cancel_button.setEnabled(on)

    def _progressed(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _finished(self, result) -> None:
        self._running(False)
        self.result = result
        counts = {s: sum(o.status == s for o in result.outcomes)
                  for s in ("done", "skipped", "failed", "cancelled")}
        self.message = (f"{len(result.outcomes)} files: {counts['done']} done, "
                        f"{counts['skipped']} up to date, {counts['failed']} failed, "
                        f"{result.seconds:.1f} s. Summary: {result.summary}")
        self.status.setText(self.message)
        self._show(result.outcomes)

    def _failed(self, message: str) -> None:
        self._running(False)
        self.progress.setRange(0, 1)
        self.message = message
        self.status.setText(message)

    def _cancelled(self) -> None:
        from ..model.batch import SUMMARY_NAME

        self._running(False)
        self.message = f"Batch cancelled; what finished is in {self.out.path() / SUMMARY_NAME}"
        self.status.setText(self.message)

    def _show(self, outcomes) -> None:
        self.table.setRowCount(len(outcomes))
        for row, o in enumerate(outcomes):
            cells = (Path(o.source).name, o.status, str(len(o.roi_names)),
                     "" if o.n_timepoints is None else str(o.n_timepoints), f"{o.seconds:.2f}",
                     o.error or o.output)
            for col, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()

    def reject(self) -> None:
        """Close; a running batch is cancelled first."""
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.job.wait(5.0)
        super().reject()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Closing the dialog cancels a running batch."""
        if self.job is not None and self.job.running:
            self.job.cancel()
        super().closeEvent(event)


def open_batch_dialog(window) -> BatchDialog | None:
    """File > Apply session to files…: a dialog applying the window's session."""
    if window.session is None or window.masks is None:
        return None
    if not window.masks.rois:
        window.report_error("Apply session to files", "Draw or load at least one ROI first.")
        return None
    g = window.session.geometry
    dialog = BatchDialog(window.session_document(), (g.n_planes, g.height, g.width),
                         window.session.path, window.session.registration,
                         sync=window.sync, parent=window)
    dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog
