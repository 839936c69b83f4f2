"""The one exception type for problems a user can fix (bad input, unknown ids, unreadable files)."""


class GroupbenchError(Exception):
    """A problem with the user's input. The CLI prints its message as one line and exits 1.

    The message names the problem and, where possible, what to do about it.
    """
