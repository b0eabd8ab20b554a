"""Many acquisitions at once: the same ROIs and analysis over files, on Dask.

:func:`run_batch` is what ``siff batch`` and the app run; see ``docs/batch.md``."""

from .apply import session_options
from .inputs import find_acquisitions, output_names
from .runner import BatchResult, plan_jobs, run_batch
from .summary import SUMMARY_NAME, write_summary
from .task import FileJob, FileOutcome, process_file, registration_settings, settings_from_info

__all__ = ["run_batch", "BatchResult", "plan_jobs", "FileJob", "FileOutcome", "process_file",
           "find_acquisitions", "output_names", "write_summary", "SUMMARY_NAME",
           "session_options", "registration_settings", "settings_from_info"]
