"""Errors a user can fix; the CLI prints them without a traceback."""


class SysnoiseError(Exception):
    """A problem with the user's input or environment, with a message that says how to fix it."""


class UnknownNameError(SysnoiseError, KeyError):
    """A name that is not in a registry; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Unavailable(SysnoiseError):
    """Known unavailability: this machine cannot run something (no GPU, a missing package, a side
    environment absent, not applicable to this model). Anything else that goes wrong is a failure,
    never reported as unavailable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
