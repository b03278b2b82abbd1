"""The one exception type that the CLI turns into a one-line message and exit code 2."""


class DcganError(Exception):
    """Bad user input: a missing path, an unknown format, a bad size, a corrupt checkpoint."""
