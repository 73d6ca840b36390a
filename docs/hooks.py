"""MkDocs hook: the command-line reference (docs/cli-reference.md) is generated from the Typer app.

Registered in mkdocs.yml under ``hooks:``. At build time the marker line ``<!-- g2m-cli-reference -->`` in
``cli-reference.md`` is replaced by one section per command of ``g2m.cli.app`` (sub-commands such as
``g2m bench speed`` included): its usage line, its help text and a table of its arguments and options, with
the help strings and defaults that ``g2m COMMAND --help`` prints. The reference therefore cannot drift
from the code. (mkdocs-typer2 0.4.1 fails with Typer 0.29: its native engine expects Click options to have
``.type``, and its legacy engine's ``typer g2m.cli utils docs`` finds no command and renders nothing.)
"""

from __future__ import annotations

import re

MARKER = "<!-- g2m-cli-reference -->"
PAGE = "cli-reference.md"
_SUFFIX = re.compile(r"\s*\[(default: (?P<default>[^\]]*)|(?P<required>required))\]\s*")


def _escape(text: str) -> str:
    """Markdown for a table cell: ``|`` escaped; ``<`` escaped outside code spans (else it reads as HTML)."""
    parts = re.split(r"(`[^`]*`)", text.replace("\n", " "))
    out = [p if p.startswith("`") else p.replace("<", "&lt;").replace(">", "&gt;") for p in parts]
    return "".join(out).replace("|", "\\|")


def _param_row(param, ctx) -> str | None:
    record = param.get_help_record(ctx)
    if record is None or getattr(param, "hidden", False):
        return None
    names, help_text = record
    default, required = "", False
    match = _SUFFIX.search(help_text)
    while match:
        if match.group("required"):
            required = True
        else:
            default = match.group("default")
        help_text = help_text[: match.start()] + help_text[match.end():]
        match = _SUFFIX.search(help_text)
    if getattr(param, "param_type_name", "") == "argument":
        names = names.replace(param.name, param.name.upper(), 1)
    cell = "required" if required else (f"`{default}`" if default else "")
    return f"| `{names}` | {_escape(help_text.strip())} | {cell} |"


def _command_markdown(command, ctx, path: str) -> list[str]:
    import inspect

    lines = [f"## {path}", ""]
    # Typer writes an argument as {name} in the usage line; the reference writes it as NAME
    usage = re.sub(r"\{(\w+)\}", lambda m: m.group(1).upper(), " ".join(command.collect_usage_pieces(ctx)))
    lines += ["```", f"{path} {usage}".rstrip(), "```", ""]
    if command.help:
        lines += [inspect.cleandoc(command.help), ""]
    rows = [r for r in (_param_row(p, ctx) for p in command.get_params(ctx)) if r]
    if rows:
        lines += ["| argument / option | description | default |", "|---|---|---|", *rows, ""]
    if hasattr(command, "list_commands"):
        subs = command.list_commands(ctx)
        if subs:
            lines += ["Commands: " + ", ".join(f"[`{path} {s}`](#{(path + ' ' + s).replace(' ', '-')})"
                                                for s in subs), ""]
    return lines


def cli_reference_markdown() -> str:
    """The generated reference: one section per command, in the order ``g2m --help`` lists them."""
    import typer.main

    from g2m.cli import app

    root = typer.main.get_command(app)
    ctx = root.make_context("g2m", [], resilient_parsing=True)
    lines: list[str] = []

    def walk(group, group_ctx, prefix: str) -> None:
        for name in group.list_commands(group_ctx):
            command = group.get_command(group_ctx, name)
            if command is None or getattr(command, "hidden", False):
                continue
            path = f"{prefix} {name}"
            sub_ctx = command.make_context(name, [], parent=group_ctx, resilient_parsing=True)
            lines.extend(_command_markdown(command, sub_ctx, path))
            if hasattr(command, "list_commands"):
                walk(command, sub_ctx, path)

    walk(root, ctx, "g2m")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        from mkdocs.exceptions import PluginError

        raise PluginError(f"{PAGE} lost its marker line {MARKER!r}; the CLI reference is generated there.")
    return markdown.replace(MARKER, cli_reference_markdown())
