"""Tool (and prompt) argument validation, `forge.services.tools.argument_problems`: jsonschema-rs
answers "valid" fast, the Python `jsonschema` library stays the authority and writes every message.
Same answers and messages as the Python validator alone, formats never enforced, no remote `$ref`
ever fetched, and a schema jsonschema-rs cannot take still validated, by Python alone."""

from __future__ import annotations

import socket
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import validators

from forge.services import tools
from forge.services.tools import argument_problems, compiled_schema, validator_for

MESSAGE = {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}
NESTED = {
    "type": "object",
    "properties": {
        "user": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1}, "age": {"type": "integer", "minimum": 0},
            },
            "required": ["name"],
            "additionalProperties": False,
        }
    },
}
ARRAY = {"type": "object", "properties": {
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
}}
ENUM = {"type": "object", "properties": {"kind": {"enum": ["a", "b", 3]}}}
LOCAL_REF = {
    "type": "object",
    "$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
    "properties": {"at": {"$ref": "#/$defs/point"}},
}
DRAFT7 = {  # `items` as a list is draft-07 tuple validation (2020-12 spells it prefixItems)
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "definitions": {"word": {"type": "string"}},
    "properties": {
        "pair": {"type": "array", "items": [{"$ref": "#/definitions/word"}], "additionalItems": False},
    },
}
FORMAT = {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}}
# Where Python and Rust differ, Python wins: its `re` lets `$` match before a final newline and
# finds an Arabic-Indic digit a digit (\D fails it; Rust's \D, ASCII only, would pass it), and it
# finds 0.07 no multiple of 0.01 (a float quotient of 7.000000000000001; jsonschema-rs passes it).
PATTERN = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^a+$"}}}
NO_DIGITS = {"type": "object", "properties": {"label": {"type": "string", "pattern": "^\\D+$"}}}
MULTIPLE = {"type": "object", "properties": {"price": {"type": "number", "multipleOf": 0.01}}}

CASES = [
    (MESSAGE, {"message": "hello"}, []),
    (MESSAGE, {"message": 5}, ["message: 5 is not of type 'string'"]),
    (MESSAGE, {}, ["arguments: 'message' is a required property"]),
    (NESTED, {"user": {"name": "ada", "age": 36}}, []),
    (NESTED, {"user": {"name": "", "age": -1}},
     ["user/name: '' should be non-empty", "user/age: -1 is less than the minimum of 0"]),
    (NESTED, {"user": {"name": "ada", "extra": 1}},
     ["user: Additional properties are not allowed ('extra' was unexpected)"]),
    (ARRAY, {"tags": ["a", "b"]}, []),
    (ARRAY, {"tags": ["a", 2, "c"]},
     ["tags: ['a', 2, 'c'] is too long", "tags/1: 2 is not of type 'string'"]),
    (ENUM, {"kind": 3}, []),
    (ENUM, {"kind": "c"}, ["kind: 'c' is not one of ['a', 'b', 3]"]),
    (LOCAL_REF, {"at": {"x": 1.5}}, []),
    (LOCAL_REF, {"at": {"y": 1}}, ["at: 'x' is a required property"]),
    (DRAFT7, {"pair": ["one"]}, []),
    (DRAFT7, {"pair": [1, "two"]},
     ["pair: Additional items are not allowed ('two' was unexpected)", "pair/0: 1 is not of type 'string'"]),
    (FORMAT, {"email": "not an email"}, []),
    (PATTERN, {"code": "aa\n"}, []),
    (PATTERN, {"code": "ab"}, ["code: 'ab' does not match '^a+$'"]),
    (NO_DIGITS, {"label": "\u0661"}, ["label: '\u0661' does not match '^\\\\D+$'"]),
    (MULTIPLE, {"price": 0.5}, []),
    (MULTIPLE, {"price": 0.07}, ["price: 0.07 is not a multiple of 0.01"]),
]


def python_problems(schema, arguments) -> list[str]:
    """The answer of the Python validator alone, as argument_problems gave it before jsonschema-rs."""
    validator = validators.validator_for(schema, default=validators.Draft202012Validator)(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or 'arguments'}: {error.message}"
        for error in validator.iter_errors(arguments)
    ]


@pytest.mark.parametrize(("schema", "arguments", "expected"), CASES)
def test_answers_and_messages_are_the_python_validators(schema, arguments, expected):
    assert compiled_schema(schema).fast is not None  # these all take the fast path
    assert sorted(argument_problems(schema, arguments)) == sorted(expected)
    assert sorted(python_problems(schema, arguments)) == sorted(expected)


def test_the_draft_comes_from_dollar_schema_and_defaults_to_2020_12():
    assert type(compiled_schema(DRAFT7).fast).__name__ == "Draft7Validator"
    assert type(validator_for(DRAFT7)).__name__ == "Draft7Validator"
    assert type(compiled_schema(MESSAGE).fast).__name__ == "Draft202012Validator"
    prefix = {"type": "array", "prefixItems": [{"type": "string"}]}  # a 2020-12 keyword
    assert argument_problems(prefix, [1]) == ["0: 1 is not of type 'string'"]


def test_a_schema_is_serialized_once_per_definition_and_equal_schemas_share_one_compilation(monkeypatch):
    schema = {"type": "object", "properties": {"once": {"type": "integer"}}}
    twin = {"type": "object", "properties": {"once": {"type": "integer"}}}
    assert compiled_schema(schema) is compiled_schema(twin)
    assert validator_for(schema) is validator_for(twin)

    class NoSerializing:
        @staticmethod
        def dumps(*args, **kwargs):
            raise AssertionError("a kept schema was serialized again")

    monkeypatch.setattr(tools, "orjson", NoSerializing)
    assert argument_problems(schema, {"once": 1}) == []
    assert argument_problems(schema, {"once": "x"}) == ["once: 'x' is not of type 'integer'"]


