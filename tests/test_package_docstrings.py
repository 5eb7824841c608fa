"""Every module of gan_utils says its job, and every public function or class what it does (a docstring each).

What belongs in gan_utils is a rule, not a line count (README, Layout): code that no student comes to learn and
that two or more notebooks, or the runner and the command lines, use.
"""

import ast
from pathlib import Path

import gan_utils

PACKAGE = Path(gan_utils.__file__).parent


def _has_docstring(node):
    first = node.body[0] if node.body else None
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)


def test_every_module_and_public_function_has_a_docstring():
    missing = []
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text())
        public = [
            n
            for n in tree.body
            if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and not n.name.startswith("_")
        ]
        missing += [
            f"{path.name}:{getattr(n, 'lineno', 1)} {getattr(n, 'name', 'module')}"
            for n in [tree, *public]
            if not _has_docstring(n)
        ]
    assert not missing, f"no docstring: {missing}"


def test_a_missing_docstring_is_found():
    tree = ast.parse('"""A module."""\n\n\ndef public():\n    return 1\n\n\ndef _private():\n    return 2\n')
    undocumented = [
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef) and not n.name.startswith("_") and not _has_docstring(n)
    ]
    assert undocumented == ["public"] and _has_docstring(tree)
