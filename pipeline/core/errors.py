"""The one exception type stages raise for bad input.

A `code` is stable and machine-readable (it goes into the report's `error.code`),
so users can filter a batch's failures without parsing messages.
A bug must not be raised as one: it stays an ordinary exception (an `internal_error` record).
"""


class InputError(Exception):
    """A recording that cannot be scanned, with a stable error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


class UsageError(Exception):
    """The scan cannot run as asked (exit status 2), e.g. a path outside the output folder's archive root."""
