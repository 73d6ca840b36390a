"""Exceptions g2m raises for bad input: each message says what was wrong and what to do."""


class G2MError(Exception):
    """Base class of every error g2m raises on purpose (the CLI prints these without a traceback)."""


class DatasetError(G2MError):
    """An unknown dataset name, missing raw files, or an unreadable user graph."""


class ConfigError(G2MError):
    """An unknown model/method name or an invalid option value."""
