"""The ``g2m`` command line: each command is a thin call into the library."""

from __future__ import annotations

import signal
import sys

import typer

from g2m.errors import G2MError, RunInterrupted

app = typer.Typer(
    name="g2m",
    help="Distill GNNs into graph-free MLPs, and graph datasets into tiny distilled datasets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)



def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        from g2m import __version__

        def installed(name: str) -> str:
            try:
                return version(name)
            except PackageNotFoundError:
                return "not installed"

        typer.echo(f"g2m {__version__} (torch {installed('torch')}, torch_geometric {installed('torch_geometric')}, "
                   f"Python {sys.version.split()[0]})")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="Print g2m's version (and torch's, PyG's, Python's) and exit.")) -> None:
    """Distill GNNs into graph-free MLPs, and graph datasets into tiny distilled datasets."""


from g2m.cli import condense as _condense  # noqa: E402,F401  (registers commands)
from g2m.cli import node as _node  # noqa: E402,F401
from g2m.cli import deploy as _deploy  # noqa: E402,F401
from g2m.cli import bench as _bench  # noqa: E402,F401
from g2m.cli import tune as _tune  # noqa: E402,F401


def main() -> None:
    """Entry point: run the app, printing g2m's own errors as one clear line (exit code 2)."""
    if not {"--help", "--version"} & set(sys.argv[1:]):  # help and the version need neither torch nor PyG
        from g2m.utils.device import flush_denormals

        flush_denormals()  # before torch starts its threads, so that every thread has it
    stopped_by = {"signal": "Ctrl-C", "code": 130}

    def on_sigterm(signum, frame):  # a polite stop: the same path as Ctrl-C (finished seeds kept), then exit 143
        stopped_by.update(signal="SIGTERM", code=143)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        app()
    except RunInterrupted as exc:
        typer.secho(f"{stopped_by['signal']}: {exc}", fg=typer.colors.YELLOW, err=True)
        sys.exit(stopped_by["code"])
    except KeyboardInterrupt:
        typer.secho(f"{stopped_by['signal']}: stopped; nothing half-written was left (g2m writes files whole).",
                    fg=typer.colors.YELLOW, err=True)
        sys.exit(stopped_by["code"])
    except G2MError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except OSError as exc:  # a full disk, permissions, a folder where a file should be: one line, no traceback
        from g2m.errors import describe_os_error

        typer.secho(f"error: {describe_os_error(exc, 'read or write')}", fg=typer.colors.RED, err=True)
        sys.exit(2)
