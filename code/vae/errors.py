"""The project's error for an invalid setting, shared by the configuration and the device policy."""

from __future__ import annotations


class ConfigError(ValueError):
    """An invalid setting; `option` names the command-line flag it comes from."""

    def __init__(self, option: str, message: str):
        super().__init__(f"--{option.replace('_', '-')}: {message}")
        self.option = option
