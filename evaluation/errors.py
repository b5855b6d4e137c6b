"""The one error type for a user's mistake: the CLI prints its message on one line and exits 2."""


class UserError(Exception):
    """A mistake the user can fix (bad path, bad option, malformed input); never a bug of ours."""


class DatasetError(UserError):
    """A dataset file that cannot be read; the message names the file and, where known, the line."""
