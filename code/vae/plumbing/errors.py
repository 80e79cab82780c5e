"""The project's errors: an invalid setting (naming its flag) and a training run that cannot go on."""

from __future__ import annotations


class ConfigError(ValueError):
    """An invalid setting; `option` names the command-line flag it comes from."""

    def __init__(self, option: str, message: str):
        super().__init__(f"--{option.replace('_', '-')}: {message}")
        self.option = option


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, an unusable checkpoint)."""
