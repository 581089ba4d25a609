"""The references of a Rego module, read from its tokens: what the load-time checks ask
(which `input` fields a policy reads, which builtins it calls) answered from the syntax,
not from patterns over the text.

A reference is a head name and its keys: `input.proposed["command"]` and
`input["proposed"].command` are both `input` + ("proposed", "command"); a key computed at
evaluation (`input.request[k]`, `input.args[0]`) is `None`. Strings (`"…"`, raw `` `…` ``),
comments and the literal parts of template strings (`$"…{expr}…"`) are tokens of their
own, so nothing in them is a reference, and the expressions in a template's `{…}` are.

The tokens are OPA's (v1 syntax); where rego-cpp is laxer the reader follows rego-cpp, so
what the embedded engine runs is what is read: whitespace inside a reference
(`time .now_ns()`, `input.proposed . comand`, `input ["proposed"]`) joins it, as rego-cpp
does — OPA refuses such a module. A `[` on a new line starts a new expression (rego-cpp
reads it so too). tests/policies/test_rego_refs_match_opa.py holds this reader to `opa
parse`'s AST for every module in policies/ and for a file of adversarial cases.
"""

from __future__ import annotations

import bisect
import functools
import json
import re
from collections.abc import Iterator
from typing import Literal, NamedTuple

KEYWORDS = frozenset(
    {"as", "contains", "default", "else", "every", "false", "if", "import", "in", "not",
     "null", "package", "some", "true", "with"}
)  # fmt: skip
_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT = _IDENT_START | frozenset("0123456789")
_OPEN = {"(": ")", "[": "]", "{": "}", "${": "}"}

TokenKind = Literal["ident", "string", "number", "op", "template", "other"]


class Token(NamedTuple):
    kind: TokenKind
    # ident: the name; string: the value (escapes decoded); op: the operator (`${` opens
    # a template's expression); template: a literal part of a template string.
    text: str
    offset: int
    newline_before: bool  # a line break (or a comment) since the previous token


class Ref(NamedTuple):
    head: str
    path: tuple[str | None, ...]  # static keys; None for a key computed at evaluation
    line: int
    col: int  # 1-based, in characters (as OPA counts)
    # read: evaluated; with: the target a `with` replaces; import: an import's path;
    # package: the package's own name.
    role: Literal["read", "with", "import", "package"]
    alias: str | None = None  # an import's name in the module

    @property
    def name(self) -> str | None:
        """`time.now_ns` for a reference with static keys only, else None."""
        if None in self.path:
            return None
        return ".".join((self.head, *self.path))  # type: ignore[arg-type]

    def text(self, upto: int | None = None) -> str:
        """The reference as Rego spells it plainly: `input.proposed["a-b"][…]`."""
        out = self.head
        for key in self.path[:upto]:
            if key is None:
                out += "[…]"
            elif key and key[0] in _IDENT_START and all(c in _IDENT for c in key):
                out += "." + key
            else:
                out += "[" + json.dumps(key) + "]"
        return out


