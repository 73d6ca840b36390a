"""Rewrite decorated functions of one module as plain definitions followed by ``name = decorator(name)``.

Used by benchmarks/mutation.sh on the throw-away copy of the module being mutated, never on g2m's own files:
``python benchmarks/mutation_undecorate.py PATH`` rewrites PATH in place and prints what it changed.

Why: mutmut 3 never mutates a decorated function (it would have to copy the decorator onto every mutant), so
``@register_loss(...)`` terms, ``@TEACHER_TRAINERS.register(...)`` trainers and ``@torch.no_grad()`` functions
were unmeasured. ::

    @a                          def f(...):
    @b(x)             →             ...
    def f(...):                 f = (b(x))(f)
        ...                     f = (a)(f)

is what the decorator syntax means (innermost decorator first); the only difference is that the decorator
expressions are evaluated after the ``def`` instead of before it, which none of g2m's decorators (registries,
``torch.no_grad()``) can tell. Functions with ``@property``, ``@staticmethod``, ``@classmethod`` or a
``@x.setter/getter/deleter`` decorator are left as they are (mutmut handles ``staticmethod``/``classmethod``
itself, and the rest change what the name is bound to), and class decorators (``@dataclass``) are untouched.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

KEEP = {"property", "staticmethod", "classmethod", "cached_property", "setter", "getter", "deleter"}


def _kept(decorator: ast.expr) -> bool:
    """A decorator that makes the function something other than a plain callable (the function stays as is)."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
    return name in KEEP


def undecorate(source: str) -> tuple[str, list[str]]:
    """The rewritten source and the names of the functions that were rewritten (nested ones too)."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()  # 0-based line numbers of decorator lines
    insert: dict[int, list[tuple[int, str]]] = {}  # after 0-based line → [(def column, text)]
    changed = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.decorator_list:
            continue
        if any(_kept(d) for d in node.decorator_list):
            continue
        indent = lines[node.lineno - 1][:node.col_offset]  # the def's own indentation (spaces/tabs as written)
        if indent.strip():
            raise ValueError(f"line {node.lineno}: code before `def {node.name}` on its line")
        text = []
        for d in reversed(node.decorator_list):  # innermost (closest to the def) is applied first
            if not lines[d.lineno - 1].lstrip().startswith("@"):
                raise ValueError(f"line {d.lineno}: decorator of {node.name} does not start its line with @")
            drop.update(range(d.lineno - 1, d.end_lineno))  # multi-line decorators: every line they span
            text.append(f"{indent}{node.name} = ({ast.get_source_segment(source, d)})({node.name})\n")
        # after the last line of the body; a nested function that ends on the same line as its enclosing one
        # must be wrapped first (deeper column first), inside the enclosing body
        insert.setdefault(node.end_lineno - 1, []).append((node.col_offset, "".join(text)))
        changed.append(node.name)
    out = []
    for i, line in enumerate(lines):
        if i not in drop:
            out.append(line)
        if i in insert:
            if not out[-1].endswith("\n"):  # last line of the file without a newline
                out[-1] += "\n"
            out.extend(t for _, t in sorted(insert[i], key=lambda item: -item[0]))
    result = "".join(out)
    ast.parse(result)  # still valid Python
    return result, changed


def main(path: str) -> None:
    file = Path(path)
    result, changed = undecorate(file.read_text())
    file.write_text(result)
    print(f"{path}: decorators moved after the definition of {', '.join(changed) or 'nothing'}")


if __name__ == "__main__":
    main(sys.argv[1])
