"""Every finding's words live in trustml.checks._words: each template a check asks for exists,
each template in the table is asked for, and each parses."""

import ast
import string
from pathlib import Path

import pytest

from trustml.checks._words import WORDS, say

CHECKS = Path(__file__).resolve().parents[1] / "trustml" / "checks"


def _names(scope: ast.AST) -> dict[str, str]:
    """Names bound to string constants directly in ``scope`` (``A = "x"``, ``A, B = "x", "y"``)."""
    out = {}
    for node in ast.iter_child_nodes(scope):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs = (zip(target.elts, node.value.elts)
                     if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                     else [(target, node.value)])
            out |= {t.id: v.value for t, v in pairs if isinstance(t, ast.Name)
                    and isinstance(v, ast.Constant) and isinstance(v.value, str)}
    return out


def _keys(node: ast.AST) -> list[str]:
    """The keys a ``say`` call's second argument can take: literals, both branches of a
    conditional, and an f-string's literal prefix followed by ``*``."""
    if isinstance(node, ast.Constant):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _keys(node.body) + _keys(node.orelse)
    if isinstance(node, ast.JoinedStr) and isinstance(node.values[0], ast.Constant):
        return [node.values[0].value + "*"]
    return ["*"]  # computed: any key of the id may be meant


def _calls() -> list[tuple[str, str, str]]:
    """(module, finding id, key) of every ``say`` call in the checks."""
    calls = []
    for path in sorted(CHECKS.glob("*.py")):
        tree = ast.parse(path.read_text())
        module = _names(tree)
        for func in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            names = module | _names(func)
            for call in ast.walk(func):
                if (isinstance(call, ast.Call) and getattr(call.func, "id", "") == "say"):
                    first = call.args[0]
                    fid = first.value if isinstance(first, ast.Constant) else names[first.id]
                    calls += [(path.name, fid, key) for key in _keys(call.args[1])]
    return calls


def _matches(key: str, pattern: str) -> bool:
    return key.startswith(pattern[:-1]) if pattern.endswith("*") else key == pattern


def test_every_template_asked_for_exists():
    missing = [(m, fid, key) for m, fid, key in _calls()
               if fid not in WORDS or not any(_matches(k, key) for k in WORDS[fid])]
    assert not missing


def test_every_template_is_asked_for():
    asked = _calls()
    unused = [(fid, k) for fid, words in WORDS.items() for k in words
              if not any(f == fid and _matches(k, key) for _, f, key in asked)]
    assert not unused


@pytest.mark.parametrize("fid", sorted(WORDS))
def test_templates_parse_and_findings_have_titles(fid):
    for template in WORDS[fid].values():
        list(string.Formatter().parse(template))  # raises on a malformed field
    if not fid.startswith(("check.", "audit.")):
        assert "title" in WORDS[fid]


def test_say_fills_nested_fields_and_refuses_unknown_keys():
    text = say("performance.private_vs_baseline", "headline", points=3.25, base=0.8512)
    assert text == "3.2 points below the non-private baseline (85.1%)"
    with pytest.raises(KeyError):
        say("performance.metrics", "no such key")