# One token of code, by its kind; `string` and `raw` may be left open (the module does not
# compile then, so where they end does not matter).
_CODE = re.compile(
    r"""(?P<space>[ \t\r]+)|(?P<newline>\n)|(?P<comment>\#[^\n]*)
    |(?P<string>"(?:[^"\\\n]|\\.)*"?)|(?P<raw>`[^`]*`?)|(?P<template>\$["`])
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
    |(?P<op>:=|==|!=|<=|>=|[-+*/%&|<>=.,;:()\[\]{}])|(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)
# The literal part of a template string, up to its next `{`, its end or (`$"…"` only) the
# line's end: `\{` is a brace, `$"…"` has a string's escapes, `` $`…` `` none other.
_LITERAL = {
    '"': re.compile(r'(?:[^"\\{\n]|\\.)*'),
    "`": re.compile(r"(?:[^`\\{]|\\\{|\\(?!\{))*"),
}


def _decode(raw: str) -> str:
    """A `"…"` string's value (its escapes decoded)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw[1:].rstrip('"')
    return value if isinstance(value, str) else raw[1:]


def tokenize(text: str) -> list[Token]:
    """The module's tokens, comments and whitespace left out."""
    tokens: list[Token] = []
    # Open template strings, innermost last: its quote, and the depth of `{` in its `{…}`.
    quotes: list[str] = []
    depths: list[int] = []
    newline = False
    i, n = 0, len(text)
    while i < n:
        if quotes and depths[-1] < 0:  # in the literal part of the innermost template
            end = _LITERAL[quotes[-1]].match(text, i).end()  # type: ignore[union-attr]
            if end > i:
                tokens.append(Token("template", text[i:end], i, newline))
                newline = False
            if end < n and text[end] == "{":
                tokens.append(Token("op", "${", end, newline))
                newline = False
                depths[-1] = 0
                i = end + 1
            else:  # its closing quote (or, left open, the line's or the text's end)
                quotes.pop()
                depths.pop()
                i = end + 1 if end < n and text[end] != "\n" else end
            continue
        match = _CODE.match(text, i)
        assert match is not None  # `other` matches any character
        kind, value = match.lastgroup, match.group()
        i = match.end()
        if kind in ("space", "comment", "newline"):
            newline = newline or kind != "space"
            continue
        if kind == "template":
            quotes.append(value[1])
            depths.append(-1)
            continue
        if kind == "op" and quotes and value in "{}":
            if value == "}" and depths[-1] == 0:
                depths[-1] = -1  # back to the template's literal part
            else:
                depths[-1] += 1 if value == "{" else -1
        if kind == "string":
            tokens.append(Token("string", _decode(value), match.start(), newline))
        elif kind == "raw":
            tokens.append(Token("string", value[1:].removesuffix("`"), match.start(), newline))
        else:
            tokens.append(Token(kind, value, match.start(), newline))  # type: ignore[arg-type]
        newline = False
    return tokens


def _closing(tokens: list[Token], i: int) -> int:
    """The index of the bracket closing the one at `i` (len(tokens) if none)."""
    stack = []
    for j in range(i, len(tokens)):
        token = tokens[j]
        if token.kind != "op":
            continue
        if token.text in _OPEN:
            stack.append(_OPEN[token.text])
        elif token.text in (")", "]", "}"):
            if not stack or stack.pop() != token.text:
                return len(tokens)
            if not stack:
                return j
    return len(tokens)


def _key(inner: list[Token]) -> str | None:
    """The key between `[` and `]`: a string literal (in parentheses or not), else None."""
    while (
        len(inner) >= 3
        and inner[0].text == "("
        and inner[0].kind == "op"
        and _closing(inner, 0) == len(inner) - 1
    ):
        inner = inner[1:-1]
    if len(inner) == 1 and inner[0].kind == "string":
        return inner[0].text
    return None


def _is_op(tokens: list[Token], i: int, op: str) -> bool:
    return i < len(tokens) and tokens[i].kind == "op" and tokens[i].text == op


def references(text: str) -> tuple[Ref, ...]:
    """Every reference in the module, in the order they are written (remembered for the
    last modules read: a load asks each check in turn)."""
    return _references(text)


@functools.lru_cache(maxsize=256)
def _references(text: str) -> tuple[Ref, ...]:
    return tuple(_read_references(text))


def _read_references(text: str) -> Iterator[Ref]:
    tokens = tokenize(text)
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    aliases = set()  # the name after an import's `as`: a name, not a reference
    for i, token in enumerate(tokens):
        if token.kind != "ident" or token.text in KEYWORDS or _is_op(tokens, i - 1, "."):
            continue  # a keyword, or a key of a reference that started before
        if i in aliases:
            continue
        path: list[str | None] = []
        j = i + 1
        while j < len(tokens):
            if _is_op(tokens, j, ".") and j + 1 < len(tokens) and tokens[j + 1].kind == "ident":
                path.append(tokens[j + 1].text)
                j += 2
            elif _is_op(tokens, j, "[") and not tokens[j].newline_before:
                close = _closing(tokens, j)
                path.append(_key(tokens[j + 1 : close]))
                j = close + 1
            else:
                break
        before = tokens[i - 1] if i else None
        role: Literal["read", "with", "import", "package"] = "read"
        if (
            before is not None
            and before.kind == "ident"
            and before.text in ("with", "import", "package")
            and not _is_op(tokens, i - 2, ".")  # `input.package` is a key, not the keyword
        ):
            role = before.text  # type: ignore[assignment]
        alias = None
        if role == "import":
            named = j + 1 < len(tokens) and tokens[j].text == "as" and tokens[j].kind == "ident"
            alias = tokens[j + 1].text if named else (path[-1] if path else token.text)
            if named:
                aliases.add(j + 1)
        line = bisect.bisect_right(line_starts, token.offset)
        yield Ref(
            token.text,
            tuple(path),
            line,
            token.offset - line_starts[line - 1] + 1,
            role,
            alias,
        )


def package_of(text: str) -> str | None:
    """The module's package (`gateway.authz`), or None if it has none."""
    for ref in references(text):
        if ref.role == "package":
            return ref.name
    return None


def input_references(text: str) -> list[Ref]:
    """The references to `input`, also through an import (`import input.proposed as p`
    makes `p.command` a read of `input.proposed.command`). An import's own path counts
    as read. A variable bound to `input` or a part of it is not followed (`x := input`
    is a read of the whole input; `x.proposed` after it is not an input reference)."""
    refs = references(text)
    imported = {
        ref.alias: ref.path
        for ref in refs
        if ref.role == "import" and ref.head == "input" and ref.alias is not None
    }
    found = []
    for ref in refs:
        if ref.head == "input" and ref.role != "package":
            found.append(ref)
        elif ref.role in ("read", "with") and ref.head in imported:
            found.append(ref._replace(head="input", path=imported[ref.head] + ref.path))
    return found
