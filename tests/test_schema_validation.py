"""Schema validation: Prisma's own fixtures as an oracle, then one table of small schemas per
rule family, each asserting the message, line and column of every error.

The conformance part reads ``../shared/prisma-validation`` (Prisma's validation tests; see its
SOURCE.md) at test time and skips when the folder is absent. Run ``pytest -rA -k summary``
to see the agreement rate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from strata.errors import SchemaError
from strata.schema import load_schema
from strata.schema.ir import Schema
from support import needs_shared, shared_folder

# =============================================================================================
# Conformance with Prisma's validation fixtures
# =============================================================================================

FIXTURES = shared_folder("prisma-validation")
needs_fixtures = needs_shared(FIXTURES)

IN_SCOPE_PROVIDERS = frozenset({"sqlite", "postgresql", "postgres", "none"})

#: Fixtures where strata knowingly disagrees with Prisma, and why. Keep this short and honest.
EXPECTED_FAILURES: dict[str, str] = {
    "preview_features/schema_engine_driver_adapters/postgres/url_is_still_required.prisma": (
        "Prisma 6 required `url` in a postgresql datasource. Prisma 7 moved the url to "
        "prisma.config.ts and strata follows Prisma 7: the datasource url is optional."
    ),
}


@dataclass(frozen=True)
class Fixture:
    path: Path
    name: str  # relative to FIXTURES
    provider: str  # the datasource's provider, or "none" without a datasource
    expects_error: bool
    #: The `-->  schema.prisma:LINE` pointers of the expected errors, in Prisma's order.
    error_lines: tuple[int, ...]

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")


def read_fixture(path: Path) -> Fixture:
    """A fixture's expectation is the block of `//` lines that ends the file: Prisma's output.
    `error:` in it means the schema must be rejected; no block, or only warnings, accepted."""
    text = path.read_text(encoding="utf-8")
    datasource = re.search(r"^datasource\s+\w+\s*\{(.*?)^\}", text, re.S | re.M)
    provider = "none"
    if datasource:
        found = re.search(r'provider\s*=\s*"([^"]*)"', datasource.group(1))
        provider = found.group(1) if found else "?"
    trailing: list[str] = []
    for line in reversed(text.rstrip().splitlines()):
        if not line.startswith("//"):
            break
        trailing.insert(0, line)
    expected = "\n".join(trailing)
    errors = re.split(r"^// (?=error: |warning: )", expected, flags=re.M)
    error_lines = tuple(
        int(m.group(1))
        for block in errors
        if block.startswith("error: ")
        if (m := re.search(r"-->\s+schema\.prisma:(\d+)", block))
    )
    return Fixture(
        path=path,
        name=path.relative_to(FIXTURES).as_posix(),
        provider=provider,
        expects_error=bool(re.search(r"^// error: ", expected, re.M)),
        error_lines=error_lines,
    )


ALL_FIXTURES = (
    [read_fixture(p) for p in sorted(FIXTURES.rglob("*.prisma"))] if FIXTURES.is_dir() else []
)
IN_SCOPE = [f for f in ALL_FIXTURES if f.provider in IN_SCOPE_PROVIDERS]


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    error_lines: tuple[int, ...]  # ours, sorted by position
    messages: tuple[str, ...]


def run(fixture: Fixture) -> Outcome:
    try:
        load_schema(fixture.text, "schema.prisma")
    except SchemaError as error:
        diagnostics = error.diagnostics
        return Outcome(False, tuple(d.line for d in diagnostics), tuple(map(str, diagnostics)))
    return Outcome(True, (), ())


def fixture_params() -> list[object]:
    return [
        pytest.param(
            f,
            id=f.name,
            marks=[pytest.mark.xfail(strict=True, reason=EXPECTED_FAILURES[f.name])]
            if f.name in EXPECTED_FAILURES
            else [],
        )
        for f in IN_SCOPE
    ]


@needs_fixtures
@pytest.mark.parametrize("fixture", fixture_params())
def test_fixture_accepted_or_rejected_as_prisma_does(fixture: Fixture) -> None:
    outcome = run(fixture)
    if fixture.expects_error:
        assert not outcome.accepted, "Prisma rejects this schema; strata accepted it"
    else:
        assert outcome.accepted, "Prisma accepts this schema; strata rejected it:\n" + "\n".join(
            outcome.messages
        )


@needs_fixtures
def test_expected_failures_name_real_fixtures() -> None:
    names = {f.name for f in IN_SCOPE}
    assert set(EXPECTED_FAILURES) <= names


@needs_fixtures
def test_conformance_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """The agreement rate over every fixture in scope; `pytest -rA` shows the report."""
    excluded = [f for f in ALL_FIXTURES if f.provider not in IN_SCOPE_PROVIDERS]
    agreed = first_line_matches = pointer_reported = both_rejected = 0
    disagreements = []
    for fixture in IN_SCOPE:
        outcome = run(fixture)
        if outcome.accepted != fixture.expects_error:
            agreed += 1
        else:
            disagreements.append(fixture.name)
        if fixture.expects_error and not outcome.accepted and fixture.error_lines:
            both_rejected += 1
            first_line_matches += outcome.error_lines[0] == fixture.error_lines[0]
            pointer_reported += fixture.error_lines[0] in outcome.error_lines
    by_provider: dict[str, int] = {}
    for fixture in excluded:
        by_provider[fixture.provider] = by_provider.get(fixture.provider, 0) + 1
    with capsys.disabled():
        print(
            "\n\nPrisma validation fixtures: "
            f"{agreed}/{len(IN_SCOPE)} in scope agree on accept/reject "
            f"({100 * agreed / len(IN_SCOPE):.1f}%); "
            f"{len(excluded)} excluded for other providers "
            f"({', '.join(f'{p}: {n}' for p, n in sorted(by_provider.items()))}).\n"
            f"Of {both_rejected} rejected by both: our first error is on Prisma's first error "
            f"line in {first_line_matches}; Prisma's first error line is among ours in "
            f"{pointer_reported}.\n"
            f"Disagreements: {disagreements or 'none'}\n"
        )
    assert sorted(disagreements) == sorted(EXPECTED_FAILURES)


# =============================================================================================
# Rule families: small schemas, with the exact message, line and column of each error
# =============================================================================================

SQLITE = 'datasource db {\n  provider = "sqlite"\n}\n'  # 3 lines
POSTGRES = 'datasource db {\n  provider = "postgresql"\n}\n'  # 3 lines


def errors(text: str) -> list[tuple[int, int, str]]:
    """(line, column, message) of every error, in file order; [] when the schema is valid."""
    try:
        load_schema(text)
    except SchemaError as error:
        return [(d.line, d.column, d.message) for d in error.diagnostics]
    return []


def check(text: str, expected: list[tuple[int, int, str]]) -> None:
    """Every error is expected (by line, column and a piece of its message), and none is
    missing."""
    found = errors(text)
    assert [(line, column) for line, column, _ in found] == [(ln, c) for ln, c, _ in expected], (
        found
    )
    for (_, _, message), (_, _, piece) in zip(found, expected, strict=True):
        assert piece in message


def valid(text: str) -> Schema:
    return load_schema(text)


# --- configuration -------------------------------------------------------------------------

CONFIGURATION_CASES = [
    pytest.param(
        'datasource db {\n  provider = "mysql"\n}\n',
        [(2, 14, 'The provider "mysql" is not supported: strata supports sqlite and postgresql.')],
        id="other-prisma-provider",
    ),
    pytest.param(
        'datasource db {\n  provider = "oracle"\n}\n',
        [(2, 14, 'Datasource provider not known: "oracle".')],
        id="unknown-provider",
    ),
    pytest.param(
        'datasource db {\n  url = "file:dev.db"\n}\n',
        [(1, 1, 'Argument "provider" is missing in data source block "db".')],
        id="missing-provider",
    ),
    pytest.param(
        'datasource db {\n  provider = env("P")\n}\n',
        [(1, 1, "A datasource must not use the env() function in the provider argument.")],
        id="provider-from-env",
    ),
    pytest.param(
        SQLITE + 'datasource other {\n  provider = "sqlite"\n}\n',
        [
            (1, 1, "You defined more than one datasource."),
            (4, 1, "You defined more than one datasource."),
        ],
        id="two-datasources",
    ),
    pytest.param(
        'datasource db {\n  provider = "sqlite"\n  url = env("A", "B")\n}\n',
        [(3, 9, "The env function expects a singular, unnamed, string argument.")],
        id="env-with-two-arguments",
    ),
    pytest.param(
        'datasource db {\n  provider = "sqlite"\n  url = 42\n}\n',
        [(3, 9, 'Expected a string or env("...") value, but received numeric value `42`.')],
        id="url-not-a-string",
    ),
    pytest.param(
        'datasource db {\n  provider = "postgresql"\n  url = env("DB")\n'
        '  shadowDatabaseUrl = env("DB")\n}\n',
        [(3, 9, 'shadowDatabaseUrl is the same as url for datasource "db".')],
        id="shadow-database-is-the-main-one",
    ),
    pytest.param(
        'datasource db {\n  provider = "sqlite"\n  relationMode = "emulated"\n}\n',
        [(3, 18, 'Invalid relation mode setting: "emulated".')],
        id="unknown-relation-mode",
    ),
    pytest.param(
        'datasource db {\n  provider = "sqlite"\n  pool = 5\n}\n',
        [(3, 3, 'Property not known: "pool".')],
        id="unknown-property",
    ),
    pytest.param(
        'datasource db {\n  provider = "sqlite"\n  provider = "sqlite"\n}\n',
        [(3, 3, 'Key "provider" is already defined in datasource "db".')],
        id="repeated-property",
    ),
    pytest.param(
        'datasource db {\n  provider = "sqlite"\n  schemas = ["a"]\n}\n',
        [(3, 3, "The `schemas` property is not supported on the current connector.")],
        id="schemas-on-sqlite",
    ),
    pytest.param(
        'datasource db {\n  provider = "sqlite"\n  extensions = [postgis]\n}\n',
        [(3, 3, 'Property not known: "extensions".')],
        id="extensions-on-sqlite",
    ),
    pytest.param(
        POSTGRES.replace("}", "  extensions = [postgis]\n}"),
        [(3, 3, "only available with the `postgresqlExtensions` preview feature")],
        id="extensions-need-preview-feature",
    ),
    pytest.param(
        'generator client {\n  provider = "prisma-client-js"\n}\n'
        'generator client {\n  provider = "prisma-client-js"\n}\n',
        [(4, 1, 'The generator "client" cannot be defined because a generator with that name')],
        id="repeated-generator",
    ),
    pytest.param(
        'generator client {\n  output = "x"\n}\n',
        [(1, 1, 'Argument "provider" is missing in generator block "client".')],
        id="generator-without-provider",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CONFIGURATION_CASES)
def test_configuration(text: str, expected: list[tuple[int, int, str]]) -> None:
    check(text, expected)


def test_datasource_url_is_optional_and_kept() -> None:
    assert valid(SQLITE).url is None
    env = valid('datasource db {\n  provider = "postgres"\n  url = env("DATABASE_URL")\n}\n')
    assert (env.provider, env.url) == ("postgresql", "env:DATABASE_URL")
    literal = valid('datasource db {\n  provider = "sqlite"\n  url = "file:dev.db"\n}\n')
    assert literal.url == "file:dev.db"


def test_named_env_argument_is_a_warning() -> None:
    schema = valid('datasource db {\n  provider = "sqlite"\n  url = env(name: "DB")\n}\n')
    assert schema.url == "env:DB"
    assert "The env function doesn't expect named arguments" in schema.warnings[0]


def test_preview_features() -> None:
    schema = valid(
        POSTGRES + 'generator client {\n  provider = "prisma-client"\n'
        '  previewFeatures = ["views", "metrics", "fullTextSearch", "notAFeature"]\n}\n'
    )
    assert schema.generators[0].preview_features == (
        "views",
        "metrics",
        "fullTextSearchPostgres",
    )
    warnings = "\n".join(schema.warnings)
    assert 'Preview feature "metrics" is deprecated' in warnings
    assert 'renamed to "fullTextSearchPostgres"' in warnings
    # strata: Prisma rejects unknown preview features; strata warns (it generates no client).
    assert 'The preview feature "notAFeature" is not known' in warnings


# --- names and types -----------------------------------------------------------------------

NAME_CASES = [
    pytest.param(
        SQLITE + "model A {\n  id Int @id\n}\nmodel A {\n  id Int @id\n}\n",
        [(7, 1, 'The model "A" cannot be defined because a model with that name already exists.')],
        id="repeated-model",
    ),
    pytest.param(
        SQLITE + "enum Role {\n  A\n}\nmodel Role {\n  id Int @id\n}\n",
        [(7, 1, 'The model "Role" cannot be defined because a enum with that name already')],
        id="model-named-like-an-enum",
    ),
    pytest.param(
        SQLITE + "model PrismaClient {\n  id Int @id\n}\n",
        [(4, 1, "The model name `PrismaClient` is invalid. It is a reserved name.")],
        id="reserved-model-name",
    ),
    pytest.param(
        SQLITE + "model String {\n  id Int @id\n}\n",
        [(4, 1, "String is a reserved scalar type name and cannot be used.")],
        id="scalar-type-name",
    ),
    pytest.param(
        SQLITE + "model Foo-bar {\n  id Int @id\n}\n",
        [(4, 1, "The character `-` is not allowed in model names.")],
        id="dash-in-model-name",
    ),
    pytest.param(
        SQLITE + "model A {\n  id Int @id\n  id String\n}\n",
        [(6, 3, 'Field "id" is already defined on model "A".')],
        id="repeated-field",
    ),
    pytest.param(
        SQLITE + "enum E {\n  A\n  A\n}\n",
        [(6, 3, 'Value "A" is already defined on enum "E".')],
        id="repeated-enum-value",
    ),
    pytest.param(
        SQLITE + "enum E {\n}\n",
        [(4, 1, "An enum must have at least one value.")],
        id="empty-enum",
    ),
    pytest.param(
        SQLITE + "model A {\n  id Int @id\n  b  Thing\n}\n",
        [
            (
                6,
                6,
                'Type "Thing" is neither a built-in type, nor refers to another model, '
                "composite type, or enum.",
            )
        ],
        id="unknown-type",
    ),
    pytest.param(
        SQLITE + "type Address {\n  street String\n}\nmodel A {\n  id Int @id\n  a Address\n}\n",
        [(4, 1, "Composite types are not supported on sqlite: they need MongoDB.")],
        id="composite-type",
    ),
]


@pytest.mark.parametrize(("text", "expected"), NAME_CASES)
def test_names_and_types(text: str, expected: list[tuple[int, int, str]]) -> None:
    check(text, expected)


def test_non_ascii_identifiers_are_names() -> None:
    schema = valid(SQLITE + "model Lööp {\n  id Int @id\n  lööps String\n}\n")
    assert schema.model("Lööp").field("lööps").name == "lööps"


# --- attributes and their arguments --------------------------------------------------------

ATTRIBUTE_CASES = [
    pytest.param(
        SQLITE + "model A {\n  id Int @id @primary\n}\n",
        [(5, 14, 'Attribute not known: "@primary".')],
        id="unknown-field-attribute",
    ),
    pytest.param(
        SQLITE + "model A {\n  id Int @id\n  @@tablespace(x)\n}\n",
        [(6, 3, 'Attribute not known: "@@tablespace".')],
        id="unknown-block-attribute",
    ),
    pytest.param(
        SQLITE + 'model A {\n  id Int @id @map("a") @map("b")\n}\n',
        [
            (5, 14, 'Attribute "@map" can only be defined once.'),
            (5, 24, 'Attribute "@map" can only be defined once.'),
        ],
        id="repeated-attribute",
    ),
    pytest.param(
        SQLITE + 'model A {\n  id Int @id\n  @@map("a")\n  @@map("b")\n}\n',
        [
            (6, 3, 'Attribute "@@map" can only be defined once.'),
            (7, 3, 'Attribute "@@map" can only be defined once.'),
        ],
        id="repeated-block-attribute",
    ),
    pytest.param(
        SQLITE + 'model A {\n  id Int @id(name: "x")\n}\n',
        [(5, 14, 'Error parsing attribute "@id": The argument `name` is not known.')],
        id="unknown-argument",
    ),
    pytest.param(
        SQLITE + "model A {\n  id Int @id\n  @@index\n}\n",
        [(6, 3, 'Argument "fields" is missing in attribute "@@index".')],
        id="missing-argument",
    ),
    pytest.param(
        SQLITE + "model A {\n  id Int @id\n  b Int\n  @@index(id, b)\n}\n",
        [(7, 3, "You provided multiple unnamed arguments. This is not possible.")],
        id="multiple-unnamed-arguments",
    ),
    pytest.param(
        SQLITE + "model A {\n  id Int @id @map(1)\n}\n",
        [(5, 19, "Expected a string value, but received numeric value `1`.")],
        id="wrong-argument-type",
    ),
    pytest.param(
        SQLITE + 'model A {\n  id Int @id\n  b Int\n  @@index(["b"])\n}\n',
        [(7, 12, 'Expected a constant literal value, but received string value `"b"`.')],
        id="field-names-are-not-strings",
    ),
    pytest.param(
        SQLITE + 'model A {\n  id Int @id @relation("x")\n}\n',
        [(5, 14, "Invalid field type, not a relation.")],
        id="relation-attribute-on-scalar",
    ),
    pytest.param(
        SQLITE + "model A {\n  id Int @id\n  b  B @relation(fields: [bId], references: [id]) "
        "@unique\n  bId Int\n}\nmodel B {\n  id Int @id\n  a A[]\n}\n",
        [
            (
                6,
                51,
                "cannot be marked with `unique`. Only scalar fields can be made unique. Did "
                "you mean to put it on `bId`?",
            )
        ],
        id="unique-on-relation-field",
    ),
    pytest.param(
        SQLITE + "model A {\n  id  Int @id\n  bId Int\n"
        '  b   B   @relation(fields: [bId], references: [id]) @map("b")\n}\n'
        "model B {\n  id Int @id\n  a  A[]\n}\n",
        [(7, 54, "The attribute `@map` cannot be used on relation fields.")],
        id="map-on-relation-field",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ATTRIBUTE_CASES)
def test_attributes(text: str, expected: list[tuple[int, int, str]]) -> None:
    check(text, expected)


# --- identity: ids, unique criteria, indexes, columns ---------------------------------------

IDENTITY_CASES = [
    pytest.param(
        SQLITE + "model A {\n  name String\n}\n",
        [(4, 1, "Each model must have at least one unique criteria that has only required")],
        id="no-unique-criteria",
    ),
    pytest.param(
        SQLITE + "model A {\n  email String? @unique\n}\n",
        [(4, 1, "The following unique criterias were not considered as they contain fields")],
        id="only-optional-unique",
    ),
    pytest.param(
        SQLITE + "model A {\n  a Int @id\n  b Int @id\n}\n",
        [(6, 9, "At most one field must be marked as the id field with the `@id` attribute.")],
        id="two-ids",
    ),
    pytest.param(
        SQLITE + "model A {\n  a Int @id\n  b Int\n  @@id([a, b])\n}\n",
        [(7, 3, "You can't have `@id` and `@@id` at the same time.")],
        id="id-and-compound-id",
    ),
    pytest.param(
        SQLITE + "model A {\n  a Int\n  b Int?\n  @@id([a, b])\n}\n",
        [
            (4, 1, "Each model must have at least one unique criteria"),
            (7, 3, "The id definition refers to the optional field b."),
        ],
        id="compound-id-on-optional-field",
    ),
    pytest.param(
        SQLITE + "model A {\n  id Int? @id\n}\n",
        [
            (4, 1, "Each model must have at least one unique criteria"),
            (5, 11, "Fields that are marked as id must be required."),
        ],
        id="id-on-optional-field",
    ),
    pytest.param(
        SQLITE + "model A {\n  id Int @id\n  @@index([foo, bar])\n}\n",
        [(6, 3, "The index definition refers to the unknown fields: foo, bar.")],
        id="index-on-unknown-fields",
    ),
    pytest.param(
        SQLITE + "model A {\n  id Int @id\n  bId Int\n  b B @relation(fields: [bId], "
        "references: [id])\n  @@index([b])\n}\nmodel B {\n  id Int @id\n  a A[]\n}\n",
        [(8, 3, "Did you mean `@@index([bId])`?")],
        id="index-on-relation-field",
    ),
    pytest.param(
        SQLITE + "model A {\n  id Int @id\n  at String @updatedAt\n}\n",
        [(6, 13, "Fields that are marked with @updatedAt must be of type DateTime.")],
        id="updated-at-on-string",
    ),
    pytest.param(
        SQLITE + 'model A {\n  id Int @id\n  b Int @map("id")\n}\n',
        [(6, 3, 'Field "b" is already defined on model "A".')],
        id="two-fields-one-column",
    ),
    pytest.param(
        SQLITE + "model A {\n  id Int @id\n  a Int\n  b Int\n  a_b Int\n  @@unique([a, b])\n}\n",
        [(9, 3, "The field `a_b` clashes with the `@@unique` name.")],
        id="compound-unique-name-clashes",
    ),
    pytest.param(
        SQLITE + 'model A {\n  id Int @id\n  @@map("t")\n}\nmodel B {\n  id Int @id\n'
        '  @@map("t")\n}\n',
        [(10, 3, 'The model with database name "t" could not be defined because another model')],
        id="two-models-one-table",
    ),
    pytest.param(
        SQLITE + 'model A {\n  id Int @id\n  a Int @unique(map: "x")\n}\nmodel B {\n'
        '  id Int @id\n  b Int\n  @@index([b], map: "x")\n}\n',
        [
            (
                6,
                9,
                "The given constraint name `x` has to be unique in the following namespace: "
                "global for indexes and unique constraints.",
            ),
            (11, 3, "The given constraint name `x` has to be unique"),
        ],
        id="sqlite-index-names-are-global",
    ),
]


@pytest.mark.parametrize(("text", "expected"), IDENTITY_CASES)
def test_identity(text: str, expected: list[tuple[int, int, str]]) -> None:
    check(text, expected)


# --- defaults ------------------------------------------------------------------------------


def default_case(field: str) -> str:
    return SQLITE + f"enum E {{\n  A\n  B\n}}\nmodel M {{\n  id Int @id\n  {field}\n}}\n"


DEFAULT_LINE = 10  # the line `field` lands on in default_case()

#: (field declaration, the text the error points at, a piece of the message)
DEFAULT_CASES = [
    pytest.param("x String @default(1)", "1", "Expected a String value, but found `1`.", id="str"),
    pytest.param('x Int @default("1")', '"1"', 'Expected a Int value, but found `"1"`.', id="int"),
    pytest.param(
        "x Int @default(1.5)", "1.5", 'Parse error: "1.5" is not a valid integer.', id="frac"
    ),
    pytest.param(
        "x Boolean @default(yes)", "yes", "A boolean literal must be `true` or `false`.", id="bool"
    ),
    pytest.param(
        "x E @default(C)", "C", "The defined default value `C` is not a valid value", id="enum"
    ),
    pytest.param(
        "x E[] @default([A, C])", "C]", "The defined default value `C` is not", id="enum-list"
    ),
    pytest.param(
        "x String @default(now())",
        "now()",
        "The function `now()` cannot be used on fields of type `String`.",
        id="now-on-string",
    ),
    pytest.param(
        "x String @default(autoincrement())",
        "autoincrement()",
        "The function `autoincrement()` cannot be used on fields of type `String`.",
        id="autoincrement-on-string",
    ),
    pytest.param(
        "x String @default(cuid(3))",
        "cuid(3)",
        "`cuid()` takes either no argument, or a single integer argument which is either 1 or 2.",
        id="cuid-version",
    ),
    pytest.param(
        "x String @default(uuid(5))",
        "uuid(5)",
        "`uuid()` takes either no argument, or a single integer argument which is either 4 or 7.",
        id="uuid-version",
    ),
    pytest.param(
        'x String @default(uuid("v4"))',
        "uuid(",
        "`uuid()` takes a single Int argument.",
        id="uuid-string",
    ),
    pytest.param(
        "x String @default(nanoid(1))",
        "nanoid(1)",
        "`nanoid()` takes either no argument, or a single integer argument between 2 and 255.",
        id="nanoid-length",
    ),
    pytest.param(
        "x DateTime @default(now(1))",
        "now(1)",
        "The `now` function does not take any argument.",
        id="now-argument",
    ),
    pytest.param(
        'x String @default(dbgenerated(""))',
        "dbgenerated",
        "dbgenerated() takes either no argument, or a single nonempty string argument.",
        id="dbgenerated-empty",
    ),
    pytest.param(
        "x String @default(gen_random_uuid())",
        "gen_random_uuid",
        "Unknown function in @default(): `gen_random_uuid` is not known.",
        id="unknown-function",
    ),
    pytest.param('x Json @default("{oops")', '"{oops"', "is not a valid JSON string.", id="json"),
    pytest.param(
        'x DateTime @default("2024-01-01")',
        '"2024',
        'Parse error: "2024-01-01" is not a valid rfc3339 datetime string.',
        id="date-without-time",
    ),
    pytest.param(
        'x Bytes @default("not base64!")', '"not', "is not a valid base64 string.", id="bytes"
    ),
    pytest.param(
        'x Decimal @default("1.2.3")',
        '"1.2.3"',
        'Parse error: "1.2.3" is not a valid decimal.',
        id="decimal",
    ),
    pytest.param(
        'x String[] @default("a")',
        '"a"',
        "The default value of a list field must be a list.",
        id="list-needs-a-list",
    ),
    pytest.param(
        'x String @default(["a"])',
        '["a"]',
        "The default value of a non-list field cannot be a list.",
        id="scalar-needs-a-scalar",
    ),
    pytest.param(
        'x Int @default(1, map: "d")',
        "@default",
        "You defined a database name for the default value of a field on the model.",
        id="named-default",
    ),
    pytest.param(
        'x Unsupported("point") @default("x")',
        '"x")',
        'Only @default(dbgenerated("...")) can be used for Unsupported types.',
        id="unsupported",
    ),
]


@pytest.mark.parametrize(("field", "points_at", "message"), DEFAULT_CASES)
def test_invalid_defaults(field: str, points_at: str, message: str) -> None:
    column = len("  ") + field.index(points_at) + 1
    check(default_case(field), [(DEFAULT_LINE, column, message)])


# --- relations -----------------------------------------------------------------------------

USER = "model User {\n  id    Int    @id\n  posts Post[]\n}\n"  # 4 lines, from line 4


def post(relation: str, extra: str = "") -> str:
    """A Post model (from line 8) whose `author` field (line 10) is declared as given."""
    return f"model Post {{\n  id       Int @id\n  author   {relation}\n  authorId Int\n{extra}}}\n"


RELATION_CASES = [
    pytest.param(
        SQLITE
        + "model User {\n  id Int @id\n}\n"
        + post("User @relation(fields: [authorId], references: [id])"),
        [
            (
                9,
                3,
                "The relation field `author` on model `Post` is missing an opposite relation "
                "field on the model `User`.",
            )
        ],
        id="missing-opposite",
    ),
    pytest.param(
        SQLITE + USER + post("User"),
        [
            (
                10,
                3,
                "The relation field `author` on Model `Post` must specify the `fields` argument",
            ),
            (10, 3, "must specify the `references` argument"),
        ],
        id="one-to-many-without-fields",
    ),
    pytest.param(
        SQLITE
        + "model User {\n  id    Int    @id\n  code  Int    @unique\n  posts Post[]\n}\n"
        + post("User @relation(fields: [authorId], references: [id, code])"),
        [
            (
                11,
                3,
                "The argument `references` must refer to a unique criteria in the related "
                "model. Consider adding an `@@unique([id, code])` attribute to the model `User`.",
            ),
            (11, 17, "You must specify the same number of fields in `fields` and `references`."),
        ],
        id="fields-references-count",
    ),
    pytest.param(
        SQLITE
        + "model User {\n  id    Int    @id\n  code  String\n  posts Post[]\n}\n"
        + post("User @relation(fields: [authorId], references: [code])"),
        [
            (
                11,
                3,
                "The argument `references` must refer to a unique criteria in the related "
                "model. Consider adding an `@unique` attribute to the field `code` in the model "
                "`User`.",
            ),
            (
                11,
                3,
                "The type of the field `authorId` in the model `Post` is not "
                "matching the type of the referenced field `code` in model `User`.",
            ),
        ],
        id="references-not-unique-and-type-mismatch",
    ),
    pytest.param(
        SQLITE
        + USER
        + post("User @relation(fields: [authorId], references: [id])").replace(
            "authorId Int", "authorId Int?"
        ),
        [
            (
                10,
                3,
                "The relation field `author` uses the scalar fields authorId. At least one of "
                "those fields is optional. Hence the relation field must be optional as well.",
            )
        ],
        id="required-relation-optional-fields",
    ),
    pytest.param(
        SQLITE + "model User {\n  id      Int    @id\n  written Post[]\n  edited  Post[]\n}\n"
        "model Post {\n  id       Int  @id\n  author   User @relation(fields: [authorId], "
        "references: [id])\n  authorId Int\n  editor   User @relation(fields: [editorId], "
        "references: [id])\n  editorId Int\n}\n",
        [
            (
                6,
                3,
                'Error validating model "User": Ambiguous relation detected. The fields '
                "`written` and `edited` in model `User` both refer to `Post`.",
            ),
            (
                11,
                3,
                "Ambiguous relation detected. The fields `author` and `editor` in model `Post`",
            ),
        ],
        id="ambiguous-relation",
    ),
    pytest.param(
        SQLITE + "model User {\n  id      Int   @id\n  profile Profile?\n}\n"
        "model Profile {\n  id     Int  @id\n  user   User @relation(fields: [userId], "
        "references: [id])\n  userId Int\n}\n",
        [
            (
                10,
                3,
                "A one-to-one relation must use unique fields on the defining side. Either add "
                "an `@unique` attribute to the field `userId`",
            )
        ],
        id="one-to-one-not-unique",
    ),
    pytest.param(
        SQLITE + "model User {\n  id      Int     @id\n  profile Profile\n}\n"
        "model Profile {\n  id     Int  @id\n  user   User @relation(fields: [userId], "
        "references: [id])\n  userId Int  @unique\n}\n",
        [
            (
                6,
                3,
                "The relation field `profile` on Model `User` is required. This is not valid "
                "because it's not possible to enforce this constraint on the database level.",
            )
        ],
        id="one-to-one-back-side-required",
    ),
    pytest.param(
        SQLITE + "model Tag {\n  id    Int    @id\n  posts Post[]\n}\n"
        "model Post {\n  id   Int   @id\n  tags Tag[] @relation(references: [id])\n}\n",
        [(10, 3, "Implicit many-to-many relation should not have references argument defined.")],
        id="many-to-many-with-references",
    ),
    pytest.param(
        SQLITE + "model Tag {\n  name  String @unique\n  posts Post[]\n}\n"
        "model Post {\n  id   Int   @id\n  tags Tag[]\n}\n",
        [
            (
                10,
                3,
                "The relation field `tags` on model `Post` references `Tag` which does not have "
                "an `@id` field. Models without `@id` cannot be part of a many to many relation.",
            )
        ],
        id="many-to-many-without-id",
    ),
    pytest.param(
        SQLITE
        + USER
        + post("User @relation(fields: [authorId], references: [id], onDelete: Explode)"),
        [(10, 75, "Invalid referential action: `Explode`")],
        id="unknown-referential-action",
    ),
    pytest.param(
        SQLITE
        + USER
        + post("User @relation(fields: [authorId], references: [id], onDelete: SetNull)"),
        [
            (
                10,
                3,
                "The `onDelete` referential action of a relation must not be set to `SetNull` "
                "when a referenced field is required.",
            )
        ],
        id="set-null-on-required-field",
    ),
    pytest.param(
        'datasource db {\n  provider = "sqlite"\n  relationMode = "prisma"\n}\n'
        + "model User {\n  id    Int    @id\n  posts Post[]\n}\n"
        + "model Post {\n  id       Int @id\n  author   User @relation(fields: [authorId], "
        "references: [id], onDelete: NoAction)\n  authorId Int\n  @@index([authorId])\n}\n",
        [
            (
                11,
                75,
                "Invalid referential action: `NoAction`. Allowed values: (`Cascade`, "
                "`Restrict`, `SetNull`)",
            )
        ],
        id="emulated-actions",
    ),
    pytest.param(
        SQLITE + "model User {\n  id    Int    @id\n  posts Post[] @relation(fields: [id], "
        "references: [id])\n}\n" + post("User"),
        [
            (
                6,
                3,
                "must not specify the `fields` or `references` argument in the @relation attribute",
            ),
            (10, 3, "must specify the `fields` argument"),
            (10, 3, "must specify the `references` argument"),
        ],
        id="fields-on-the-list-side",
    ),
]


@pytest.mark.parametrize(("text", "expected"), RELATION_CASES)
def test_relations(text: str, expected: list[tuple[int, int, str]]) -> None:
    check(text, expected)


def test_set_null_on_required_field_is_a_warning_on_postgresql() -> None:
    schema = valid(
        POSTGRES
        + USER
        + post("User @relation(fields: [authorId], references: [id], onDelete: SetNull)")
    )
    assert (
        "should not be set to `SetNull` when a referenced field is required" in (schema.warnings[0])
    )
    assert schema.warnings[0].startswith("schema.prisma:10:3: warning:")


def test_relation_mode_prisma_suggests_an_index() -> None:
    schema = valid(
        'datasource db {\n  provider = "postgresql"\n  relationMode = "prisma"\n}\n'
        + USER
        + post("User @relation(fields: [authorId], references: [id])")
    )
    assert len(schema.warnings) == 1
    assert "We recommend adding an index manually" in schema.warnings[0]


def test_self_relations_need_a_name() -> None:
    unnamed = (
        SQLITE + "model Node {\n  id       Int    @id\n  parentId Int?\n"
        "  parent   Node?  @relation(fields: [parentId], references: [id])\n"
        "  children Node[]\n}\n"
    )
    check(unnamed, [(7, 3, "Ambiguous self relation detected.")])
    named = unnamed.replace("@relation(fields", '@relation("tree", fields').replace(
        "Node[]", 'Node[] @relation("tree")'
    )
    node = valid(named).model("Node")
    assert {f.name: f.relation_name for f in node.relation_fields} == {
        "parent": "tree",
        "children": "tree",
    }


# --- provider capabilities -----------------------------------------------------------------

PROVIDER_CASES = [
    pytest.param(
        SQLITE + "model A {\n  id String @id @db.VarChar(3)\n}\n",
        [(5, 17, "Native type VarChar is not supported for sqlite connector.")],
        id="native-type-on-sqlite",
    ),
    pytest.param(
        POSTGRES + "model A {\n  id String @id @pg.Text\n}\n",
        [
            (
                5,
                17,
                "The prefix pg is invalid. It must be equal to the name of an existing "
                "datasource e.g. db. Did you mean to use db.Text?",
            )
        ],
        id="native-type-prefix",
    ),
    pytest.param(
        POSTGRES + "model A {\n  id String @id @db.Tinytext\n}\n",
        [(5, 17, "Native type Tinytext is not supported for postgresql connector.")],
        id="unknown-native-type",
    ),
    pytest.param(
        POSTGRES + "model A {\n  id Int @id @db.Uuid\n}\n",
        [
            (
                5,
                14,
                "Native type Uuid is not compatible with declared field type Int, expected "
                "field type String.",
            )
        ],
        id="native-type-for-another-scalar",
    ),
    pytest.param(
        POSTGRES + "model A {\n  id String @id @db.VarChar(1, 2)\n}\n",
        [(5, 17, "Native type VarChar takes 1 optional arguments, but received 2.")],
        id="native-type-arguments",
    ),
    pytest.param(
        POSTGRES + "model A {\n  id Int @id\n  at DateTime @db.Timestamp(7)\n}\n",
        [
            (
                6,
                15,
                "Argument M is out of range for native type `Timestamp`: M can range from 0 to 6.",
            )
        ],
        id="timestamp-precision",
    ),
    pytest.param(
        POSTGRES + "model A {\n  id Int @id\n  at DateTime @db.Time(-1)\n}\n",
        [(6, 15, "Expected a nonnegative integer, but found (-1).")],
        id="negative-precision",
    ),
    pytest.param(
        POSTGRES + "model A {\n  id Int @id\n  d Decimal @db.Decimal(2, 5)\n}\n",
        [(6, 13, "The scale must not be larger than the precision")],
        id="decimal-scale",
    ),
    pytest.param(
        POSTGRES + 'model A {\n  id Int @id\n  c Unsupported("Inet")\n}\n',
        [(6, 3, "Please use the native type notation `String @db.Inet` for full support.")],
        id="unsupported-that-is-supported",
    ),
    pytest.param(
        SQLITE + "model A {\n  id Int @id\n  b String\n  @@fulltext([b])\n}\n",
        [(7, 3, "Defining fulltext indexes is not supported with the current connector.")],
        id="fulltext",
    ),
    pytest.param(
        SQLITE + "model A {\n  id Int @id\n  b Int\n  @@index([b], type: Hash)\n}\n",
        [(7, 3, "The given index type is not supported with the current connector")],
        id="index-type-on-sqlite",
    ),
    pytest.param(
        POSTGRES + "model A {\n  id Int @id\n  b Int\n  @@index([b(sort: Desc)], type: Hash)\n}\n",
        [(7, 3, "Hash type does not support sort option.")],
        id="hash-with-sort",
    ),
    pytest.param(
        POSTGRES + "model A {\n  id Int @id\n  b Int\n  @@index([b], type: Gin)\n}\n",
        [(7, 3, "The Gin index type does not support the type of the field `b`.")],
        id="gin-on-int",
    ),
    pytest.param(
        POSTGRES + "model A {\n  id Int @id\n  b Json\n  @@index([b(ops: TextOps)], "
        "type: Gin)\n}\n",
        [(7, 3, "The given operator class `TextOps` is not supported with the `Gin` index type.")],
        id="operator-class-for-another-index-type",
    ),
    pytest.param(
        SQLITE + "model A {\n  id Int @id(clustered: true)\n}\n",
        [(5, 10, "Defining clustering is not supported in the current connector.")],
        id="clustering",
    ),
    pytest.param(
        POSTGRES + "model A {\n  id String @id\n  b String @unique(length: 10)\n}\n",
        [(6, 12, "The length argument is not supported in an index definition")],
        id="length-prefix",
    ),
    pytest.param(
        SQLITE + 'model A {\n  id Int @id(map: "pk")\n}\n',
        [
            (
                4,
                1,
                "You defined a database name for the primary key on the model. This is not "
                "supported by the provider.",
            )
        ],
        id="named-primary-key-on-sqlite",
    ),
    pytest.param(
        SQLITE + USER + post('User @relation(fields: [authorId], references: [id], map: "fk")'),
        [(10, 17, "Your provider does not support named foreign keys.")],
        id="named-foreign-key-on-sqlite",
    ),
    pytest.param(
        SQLITE + "model A {\n  id Int @id\n  n Int @default(autoincrement())\n}\n",
        [
            (
                6,
                3,
                "The `autoincrement()` default value is used on a non-id field even though the "
                "datasource does not support this.",
            )
        ],
        id="autoincrement-not-on-the-id",
    ),
    pytest.param(
        POSTGRES + 'model A {\n  id Int @id\n  @@index([id], map: "' + "x" * 64 + '")\n}\n',
        [(6, 3, "The maximum allowed length is 63 bytes.")],
        id="map-too-long-for-postgresql",
    ),
]


@pytest.mark.parametrize(("text", "expected"), PROVIDER_CASES)
def test_provider_capabilities(text: str, expected: list[tuple[int, int, str]]) -> None:
    check(text, expected)


def test_postgresql_accepts_what_sqlite_rejects() -> None:
    schema = valid(
        POSTGRES
        + """model A {
  id    String   @id @default(uuid()) @db.Uuid
  n     Int      @default(autoincrement())
  name  String   @db.VarChar(200)
  price Decimal  @db.Decimal(10, 2)
  at    DateTime @db.Timestamptz(6)
  tags  String[]
  meta  Json
  @@index([tags], type: Gin)
  @@index([meta(ops: JsonbPathOps)], type: Gin, map: "a_meta_idx")
}
"""
    )
    model = schema.model("A")
    native_types = {f.name: f.native_type for f in model.scalar_fields}
    assert native_types["name"] == ("VarChar", ("200",))
    assert [i.kind for i in model.indexes] == ["gin", "gin"]
    assert model.indexes[1].columns[0].operator_class == "JsonbPathOps"
    assert schema.warnings == ()


def test_enums_are_accepted_on_sqlite() -> None:
    schema = valid(
        SQLITE + "enum Role {\n  USER\n  ADMIN\n}\nmodel A {\n  id Int @id\n"
        "  role Role @default(USER)\n}\n"
    )
    assert schema.enum("Role").values[1].name == "ADMIN"
    assert schema.warnings == ()


def test_scalar_lists_on_sqlite_are_a_documented_extension() -> None:
    """strata: Prisma rejects scalar lists on SQLite; strata stores them as JSON text, and
    says so in a warning."""
    schema = valid(SQLITE + "model A {\n  id Int @id\n  tags String[]\n}\n")
    assert schema.model("A").field("tags").list
    (warning,) = schema.warnings
    assert warning.startswith("schema.prisma:6:3: warning: Field `tags` in model `A` is a scalar")
    assert "strata stores the list as JSON text" in warning


# --- multi-schema and views ----------------------------------------------------------------

MULTI_SCHEMA = 'datasource db {\n  provider = "postgresql"\n  schemas = ["a", "b"]\n}\n'

SCHEMA_AND_VIEW_CASES = [
    pytest.param(
        MULTI_SCHEMA + 'model A {\n  id Int @id\n  @@schema("c")\n}\nenum E {\n  X\n}\n',
        [
            (7, 3, "This schema is not defined in the datasource."),
            (9, 1, "This enum is missing an `@@schema` attribute."),
        ],
        id="schemas",
    ),
    pytest.param(
        SQLITE + 'model A {\n  id Int @id\n  @@schema("a")\n}\n',
        [(6, 3, "@@schema is not supported on the current datasource provider")],
        id="schema-on-sqlite",
    ),
    pytest.param(
        POSTGRES + "view V {\n  id Int\n}\n",
        [(4, 1, "View definitions are only available with the `views` preview feature.")],
        id="view-without-preview-feature",
    ),
    pytest.param(
        POSTGRES + 'generator c {\n  provider = "x"\n  previewFeatures = ["views"]\n}\n'
        "view V {\n  id Int @id\n  n Int\n  @@index([n])\n}\n",
        [(9, 10, "Views cannot have primary keys."), (11, 3, "Views cannot have indexes.")],
        id="view-keys",
    ),
]


@pytest.mark.parametrize(("text", "expected"), SCHEMA_AND_VIEW_CASES)
def test_schemas_and_views(text: str, expected: list[tuple[int, int, str]]) -> None:
    check(text, expected)


# --- reporting -----------------------------------------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    text = (
        'datasource db {\n  provider = "sqlite"\n  pool = 1\n}\n'  # 3: unknown property
        "model A {\n"
        "  id Int @id @db.Text\n"  # 6: native type on sqlite
        "  b  Thing\n"  # 7: unknown type
        "  c  String @default(1)\n"  # 8: default of the wrong type
        "}\n"
        "model B {\n"  # 10: no unique criteria
        "  x Int\n"
        "  a A @relation(fields: [x], references: [id])\n"  # 12: missing opposite
        "}\n"
    )
    with pytest.raises(SchemaError) as caught:
        load_schema(text, "app.prisma")
    diagnostics = caught.value.diagnostics
    assert [d.line for d in diagnostics] == [3, 6, 7, 8, 10, 12]
    message = str(caught.value)
    assert message.startswith("6 errors in the schema\n\napp.prisma:3:3: error: ")
    assert 'app.prisma:7:6: error: Type "Thing" is neither' in message
    assert "7 |   b  Thing\n  |      ^^^^^" in message  # the caret excerpt points at the type


def test_warnings_do_not_reject_but_errors_drop_them() -> None:
    text = SQLITE + "model A {\n  id Int @id\n  tags String[]\n}\n"
    assert len(valid(text).warnings) == 1
    with pytest.raises(SchemaError) as caught:
        load_schema(text + "model B {\n  x Int\n}\n")
    assert all(d.severity == "error" for d in caught.value.diagnostics)


def test_parse_errors_come_first() -> None:
    """A file that does not parse is not validated: syntax errors are reported alone."""
    with pytest.raises(SchemaError) as caught:
        load_schema(SQLITE + "model A {\n  id Int @id\n  broken\n}\nmodel B {\n  x Int\n}\n")
    assert [d.message for d in caught.value.diagnostics] == [
        "The field `broken` has no type: write it as `broken Type`."
    ]
