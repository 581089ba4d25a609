"""The load-time checks read a policy's references from its syntax (gateway/policy/rego_refs.py):
what the regexes they replace were fooled by is caught, what cannot be resolved statically is
decided as documented, and spellings only rego-cpp accepts (whitespace inside a reference)
are read as rego-cpp evaluates them. tests/policies/test_rego_refs_match_opa.py holds the
reader to OPA's parser on the same adversarial file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.config import REPO_POLICY_DIR
from gateway.policy.embedded import compile_policy, quiet_interpreter
from gateway.policy.input_refs import unknown_input_refs
from gateway.policy.inputs import input_schema
from gateway.policy.memo import memo_blockers
from gateway.policy.rego_refs import input_references, package_of, references, tokenize
from gateway.policy.sources import PolicyLoadError

CASES = Path(__file__).resolve().parents[2] / "policies" / "rego_refs_cases.rego"


def _module(body: str, package: str = "gateway.t") -> str:
    return f"package {package}\n\n{body}\n"


def _true_on_rego_cpp(text: str, input_json: str = '{"proposed": {"comand": 1}}') -> bool:
    """Is `data.gateway.t.x` true on rego-cpp, for this module and input?"""
    interp = quiet_interpreter()
    interp.add_module("t.rego", text)
    interp.set_input_term(input_json)
    return str(interp.query("x := data.gateway.t.x")) == (
        '{"expressions":[true], "bindings":{"x":true}}'
    )


def _unknown(body: str, package: str = "gateway.t") -> list[str]:
    return unknown_input_refs({"t.rego": _module(body, package)}, input_schema())


def test_strings_comments_and_templates_are_tokens_of_their_own() -> None:
    tokens = tokenize('x := "a # b" # input.c\ny := `raw\n"input.d"` + $"t {input.e} \\{"')
    assert [(t.kind, t.text) for t in tokens] == [
        ("ident", "x"), ("op", ":="), ("string", "a # b"),
        ("ident", "y"), ("op", ":="), ("string", 'raw\n"input.d"'), ("op", "+"),
        ("template", "t "), ("op", "${"), ("ident", "input"), ("op", "."), ("ident", "e"),
        ("op", "}"), ("template", " \\{"),
    ]  # fmt: skip
    assert tokens[3].newline_before and not tokens[4].newline_before


def test_the_package_is_read_from_its_statement() -> None:
    assert package_of("# package evil.x\npackage gateway.authz\n") == "gateway.authz"
    assert package_of("x := `\npackage system.log\n`\npackage gateway.x\n") == "gateway.x"
    assert package_of("x := 1\n") is None


# The message of every unknown reference in the adversarial file: each spelling is caught.
CAUGHT = {
    (10, "input.proposed.comand"),  # input["proposed"]["comand"]
    (12, "input.proposed.comand"),  # input.proposed["comand"]
    (14, "input.proposed.comand"),  # input.proposed[`comand`]
    (16, 'input.proposed["co\\"mand"]'),  # escapes decoded
    (18, "input.proposed.comand"),  # input[("proposed")].comand
    (74, "input.proposed.comand"),  # p.comand, p imported from input.proposed
    (109, "input.input"),
}


def test_every_spelling_of_an_unknown_field_is_caught() -> None:
    problems = unknown_input_refs({"cases.rego": CASES.read_text()}, input_schema())
    found = {(int(p.split(":")[1]), p.split(": ", 1)[1].split(" is not")[0]) for p in problems}
    assert found == CAUGHT


def test_the_message_names_file_line_and_what_exists_there() -> None:
    (problem,) = _unknown('deny contains "x" if input["proposed"]["comand"] == "sh"')
    assert problem.startswith(
        "t.rego:3: input.proposed.comand is not sent by the gateway (input.proposed has: "
    )
    assert ", command, " in problem
    (problem,) = _unknown("x if input.subject.memberships[e].rol == 1")
    assert problem == (
        "t.rego:3: input.subject.memberships[…].rol is not sent by the gateway "
        "(input.subject.memberships[…] has: kind, restrict_installs_to_approved, role)"
    )
    (problem,) = _unknown('x if input.listings[0].resource.idd == "a"')
    assert "input.listings[…].resource.idd is not sent" in problem


def test_what_is_not_resolved_is_left_alone_as_documented() -> None:
    """input_refs.py's docstring and docs/policies.md say so: a variable, a function
    argument, a computed key on an object and builtins are not followed."""
    for body in (
        "x if { y := input.proposed; y.comand == 1 }",
        "x if { some item in input.listings; item.resorce.id == 1 }",
        "f(p) := p.comand\nx if f(input.proposed) == 1",
        "x if { some k; input.proposed[k] == 1 }",
        'x := object.get(input, ["proposed", "comand"], 0)',
    ):
        assert _unknown(body) == [], body


def test_helpers_in_any_package_are_checked_but_not_opas_system_packages() -> None:
    assert _unknown("x := input.proposed.comand", "lib.helpers")
    assert _unknown("x := input.input.proposed", "system.log") == []


# rego-cpp accepts whitespace inside a reference (OPA refuses the module): each spelling is
# evaluated by rego-cpp as the reference the reader finds.
WHITESPACE = [
    ("input.proposed . comand == 1", ("proposed", "comand")),
    ("input. proposed.comand == 1", ("proposed", "comand")),
    ('input ["proposed"] ["comand"] == 1', ("proposed", "comand")),
    ("input\n\t.proposed\n\t.comand == 1", ("proposed", "comand")),
]


@pytest.mark.parametrize(("spelled", "path"), WHITESPACE)
def test_whitespace_inside_a_reference_is_read_as_rego_cpp_reads_it(
    spelled: str, path: tuple[str, ...]
) -> None:
    text = _module(f"x if {{\n\t{spelled}\n}}")
    assert _true_on_rego_cpp(text)  # the field was read
    assert not _true_on_rego_cpp(text, '{"proposed": {"comand": 2}}')
    assert [r.path for r in input_references(text)] == [path]


def test_a_bracket_on_a_new_line_starts_a_new_expression_as_in_rego_cpp() -> None:
    text = _module('x if {\n\ty := input.proposed\n\t["a"] == ["a"]\n\ty.comand == 1\n}')
    assert _true_on_rego_cpp(text)
    assert [r.path for r in input_references(text)] == [("proposed",)]


@pytest.mark.parametrize("call", ["time .now_ns()", "time. now_ns()", "time.now_ns ()"])
def test_an_impure_call_spelled_with_whitespace_blocks_the_memo(call: str) -> None:
    text = _module(f"x if {call} > 1")
    assert _true_on_rego_cpp(text)  # it is the clock
    assert memo_blockers({"t.rego": text}) == [
        "t.rego:3: time.now_ns reads the clock, randomness or the network"
    ]


def test_what_blocks_the_memo_in_the_adversarial_file() -> None:
    assert memo_blockers({"cases.rego": CASES.read_text()}) == [
        "cases.rego:7: input.request takes the input or input.request whole",  # the import
        "cases.rego:38: input.request[…] takes the input or input.request whole",
        "cases.rego:45: input takes the input or input.request whole",
        "cases.rego:50: input.request takes the input or input.request whole",
        "cases.rego:55: input.request takes the input or input.request whole",
        "cases.rego:60: input.request takes the input or input.request whole",
        "cases.rego:65: input takes the input or input.request whole",
        "cases.rego:67: input.request takes the input or input.request whole",
        "cases.rego:69: input takes the input or input.request whole",
        "cases.rego:74: req_id reads the request id",  # request.req_id, through the import
        "cases.rego:77: time.now_ns reads the clock, randomness or the network",
        "cases.rego:79: rand.intn reads the clock, randomness or the network",
        "cases.rego:83: uuid.rfc4122 reads the clock, randomness or the network",
        "cases.rego:85: time.now_ns reads the clock, randomness or the network",
        "cases.rego:87: time.now_ns reads the clock, randomness or the network",
        "cases.rego:100: req_id reads the request id",  # in a raw template string
        "cases.rego:100: time.now_ns reads the clock, randomness or the network",
    ]


def test_an_impure_helper_in_a_package_of_its_own_blocks_the_memo() -> None:
    modules = {
        "lib/clock.rego": _module("now := time.now_ns()", "lib.clock"),
        "gateway/a.rego": _module("import data.lib.clock\n\nx if clock.now > 0", "gateway.a"),
        "system/log/mask.rego": _module("mask contains x if x := input", "system.log"),
    }
    assert memo_blockers(modules) == [
        "lib/clock.rego:3: time.now_ns reads the clock, randomness or the network"
    ]


def test_strings_and_comments_that_look_like_code_are_not_references() -> None:
    text = _module(
        'msg := "time.now_ns() input.request.req_id" # time.now_ns() input\n'
        "raw := `input.request\ntime.now_ns()` # `\n"
        'tpl := $"input.request \\{time.now_ns()}"'
    )
    assert [r for r in references(text) if r.head in ("input", "time")] == []
    assert memo_blockers({"t.rego": text}) == []


def test_the_embedded_engine_refuses_a_bracketed_typo(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    shutil.copytree(REPO_POLICY_DIR, root, ignore=shutil.ignore_patterns("*_test.rego"))
    (root / "gateway" / "authz" / "typo.rego").write_text(
        "package gateway.authz\n\n"
        'deny contains {"code": "no_shell", "message": "no shells"} if {\n'
        '\tinput["proposed"]["comand"] in {"sh", "bash"}\n'
        "}\n"
    )
    with pytest.raises(PolicyLoadError, match=r"typo.rego:4: input.proposed.comand is not sent"):
        compile_policy(root)


def test_a_keyword_after_a_dot_is_a_key_not_the_statement() -> None:
    """`input.package`, `input.with`, `x.import` are keys (OPA accepts them): the reference on
    the next line keeps its own role (a review found `data…` after `input.package` taken for
    a package clause, and an impure call after `input.with` taken for a `with` target)."""
    text = _module("x if {\n\tname := input.package\n\tdata.lib.ok[name]\n}")
    data_refs = [r for r in references(text) if r.head == "data"]
    assert [(r.path, r.role) for r in data_refs] == [(("lib", "ok", None), "read")]
    impure = _module("x if {\n\ty := input.with\n\ttime.now_ns() > y\n}")
    assert memo_blockers({"t.rego": impure}) == [
        "t.rego:5: time.now_ns reads the clock, randomness or the network"
    ]
    unknown = _module("x if {\n\ty := input.package\n\tinput.proposed.comand == y\n}")
    assert _unknown(unknown.split("\n\n", 1)[1]) != []  # the typo after it is still read
