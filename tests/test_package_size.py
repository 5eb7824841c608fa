"""gan_utils stays the thin plumbing the series promises (issue 12, DEVELOPERS.md): at most 1,500 source lines,
one docstring per module and per public function or class.

"Source lines" are counted as radon's SLOC counts them: lines that hold code, not blank lines, comment lines or
docstrings (which the guide asks for), so the budget measures code, not layout.
"""
import ast
import io
import tokenize
from pathlib import Path

import gan_utils

PACKAGE = Path(gan_utils.__file__).parent
BUDGET = 1500
SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


def _docstrings(tree):
    """The nodes that may carry a docstring, with the line numbers their docstring spans."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            has = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                first.value.value, str)
            yield node, range(first.lineno, first.end_lineno + 1) if has else range(0)


def source_lines(path):
    """Lines of ``path`` that hold code: not blank, not only a comment, not part of a docstring."""
    text = path.read_text()
    doc = {n for _, lines in _docstrings(ast.parse(text)) for n in lines}
    code = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type not in SKIP:
            code.update(range(tok.start[0], tok.end[0] + 1))
    return len(code - doc)


def test_counter_leaves_out_blank_lines_comments_and_docstrings(tmp_path):
    f = tmp_path / "m.py"
    f.write_text('"""Doc\n\nstring."""\n\n# a comment\nx = 1  # code\n\n\ndef f():\n    """One."""\n    return (1,\n'
                 '            2)\n')
    assert source_lines(f) == 4  # x = 1, def f, and the two lines of the return


def test_gan_utils_is_at_most_1500_source_lines():
    counts = {p.name: source_lines(p) for p in sorted(PACKAGE.glob("*.py"))}
    total = sum(counts.values())
    print(f"gan_utils: {total} source lines " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    assert total <= BUDGET, (f"gan_utils has {total} source lines, over the budget of {BUDGET}: move what a "
                             f"student comes to learn into the notebooks, or simplify ({counts}).")


def test_every_module_and_public_function_has_a_docstring():
    missing = []
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node, lines in _docstrings(tree):  # the module, and its public top-level functions and classes
            if (node is tree or node in tree.body and not node.name.startswith("_")) and not lines:
                missing.append(f"{path.name}:{getattr(node, 'lineno', 1)} {getattr(node, 'name', 'module')}")
    assert not missing, f"no docstring: {missing}"
