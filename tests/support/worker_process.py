"""A job for worker-process tests: light to import in a freshly spawned process."""

import os


def process_id(job) -> int:
    """The id of the process that ran the job."""
    return os.getpid()
