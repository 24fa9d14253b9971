"""Why the wrapper failed, each with the exit code it maps to (see docs/results.md)."""

from __future__ import annotations

from dagtrail.errors import DagtrailError

# The command's own exit code is passed through; these are the wrapper's own failures.
EXIT_WRAPPER_FAILED = 125  # staging or uploading failed (the command may have succeeded)
EXIT_CANNOT_EXECUTE = 126
EXIT_NOT_FOUND = 127
EXIT_BAD_ITEM = 2  # a sweep item lacks a key its command names (as for a bad DAGTRAIL_* variable)


class TaskConfigError(DagtrailError):
    """A missing or malformed DAGTRAIL_* variable (exit 2, before the command runs)."""


class WrapperError(DagtrailError):
    """Staging inputs or uploading outputs failed."""

    exit_code = EXIT_WRAPPER_FAILED


class StagingError(WrapperError):
    """An input could not be staged: missing manifest, bad name, or a checksum mismatch."""


class UploadFailed(WrapperError):
    """One or more outputs did not reach the results bucket."""


class UploadAborted(Exception):
    """An upload stopped because the wrapper is shutting down; its multipart upload is aborted."""
