"""In a notebook, an experiment the cluster cannot run is a one-line note, and the rest runs on.

Each cell is wrapped (an IPython AST transformer) so that `NotAvailable` prints its note
instead of a traceback, and a later cell that needs a name the skipped cell would have made
says so in one line too. Neither counts as an error, so "Run All" goes on to the next,
independent section. Where skips must not happen (the test suite on the book's own lab,
KAFKALAB_STRICT=1) the error is raised as usual.
"""
from __future__ import annotations

import ast
import os
from typing import Any

from .errors import NotAvailable  # the wrapped cells catch it as _kafkalab_skips.NotAvailable

_NS = "_kafkalab_skips"  # the name this module has in the notebook's namespace
missing: dict[str, str] = {}  # a name a skipped cell would have bound -> why it was skipped


def bound_names(tree: ast.AST) -> list[str]:
    """Names a cell binds at any depth outside function bodies (assignments, imports, defs)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return sorted(names)


def strict() -> bool:
    """True where a skip must fail instead (KAFKALAB_STRICT=1: the suite on the own lab)."""
    return os.environ.get("KAFKALAB_STRICT") == "1"


def skipped(error: NotAvailable, names: list[str]) -> None:
    """Print the one-line note for a skipped cell and remember what it would have made."""
    if strict():
        raise error
    print(f"Skipped: {error}")
    missing.update(dict.fromkeys(names, str(error)))


def follows(error: NameError, names: list[str]) -> bool:
    """True (and a one-line note) when a cell failed only for a name a skipped cell would have made."""
    name = getattr(error, "name", None)
    if strict() or name not in missing:
        return False
    print(f"Skipped: this cell needs `{name}`, from a skipped cell above")
    missing.update(dict.fromkeys(names, missing[name]))
    return True


def ran(names: list[str]) -> None:
    """Forget the skips of names a cell has now made."""
    for name in names:
        missing.pop(name, None)


def show(value: Any) -> None:
    """Display a cell's last value as IPython would have."""
    from IPython import get_ipython
    shell = get_ipython()
    if shell is not None and value is not None:
        shell.displayhook(value)


def _call(fn: str, *args: ast.expr) -> ast.Expr:
    """The statement `_kafkalab_skips.fn(*args)`."""
    return ast.Expr(ast.Call(ast.Attribute(ast.Name(_NS, ast.Load()), fn, ast.Load()), list(args), []))


class Guard(ast.NodeTransformer):
    """Wrap a cell: NotAvailable, and NameError for a skipped cell's names, become notes."""

    def visit_Module(self, node: ast.Module) -> ast.Module:
        """The cell's statements inside try/except, its last expression still displayed."""
        body = list(node.body)
        if not body or any(isinstance(s, ast.ImportFrom) and s.module == "__future__" for s in body):
            return node
        names = ast.List([ast.Constant(n) for n in bound_names(node)], ast.Load())
        if isinstance(body[-1], ast.Expr):
            body[-1] = _call("show", body[-1].value)
        body.append(_call("ran", names))
        err = ast.Name("_kafkalab_error", ast.Load())
        on_skip = ast.ExceptHandler(ast.Attribute(ast.Name(_NS, ast.Load()), "NotAvailable", ast.Load()),
                                    "_kafkalab_error", [_call("skipped", err, names)])
        on_name = ast.ExceptHandler(ast.Name("NameError", ast.Load()), "_kafkalab_error", [
            ast.If(ast.UnaryOp(ast.Not(), _call("follows", err, names).value), [ast.Raise()], [])])
        node.body = [ast.Try(body, [on_skip, on_name], [], [])]
        return ast.fix_missing_locations(node)


def install() -> None:
    """In IPython, wrap every cell from now on (once per kernel)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or any(isinstance(t, Guard) for t in shell.ast_transformers):
        return
    import sys
    shell.user_ns[_NS] = sys.modules[__name__]
    shell.ast_transformers.append(Guard())
