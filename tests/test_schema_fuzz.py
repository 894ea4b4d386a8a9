"""Fuzzing the schema pipeline: parse, validate, format, parse again.

Whatever the text, the only exception that may come out is `SchemaError`, with a report
of bounded size; and formatting a valid schema and reading it back gives the same IR. The
inputs are arbitrary text, schemas built from the grammar (mostly plausible, so many are
valid and validation runs to the end) and the seed schemas with random damage.

Bounded for CI: the profile in conftest.py runs a few dozen examples of each; run
``HYPOTHESIS_PROFILE=thorough pytest tests/test_schema_fuzz.py`` to search much further.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from strata.errors import SchemaError
from strata.schema.diagnostics import DIAGNOSTIC_LIMIT, EXCERPT_WIDTH, MESSAGE_LIMIT
from strata.schema.format import format_schema
from strata.schema.parser import MAX_NESTING, parse
from strata.schema.validate import validate

SEED_SCHEMAS = sorted((Path(__file__).resolve().parents[1] / "schema").glob("*.prisma"))

# Generous, so that a loaded CI machine never fails it: it catches the quadratic blow-ups
# fuzzing is for, not ordinary slowness.
fuzz_settings = settings(deadline=timedelta(seconds=2))


def assert_bounded(error: SchemaError) -> None:
    """The report is bounded however large or broken the input."""
    assert 0 < len(error.diagnostics) <= DIAGNOSTIC_LIMIT
    for diagnostic in error.diagnostics:
        assert diagnostic.line >= 1
        assert diagnostic.column >= 1
        assert len(diagnostic.message) <= MESSAGE_LIMIT + 40
        assert len(diagnostic.source_line) <= EXCERPT_WIDTH + 6
        assert str(diagnostic).startswith(f"{diagnostic.path}:{diagnostic.line}:")


def check_pipeline(text: str) -> None:
    """parse -> validate -> format -> parse, letting only SchemaError out."""
    try:
        tree = parse(text)
    except SchemaError as error:
        assert_bounded(error)
        return
    formatted = format_schema(tree)
    again = parse(formatted)
    assert again == tree
    try:
        schema = validate(tree)
    except SchemaError as error:
        assert_bounded(error)
        # Layout never makes a schema valid.
        try:
            validate(again)
        except SchemaError:
            return
        raise AssertionError("the formatted schema is valid, the original was not") from None
    assert validate(again) == schema


# --- Arbitrary text ----------------------------------------------------------------------------

# Characters that mean something to the lexer, and characters that have broken it: Unicode
# digits, a byte order mark, controls, a lone surrogate, CR and exotic line breaks.
tricky = st.sampled_from(
    [*'{}()[],:=?@."\\/*-\n\t ', "²", "٣", "①", "ⅷ", "\ufeff", "\x00", "\udc80", "\r", "\u2028"]
)
any_text = st.text(st.characters() | tricky, max_size=300)


@fuzz_settings
@given(any_text)
def test_arbitrary_text(text: str) -> None:
    check_pipeline(text)


# --- Schemas built from the grammar --------------------------------------------------------

# More digits than Python converts to an int (4,300).
HUGE = "1" * 5000
# Plausible enough that a good share are valid (unique names, mostly scalar types), with
# the attributes and values validation has the most rules about.
model_names = ["User", "Post", "Tag"]
field_names = st.sampled_from(["score", "at", "label", "owner", "x"])
scalars = ["String", "Int", "BigInt", "Float", "Decimal", "Boolean", "DateTime", "Json", "Bytes"]
field_types = st.sampled_from([*scalars, *model_names, "Role", "Nope"])
literals = st.sampled_from(
    [
        "0",
        "-1",
        "2.5",
        "1e3",
        '"text"',
        '""',
        "true",
        "now()",
        "cuid()",
        "uuid()",
        "autoincrement()",
        'dbgenerated("1")',
        "[]",
        '["a", "b"]',
        "USER",
        '"2024-01-01T00:00:00Z"',
        '"{}"',
        "99999999999999999999999",
        HUGE,
        f"1.5e{HUGE}",
        "uuid(7)",
        f"nanoid({HUGE})",
    ]
)
field_attributes = st.lists(
    st.sampled_from(
        [
            "@unique",
            "@updatedAt",
            "@ignore",
            '@map("col")',
            "@db.VarChar(10)",
            "@db.Text",
            f"@db.VarChar({HUGE})",
            f"@db.Decimal({HUGE}, 2)",
            "@relation(fields: [userId], references: [id])",
            "@relation(fields: [userId], references: [id], onDelete: Cascade)",
            '@relation("named")',
        ]
    )
    | literals.map(lambda value: f"@default({value})"),
    max_size=2,
    unique=True,
)
block_attributes = st.sampled_from(
    [
        "@@unique([email])",
        "@@index([userId, name])",
        '@@map("table")',
        "@@index([name(sort: Desc)])",
        f"@@index([name(length: {HUGE})])",
        "@@unique([name, userId])",
    ]
)


@st.composite
def fields(draw: st.DrawFn) -> tuple[str, str]:
    """A field's name and its line."""
    name = draw(field_names)
    modifier = draw(st.sampled_from(["", "?", "[]"]))
    attributes = " ".join(draw(field_attributes))
    return name, f"  {name} {draw(field_types)}{modifier} {attributes}".rstrip()


