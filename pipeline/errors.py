"""Errors a user can cause (bad config, missing file, unsupported layer...). The CLI prints them as one line."""


class UserError(Exception):
    """An error in the user's input. ``str(err)`` is the one line the CLI prints; no traceback."""


class ConfigError(UserError):
    pass


class ToolMissingError(UserError):
    """A vendor / system tool the step needs is not on PATH."""