@pytest.fixture
def listener():
    """A loopback HTTP listener that records each connection before answering 404, so a fetch
    that happened has been recorded by the time the fetching call returns."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    connections, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            connections.append(connection)
            with connection:
                connection.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", connections
    stop.set()
    thread.join()
    server.close()


def test_a_remote_ref_is_never_fetched_and_still_answers(listener):
    base, connections = listener
    remote = f"{base}/x.json"
    schema = {"type": "object", "properties": {"a": {"$ref": remote}, "b": {"type": "string"}}}
    assert argument_problems(schema, {"b": "x"}) == []  # arguments that never reach the $ref
    assert argument_problems(schema, {"b": 1}) == ["b: 1 is not of type 'string'"]
    problems = argument_problems(schema, {"a": 1})
    assert len(problems) == 1 and remote in problems[0]
    whole = {"$ref": f"{base}/whole.json"}
    assert len(argument_problems(whole, {"a": 1})) == 1
    assert connections == []


def test_a_schema_jsonschema_rs_cannot_compile_is_validated_by_python_alone():
    # jsonschema-rs checks a schema against its meta-schema (a negative minLength fails it);
    # Python's validator takes the schema as it is.
    schema = {"type": "object", "properties": {"word": {"type": "string", "minLength": -1}}}
    assert compiled_schema(schema).fast is None
    assert argument_problems(schema, {"word": ""}) == []
    assert argument_problems(schema, {"word": 1}) == ["word: 1 is not of type 'string'"]


def test_any_failure_of_jsonschema_rs_falls_back_to_python(monkeypatch):
    class Refusing:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("cannot compile")

    monkeypatch.setattr(tools.jsonschema_rs, "Draft202012Validator", Refusing)
    schema = {"type": "object", "properties": {"refused": {"type": "integer"}}}
    assert compiled_schema(schema).fast is None
    assert argument_problems(schema, {"refused": 1}) == []
    assert argument_problems(schema, {"refused": "x"}) == ["refused: 'x' is not of type 'integer'"]

    class Raising:
        def is_valid(self, instance):
            raise OverflowError("cannot convert")

    compiled = compiled_schema(MESSAGE)
    monkeypatch.setattr(compiled, "fast", Raising())
    assert argument_problems(MESSAGE, {"message": "hi"}) == []
    assert argument_problems(MESSAGE, {"message": 1}) == ["message: 1 is not of type 'string'"]


def test_pattern_properties_are_left_to_python():
    # Which keys a pattern matches decides which subschema applies, so Rust's regexes never choose.
    schema = {"type": "object", "patternProperties": {"^x$": {"type": "integer"}}}
    assert compiled_schema(schema).fast is None
    problems = argument_problems(schema, {"x\n": "not an integer"})
    assert problems == ["x\n: 'not an integer' is not of type 'integer'"]


PROPERTY_SCHEMAS = [
    MESSAGE, NESTED, ARRAY, ENUM, LOCAL_REF, DRAFT7, FORMAT, PATTERN, NO_DIGITS, MULTIPLE,
    {"type": "object", "properties": {"n": {"type": "integer", "maximum": 10, "exclusiveMinimum": -3}}},
    {"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": True}}, "minProperties": 1},
    {"properties": {"kind": {"const": 1}, "a": {"type": ["string", "null"], "maxLength": 2}}},
    {"properties": {"a": {"anyOf": [{"type": "boolean"}, {"type": "number", "minimum": 0.5}]}}},
    {"properties": {"a": {"not": {"type": "string"}}}, "additionalProperties": {"type": "integer"}},
]
CENTS = st.integers(-1000, 1000).map(lambda cents: round(cents / 100, 2))  # where float quotients bite
DIALECT = st.text(alphabet="ab\n\u0661\ufeff", max_size=4)  # where Python's and Rust's regexes differ
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), CENTS, CENTS, st.text(max_size=4), DIALECT, DIALECT,
    st.sampled_from(["ada", "not an email", "one"]),
)


def property_names(schema) -> set[str]:
    """Every name under any "properties" in `schema`, at any depth."""
    if isinstance(schema, list):
        return set().union(*map(property_names, schema))
    if not isinstance(schema, dict):
        return set()
    own = set(schema["properties"]) if isinstance(schema.get("properties"), dict) else set()
    return own.union(*map(property_names, schema.values()))


def arguments_for(schema) -> st.SearchStrategy:
    """Objects keyed mostly by the schema's own property names, holding any JSON value."""
    keys = st.sampled_from(sorted(property_names(schema) | {"extra"})) | st.text(max_size=2)
    values = SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(keys, SCALARS, max_size=3)
    return st.dictionaries(keys, values, max_size=3)


@pytest.mark.parametrize("schema", PROPERTY_SCHEMAS)
@settings(max_examples=150, deadline=None, database=None)
@given(data=st.data())
def test_valid_exactly_when_the_python_validator_says_so(schema, data):
    arguments = data.draw(arguments_for(schema), label="arguments")
    python = validators.validator_for(schema, default=validators.Draft202012Validator)(schema)
    assert (argument_problems(schema, arguments) == []) == python.is_valid(arguments)