@st.composite
def models(draw: st.DrawFn, name: str) -> str:
    lines = [
        f"model {name} {{",
        "  id Int @id @default(autoincrement())",
        "  name String",
        "  email String?",
        "  userId Int",
    ]
    lines += [line for _, line in draw(st.lists(fields(), max_size=4, unique_by=lambda f: f[0]))]
    lines += ["  " + a for a in draw(st.lists(block_attributes, max_size=2, unique=True))]
    return "\n".join([*lines, "}"])


enums = st.lists(st.sampled_from(["USER", "ADMIN", "GUEST"]), min_size=1, unique=True).map(
    lambda values: "enum Role {\n" + "".join(f"  {v}\n" for v in values) + "}"
)
datasources = st.sampled_from(["sqlite", "postgresql", "mysql"]).map(
    lambda provider: f'datasource db {{\n  provider = "{provider}"\n  url = "file:x.db"\n}}'
)


@st.composite
def schemas(draw: st.DrawFn) -> str:
    names = draw(st.lists(st.sampled_from(model_names), unique=True, max_size=3))
    blocks = [draw(models(name)) for name in names]
    blocks += draw(st.lists(enums, max_size=1)) + draw(st.lists(datasources, max_size=1))
    return "\n\n".join(draw(st.permutations(blocks)))


@fuzz_settings
@given(schemas())
def test_schemas_from_the_grammar(text: str) -> None:
    check_pipeline(text)


# --- Real schemas, damaged ---------------------------------------------------------------

insertions = st.sampled_from(
    [
        "[" * (MAX_NESTING + 1),
        "(" * (MAX_NESTING + 1),
        "²",
        "-²",
        "٣",
        '"',
        "\\",
        "/*",
        "*/",
        "//",
        "///",
        "{",
        "}",
        "@@",
        "@",
        "\n",
        "\r\n",
        "\x00",
        "$$$",
        "x" * 5000,
        "1" * 5000,
        "@default(" + "[" * 30 + "]" * 30 + ")",
        "model",
        "enum E {",
        "?[]",
    ]
) | st.text(tricky, max_size=4)


@st.composite
def damaged(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEED_SCHEMAS)).read_text(encoding="utf-8")
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = start + draw(st.integers(0, 12))
        replacement = draw(st.just("") | insertions)
        text = text[:start] + replacement + text[end:]
    return text


@fuzz_settings
@given(damaged())
def test_damaged_seed_schemas(text: str) -> None:
    check_pipeline(text)


def test_every_seed_schema_survives_the_pipeline() -> None:
    for path in SEED_SCHEMAS:
        check_pipeline(path.read_text(encoding="utf-8"))
