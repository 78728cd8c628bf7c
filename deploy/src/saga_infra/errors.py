"""Failures of the local stack, each with a one-line reason and a CLI exit code."""


class StackError(Exception):
    """Starting or stopping the local stack failed; `str()` is the one-line reason."""

    exit_code = 1


class MissingToolError(StackError):
    """A required program (java, mvn, the PostgreSQL server binaries) is not installed."""

    exit_code = 2


class PortInUseError(StackError):
    """A port the stack needs is taken by a process that is not ours."""

    exit_code = 1


class BadSettingError(StackError):
    """A stack variable has a value it cannot take; the message names it."""

    exit_code = 2
