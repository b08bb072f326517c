"""The one exception type users can cause; its message is shown as-is in the UI and CLI."""


class UTALError(Exception):
    """A problem with the user's input or environment, carrying a plain-language message."""
