"""The one exception type that the CLI turns into a one-line message and exit code 2."""


class DcganError(Exception):
    """Bad user input: a missing path, an unknown format, a bad size, a corrupt checkpoint."""


class UnsafeData(DcganError):
    """A data or checkpoint file that asks to run code (or build objects) when read: refused."""


def first_line(e: BaseException) -> str:
    """The first line of an exception's message, or its type name when it has none."""
    return (str(e).strip().splitlines() or [""])[0] or type(e).__name__
