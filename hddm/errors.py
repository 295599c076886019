"""One exception type for every user-facing problem: entry points print its message on one line; the OS errors a
user can fix turned into such a line."""

from __future__ import annotations

import errno


class HddmError(Exception):
    """A problem with the user's input (config, file, checkpoint, prompt); the message names the fix."""


WHERE = "hydra.run.dir=... for a run folder, HDDM_CACHE=... for the caches"
OS_FIXES = {
    errno.ENOSPC: f"the disk is full: free space there or write elsewhere ({WHERE})",
    errno.EDQUOT: f"the disk quota is used up: free space there or write elsewhere ({WHERE})",
    errno.EACCES: f"no permission: make it writable or write elsewhere ({WHERE})",
    errno.EPERM: f"no permission: make it writable or write elsewhere ({WHERE})",
    errno.EROFS: f"the file system is read-only: write elsewhere ({WHERE})",
    errno.ENOTDIR: f"a file stands where a folder is needed: move it or write elsewhere ({WHERE})",
}


def os_error_message(error: OSError) -> str | None:
    """One line naming the path and the fix for the OS errors a user can fix (disk full, permissions); None for
    the rest, which are bugs or already reported where they happen."""
    fix = OS_FIXES.get(error.errno)
    if fix is None:
        return None
    return f"{error.filename or 'a file'}: {fix}"
