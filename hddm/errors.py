"""One exception type for every user-facing problem: entry points print its message on one line."""


class HddmError(Exception):
    """A problem with the user's input (config, file, checkpoint, prompt); the message names the fix."""
