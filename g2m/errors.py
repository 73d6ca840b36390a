"""Exceptions g2m raises for bad input: each message says what was wrong and what to do."""


class G2MError(Exception):
    """Base class of every error g2m raises on purpose (the CLI prints these without a traceback)."""


class DatasetError(G2MError):
    """An unknown dataset name, missing raw files, or an unreadable user graph."""


class ConfigError(G2MError):
    """An unknown model/method name or an invalid option value."""


class TrainingError(G2MError):
    """Training could not go on: a loss became NaN or infinite (the message names epoch and term)."""


class RunInterrupted(G2MError):
    """A multi-seed run was interrupted (Ctrl-C); its finished seeds are on disk (exit code 130)."""


class G2MWarning(UserWarning):
    """Something g2m did on the user's behalf that the user should know (e.g. outputs read as probabilities)."""
