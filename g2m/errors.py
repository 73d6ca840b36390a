"""Exceptions g2m raises for bad input: each message says what was wrong and what to do."""


class G2MError(Exception):
    """Base class of every error g2m raises on purpose (the CLI prints these without a traceback)."""


class DatasetError(G2MError):
    """An unknown dataset name, missing raw files, or an unreadable user graph."""


class ConfigError(G2MError):
    """An unknown model/method name or an invalid option value."""


class OutputError(G2MError):
    """A file could not be written or read: a full disk, missing permissions, a folder where a file should be."""


def describe_os_error(exc: OSError, doing: str, path: object = None) -> str:
    """``"cannot write runs/x/metrics.json: No space left on device; free some space …"``: an OS error as one
    actionable line (``path``: the file g2m was working on, else the error's own)."""
    import errno

    where = f" {path or exc.filename}" if (path or exc.filename) else ""
    reason = exc.strerror or str(exc)
    hint = {errno.ENOSPC: "free some space or choose another output folder",
            errno.EDQUOT: "free some space or choose another output folder",
            errno.EACCES: "check the permissions, or choose another folder",
            errno.EPERM: "check the permissions, or choose another folder",
            errno.EROFS: "the file system is read-only: choose another folder",
            errno.EISDIR: "a folder is where a file should be: pass a file name",
            errno.ENOTDIR: "a file is where a folder should be: move it away or choose another folder",
            errno.EEXIST: "a file is where a folder should be: move it away or choose another folder",
            errno.ENOENT: "check the path"}.get(exc.errno, "check the path and the disk")
    return f"cannot {doing}{where}: {reason}; {hint}."


class TrainingError(G2MError):
    """Training could not go on: a loss became NaN or infinite (the message names epoch and term)."""


class RunInterrupted(G2MError):
    """A multi-seed run was interrupted (Ctrl-C); its finished seeds are on disk (exit code 130)."""


class G2MWarning(UserWarning):
    """Something g2m did on the user's behalf that the user should know (e.g. outputs read as probabilities)."""
