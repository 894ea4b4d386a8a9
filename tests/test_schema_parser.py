"""The schema parser: each construct of the language, comments, diagnostics on bad input, and
every schema in Prisma's own fixtures that Prisma accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from strata.errors import ConfigurationError, SchemaError
from strata.schema import load_schema, load_schema_file
from strata.schema.diagnostics import DIAGNOSTIC_LIMIT, MESSAGE_LIMIT
from strata.schema.parser import MAX_NESTING, parse, parse_file
from strata.schema.syntax import (
    Argument,
    ArrayValue,
    Attribute,
    Comment,
    ConfigBlock,
    ConfigProperty,
    EnumBlock,
    EnumValue,
    Field,
    FieldType,
    FunctionCall,
    Identifier,
    ModelBlock,
    NumberValue,
    SchemaFile,
    StringValue,
)
from support import SHARED, shared_folder

FIXTURE_ROOTS = (shared_folder("prisma-validation"), shared_folder("prisma-ddl"))


def prisma_accepts(path: Path) -> bool:
    """Whether Prisma accepts a fixture: a validation fixture lists Prisma's diagnostics in a
    trailing block of `//` lines (warnings alone still mean accepted); a DDL fixture that
    Prisma rejected has a `sqlite.error.txt` beside it."""
    if (path.parent / "sqlite.error.txt").exists():
        return False
    lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    trailing: list[str] = []
    for line in reversed(lines):
        if not line.startswith("//"):
            break
        trailing.append(line)
    return not any(line.startswith("// error:") for line in trailing)


def accepted_fixtures() -> list[Path]:
    return [
        path
        for root in FIXTURE_ROOTS
        if root.is_dir()
        for path in sorted(root.rglob("*.prisma"))
        if prisma_accepts(path)
    ]


def model(body: str) -> ModelBlock:
    """Parse ``body`` as the inside of `model M { ... }`."""
    block = parse(f"model M {{\n{body}\n}}\n").blocks[0]
    assert isinstance(block, ModelBlock)
    return block


def field(line: str) -> Field:
    (only,) = model(line).fields
    return only


def default_value(expression: str) -> object:
    """The value of ``@default(<expression>)`` on a field."""
    (attribute,) = field(f"  f String @default({expression})").attributes
    assert attribute.arguments is not None
    return attribute.arguments[0].value


def errors(text: str) -> SchemaError:
    with pytest.raises(SchemaError) as caught:
        parse(text)
    return caught.value


def env(name: str) -> FunctionCall:
    return FunctionCall("env", (Argument(None, StringValue(name)),))


# --- Config blocks ---------------------------------------------------------------------------


def test_datasource_with_a_url_from_the_environment() -> None:
    tree = parse('datasource db {\n  provider = "sqlite"\n  url      = env("DATABASE_URL")\n}\n')
    assert tree == SchemaFile(
        (
            ConfigBlock(
                "datasource",
                "db",
                (
                    ConfigProperty("provider", StringValue("sqlite")),
                    ConfigProperty("url", env("DATABASE_URL")),
                ),
            ),
        )
    )
    (datasource,) = tree.datasources()
    assert datasource.get("url") == env("DATABASE_URL")


def test_datasource_without_a_url() -> None:
    # Prisma 7 moves the URL to prisma.config.ts; the block then only names the provider.
    (datasource,) = parse('datasource db {\n  provider = "sqlite"\n}\n').datasources()
    assert datasource.properties == (ConfigProperty("provider", StringValue("sqlite")),)
    assert datasource.get("url") is None


def test_generator_block() -> None:
    text = """
generator client {
  provider        = "prisma-client-js"
  output          = "../generated"
  previewFeatures = ["views", "multiSchema"]
  binaryTargets   = []
}
"""
    (generator,) = parse(text).generators()
    assert generator.name == "client"
    assert generator.get("previewFeatures") == ArrayValue(
        (StringValue("views"), StringValue("multiSchema"))
    )
    assert generator.get("binaryTargets") == ArrayValue(())
    assert [p.name for p in generator.properties] == [
        "provider",
        "output",
        "previewFeatures",
        "binaryTargets",
    ]


# --- Models, enums, views, composite types ----------------------------------------------------


def test_model_fields_types_and_attributes() -> None:
    block = model(
        """  id       Int                   @id @default(autoincrement())
  email    String                @unique
  name     String?
  tags     String[]
  location Unsupported("point")?
  posts    Post[]
  @@map("users")"""
    )
    assert block.kind == "model"
    assert block.name == "M"
    assert [(f.name, f.type) for f in block.fields] == [
        ("id", FieldType("Int")),
        ("email", FieldType("String")),
        ("name", FieldType("String", optional=True)),
        ("tags", FieldType("String", list=True)),
        ("location", FieldType("Unsupported", optional=True, unsupported="point")),
        ("posts", FieldType("Post", list=True)),
    ]
    assert block.fields[0].attributes == (
        Attribute("id", None),
        Attribute("default", (Argument(None, FunctionCall("autoincrement", ())),)),
    )
    assert block.attributes == (Attribute("map", (Argument(None, StringValue("users")),), True),)


def test_enum_values_and_attributes() -> None:
    text = 'enum Role {\n  USER\n  ADMIN @map("admin")\n\n  @@map("roles")\n}\n'
    assert parse(text).enums() == [
        EnumBlock(
            "Role",
            (
                EnumValue("USER"),
                EnumValue("ADMIN", (Attribute("map", (Argument(None, StringValue("admin")),)),)),
            ),
            (Attribute("map", (Argument(None, StringValue("roles")),), True),),
        )
    ]


def test_view_and_composite_type_blocks() -> None:
    tree = parse("view Summary {\n  id Int @unique\n}\n\ntype Address {\n  street String\n}\n")
    assert [(b.kind, b.name) for b in tree.views() + tree.composite_types()] == [
        ("view", "Summary"),
        ("type", "Address"),
    ]
    assert tree.models() == []


def test_keywords_are_ordinary_names_inside_blocks() -> None:
    block = model("  model String\n  type  Int\n  enum  Boolean")
    assert [f.name for f in block.fields] == ["model", "type", "enum"]


# --- Attribute arguments and expressions ----------------------------------------------------


def test_positional_and_named_arguments() -> None:
    (attribute,) = field(
        '  author User @relation("posts", fields: [authorId], references: [id], onDelete: Cascade)'
    ).attributes
    assert attribute == Attribute(
        "relation",
        (
            Argument(None, StringValue("posts")),
            Argument("fields", ArrayValue((Identifier("authorId"),))),
            Argument("references", ArrayValue((Identifier("id"),))),
            Argument("onDelete", Identifier("Cascade")),
        ),
    )


def test_function_calls_inside_arrays_and_arguments() -> None:
    block = model('  a Int\n  b Int\n  @@index([a(sort: Desc), b], map: "a_b")')
    assert block.attributes[0].arguments == (
        Argument(
            None,
            ArrayValue(
                (
                    FunctionCall("a", (Argument("sort", Identifier("Desc")),)),
                    Identifier("b"),
                )
            ),
        ),
        Argument("map", StringValue("a_b")),
    )


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("now()", FunctionCall("now", ())),
        ('dbgenerated("gen_random_uuid()")', FunctionCall("dbgenerated", (
            Argument(None, StringValue("gen_random_uuid()")),
        ))),
        ("true", Identifier("true")),
        ("false", Identifier("false")),
        ("ADMIN", Identifier("ADMIN")),
        ("Role.ADMIN", Identifier("Role.ADMIN")),
        ("[1, 2]", ArrayValue((NumberValue("1"), NumberValue("2")))),
        ("[]", ArrayValue(())),
    ],
)  # fmt: skip
def test_default_values(expression: str, value: object) -> None:
    assert default_value(expression) == value


@pytest.mark.parametrize(
    ("text", "is_integer"),
    [("0", True), ("42", True), ("-7", True), ("2.5", False), ("-0.75", False), ("1e3", False)],
)
def test_numbers_are_kept_as_written(text: str, is_integer: bool) -> None:
    value = default_value(text)
    assert value == NumberValue(text)
    assert isinstance(value, NumberValue)
    assert value.is_integer is is_integer


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r'"plain"', "plain"),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"back\\slash"', "back\\slash"),
        (r'"\n\t\r\b\f"', "\n\t\r\b\f"),
        (r'"a\/b"', "a/b"),
        (r'"caf\u00e9"', "café"),
        (r'"\ud83d\ude00"', "😀"),  # a surrogate pair is one character, as in JSON
        ('"日本語 😀"', "日本語 😀"),
        (r'"\u0000"', "\x00"),
    ],
)
def test_string_escapes(literal: str, value: str) -> None:
    assert default_value(literal) == StringValue(value)


def test_dotted_attribute_names() -> None:
    (attribute,) = field("  title String @db.VarChar(255)").attributes
    assert attribute == Attribute("db.VarChar", (Argument(None, NumberValue("255")),))


def test_attribute_with_and_without_parentheses() -> None:
    attributes = field("  id Int @id @unique()").attributes
    assert [a.arguments for a in attributes] == [None, ()]


def test_arguments_may_span_lines() -> None:
    block = model("  a Int\n  b Int\n  @@index([\n    a,\n    b\n  ])")
    assert block.attributes[0].arguments == (
        Argument(None, ArrayValue((Identifier("a"), Identifier("b")))),
    )


# --- Positions ------------------------------------------------------------------------------


def test_spans_locate_items_and_do_not_take_part_in_equality() -> None:
    text = "model User {\n  id    Int @id\n  email String\n}\n"
    block = parse(text).blocks[0]
    assert isinstance(block, ModelBlock)
    email = block.fields[1]
    assert (email.span.line, email.span.column) == (3, 3)
    assert text[email.span.start : email.span.start + 5] == "email"
    assert (email.type.span.line, email.type.span.column) == (3, 9)
    assert parse(text.replace("    Int", " Int")) == parse(text)


# --- Comments -------------------------------------------------------------------------------


def test_doc_comments_document_the_item_below() -> None:
    text = "/// A user.\n/// Second line.\nmodel User {\n  /// The key.\n  id Int @id\n}\n"
    block = parse(text).blocks[0]
    assert isinstance(block, ModelBlock)
    assert block.documentation == "A user.\nSecond line."
    assert block.fields[0].documentation == "The key."


def test_trailing_comments() -> None:
    text = """
datasource db {
  provider = "sqlite" // for now
}

model M {
  a Int //x
  b Int /// doc-style
  @@map("m") // table
}
"""
    datasource, block = parse(text).blocks
    assert isinstance(datasource, ConfigBlock)
    assert isinstance(block, ModelBlock)
    assert datasource.properties[0].comment == "for now"
    assert [f.comment for f in block.fields] == ["x", "/ doc-style"]
    assert block.attributes[0].comment == "table"


def test_free_standing_comments_are_kept_with_the_next_item() -> None:
    block = model('  a Int\n\n  // Section\n  b Int\n  // @@index([b])\n  @@map("m")')
    assert block.fields[1].comments == (Comment("Section"),)
    assert block.fields[1].comments[0].blank_line_before
    assert block.attributes[0].comments == (Comment("@@index([b])"),)


def test_comments_after_the_last_item() -> None:
    tree = parse("model M {\n  a Int\n  // the end\n} // closing\n\n// file end\n")
    block = tree.blocks[0]
    assert isinstance(block, ModelBlock)
    assert block.end_comments == (Comment("the end"), Comment("closing"))
    assert tree.end_comments == (Comment("file end"),)
    assert tree.end_comments[0].blank_line_before


def test_top_level_docs_need_to_touch_their_block() -> None:
    # As in Prisma: at the top level, a blank line detaches `///` lines from the block.
    block = parse("/// floating\n\n// plain\n/// doc\nmodel M {\n  a Int\n}\n").blocks[0]
    assert block.documentation == "doc"
    assert block.comments == (Comment("/ floating"), Comment("plain"))


def test_field_docs_may_be_a_blank_line_away() -> None:
    # As in Prisma: inside a block, the last comment run above a field documents it.
    block = model("  a Int\n  /// about b\n\n  b Int")
    assert block.fields[1].documentation == "about b"


def test_block_comments() -> None:
    text = "/*\n * About M.\n *   Indented.\n */\nmodel M {\n  /* alone */\n  a Int\n}\n"
    block = parse(text).blocks[0]
    assert isinstance(block, ModelBlock)
    assert block.comments == (Comment("About M.\nIndented.", block=True),)
    assert block.fields[0].comments == (Comment("alone", block=True),)


def test_comments_sharing_a_line_with_code_join_the_trailing_comment() -> None:
    block = model(
        "  a Int /* why */ @id // note\n  b Int\n  @@index([\n    a, // first\n    b\n  ])"
    )
    assert block.fields[0].comment == "why note"
    assert block.fields[0].attributes == (Attribute("id", None),)
    assert block.attributes[0].comment == "first"


def test_comments_carry_no_line_ending() -> None:
    block = model("  /// doc \r\n  a Int // note  \r\n  // free\t\r")
    assert block.fields[0].documentation == "doc"
    assert block.fields[0].comment == "note"
    assert block.end_comments == (Comment("free"),)


def test_comments_take_part_in_equality() -> None:
    assert parse("model M {\n  a Int // x\n}\n") != parse("model M {\n  a Int // y\n}\n")
    assert parse("model M {\n  a Int\n}\n") == parse("model M {\n\n\n  a   Int\n\n}\n")


# --- Bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        pytest.param(
            "model User {\n  id Int @id\n\nmodel Post {\n  id Int @id\n}\n",
            4, 1, "The model `User` (line 1) is never closed",
            id="unterminated block before the next block",
        ),
        pytest.param(
            "model User {\n  id Int @id\n",
            1, 12, "a `}` is missing at the end of the file",
            id="unterminated block at the end of the file",
        ),
        pytest.param(
            'model User {\n  id String @default("abc)\n}\n',
            2, 22, "This string is never closed",
            id="unterminated string",
        ),
        pytest.param(
            "model User {\n  id   Int @id\n  name\n}\n",
            3, 3, "The field `name` has no type",
            id="missing type",
        ),
        pytest.param(
            "model User {\n  id Int @id\n}\nthis is garbage\n",
            4, 1, "does not start with any known Prisma schema keyword",
            id="garbage line",
        ),
        pytest.param(
            "model User {\n  id Int @id\n  $$$ name String\n}\n",
            3, 3, "Unexpected characters `$$$`",
            id="stray characters",
        ),
        pytest.param(
            "model User {\n  id   Int      @id\n  tags String[]?\n}\n",
            3, 16, "Optional lists are not supported",
            id="optional list",
        ),
        pytest.param(
            "model User {\n  id   Int      @id\n  tags String?[]\n}\n",
            3, 15, "Optional lists are not supported",
            id="list of optionals",
        ),
        pytest.param(
            'model User {\n  id String @default("\\q")\n}\n',
            2, 23, "Unknown escape sequence",
            id="unknown escape",
        ),
        pytest.param(
            "model User {\n  id Int @id\n}\n/* never closed\n",
            4, 1, "never closed with */",
            id="unterminated block comment",
        ),
        pytest.param(
            "model User {\n  id: Int\n}\n",
            2, 5, "without a colon",
            id="legacy colon",
        ),
    ],
)  # fmt: skip
def test_syntax_errors_point_at_the_problem(
    text: str, line: int, column: int, message: str
) -> None:
    error = errors(text)
    (diagnostic,) = error.diagnostics
    assert (diagnostic.line, diagnostic.column) == (line, column)
    assert message in diagnostic.message
    # The excerpt shows the line with a caret under the column.
    rendered = str(diagnostic).splitlines()
    assert rendered[0].startswith(f"schema.prisma:{line}:{column}: error: ")
    source_line = text.splitlines()[line - 1]
    assert rendered[2] == f"{line} | {source_line}"
    gutter = " " * len(str(line))
    assert rendered[3].startswith(f"{gutter} | {' ' * (column - 1)}^")
    assert message in str(error)


def test_every_error_in_a_file_is_reported() -> None:
    text = """model User {
  id   Int @id
  name
  tags String[]?
  note String @default("oops)
}

garbage here

enum Role {
  USER
"""
    error = errors(text)
    assert [(d.line, d.column) for d in error.diagnostics] == [
        (3, 3),
        (4, 16),
        (5, 24),
        (8, 1),
        (10, 11),
    ]
    assert str(error).startswith("5 errors in the schema")


def test_diagnostics_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.prisma"
    path.write_text("model M {\n  a\n}\n", encoding="utf-8")
    with pytest.raises(SchemaError) as caught:
        parse_file(path)
    assert caught.value.diagnostics[0].path == str(path)
    assert str(caught.value.diagnostics[0]).startswith(f"{path}:2:3: error:")


def test_schema_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="never closed"):
        parse("model M {\n")


# --- Hostile input: every input gets a SchemaError with a bounded report ---------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("[" * 1200 + "]" * 1200, id="lists"),
        pytest.param("f(" * 1200 + ")" * 1200, id="calls"),
        pytest.param("[f(" * 600 + ")]" * 600, id="both"),
    ],
)
def test_deep_nesting_is_a_diagnostic_not_a_recursion_error(value: str) -> None:
    text = f"model M {{\n  id Int @default({value})\n  name\n}}\n"
    first, second = errors(text).diagnostics
    assert first.message == f"Lists and parentheses nest more than {MAX_NESTING} levels deep here."
    # It points at the bracket that goes one level too deep (`@default(` is the first).
    assert first.line == 2
    up_to_it = text.split("\n")[1][: first.column]
    assert up_to_it[-1] in "[("
    assert up_to_it.count("[") + up_to_it.count("(") == MAX_NESTING + 1
    # Reading goes on at the next line.
    assert (second.line, second.column) == (3, 3)
    assert "The field `name` has no type" in second.message


def test_unclosed_deep_nesting_is_a_diagnostic() -> None:
    error = errors("model M {\n  id Int @default(" + "[" * 1200 + "\n  name String\n}\n")
    assert "nest more than" in error.diagnostics[0].message


def test_nesting_up_to_the_limit_parses() -> None:
    depth = MAX_NESTING - 1  # `@default(` is a level too
    value = default_value("[" * depth + "]" * depth)
    for _ in range(depth):
        assert isinstance(value, ArrayValue)
        value = value.items[0] if value.items else value
    assert value == ArrayValue(())


@pytest.mark.parametrize("digit", ["²", "①", "٣"])
def test_a_unicode_digit_starts_a_name_not_a_number(digit: str) -> None:
    # str.isdigit() holds for all of them (and `\d` matches `٣`); Prisma's numbers are ASCII.
    with pytest.raises(SchemaError, match="does not start with any known Prisma schema keyword"):
        parse(f"{digit}\n")
    with pytest.raises(SchemaError, match="Unexpected character `-`"):
        parse(f"model M {{\n  id Int @default(-{digit})\n}}\n")
    with pytest.raises(SchemaError, match="must not start with a number"):
        load_schema(f"model {digit} {{\n  id Int @id\n}}\n")
    with pytest.raises(SchemaError, match=r'"@default": Expected a Int value, but found'):
        load_schema(f"model M {{\n  id Int @id @default({digit})\n}}\n")
    assert not NumberValue(digit).is_integer


def test_a_file_that_is_not_utf8_is_a_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.prisma"
    path.write_bytes(
        "model Caf\u00e9 {\n  id Int @id\n  // r\u00e9sum\u00e9\n}\n".encode("latin-1")
    )
    for read in (parse_file, load_schema_file):
        with pytest.raises(SchemaError) as caught:
            read(path)
        (diagnostic,) = caught.value.diagnostics
        assert (diagnostic.path, diagnostic.line, diagnostic.column) == (str(path), 1, 10)
        assert "not valid UTF-8: byte 0xE9 at byte offset 9" in diagnostic.message
        rendered = str(diagnostic).splitlines()
        assert rendered[2] == "1 | model Caf\ufffd {"
        assert rendered[3] == "  |          ^"
    # An offset further in, past multi-byte characters: the column counts characters.
    path.write_bytes(
        '// \u00fc\u00fc\n/// ok\nmodel M {\n  s String @default("'.encode() + b'\xff"\n}\n'
    )
    with pytest.raises(SchemaError) as caught:
        parse_file(path)
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.column) == (4, 22)
    assert "byte 0xFF at byte offset 46" in diagnostic.message


def test_a_missing_schema_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the schema file"):
        load_schema_file(tmp_path / "missing.prisma")


@pytest.mark.parametrize("mistakes", [3, 200_000])
def test_a_megabyte_line_gives_a_small_report(mistakes: int) -> None:
    """Each diagnostic used to carry the whole line: many mistakes on a 1 MB line made a
    message of gigabytes. Excerpts are now a window of the line, and a hundred diagnostics
    are kept; the message says how many more there were."""
    line = ("$".ljust(1_000_000 // mistakes)) * mistakes
    assert len(line) >= 999_999
    error = errors(f"model M {{\n  id Int @id\n  {line}\n}}\n")
    assert len(str(error)) < 100_000
    assert len(error.diagnostics) == min(mistakes, DIAGNOSTIC_LIMIT)
    assert error.omitted == mistakes - len(error.diagnostics)
    if error.omitted:
        assert str(error).startswith(f"{mistakes} errors in the schema; 100 are shown and ")
    # The window keeps the caret under the mistake.
    last = error.diagnostics[-1]
    code, carets = str(last).splitlines()[2:4]
    assert code[carets.index("^")] == "$"
    assert code.startswith("3 | ...")
    assert code.endswith("...")


def test_excerpts_are_cut_around_the_column_and_carets_follow_tabs() -> None:
    text = "model M {\n\tid Int @id" + " " * 300 + '$ @map("x")' + " " * 300 + "\n}\n"
    (diagnostic,) = errors(text).diagnostics
    assert diagnostic.column == len("\tid Int @id") + 301
    code, carets = str(diagnostic).splitlines()[2:4]
    assert len(code) < 140
    assert code[carets.index("^")] == "$"
    (diagnostic,) = errors("model M {\n\tid\tInt\t$\n}\n").diagnostics
    code, carets = str(diagnostic).splitlines()[2:4]
    assert code[carets.index("^")] == "$"


def test_a_long_name_is_shortened_in_messages() -> None:
    name = "x" * 1_000_000
    (diagnostic,) = errors(f"model M {{\n  id Int @id\n  {name}\n}}\n").diagnostics
    assert len(diagnostic.message) <= MESSAGE_LIMIT + 40
    assert diagnostic.message.startswith("The field `xxx")
    assert "characters left out" in diagnostic.message


# --- Prisma's fixtures ------------------------------------------------------------------------


@pytest.mark.skipif(not accepted_fixtures(), reason="../shared fixtures absent")
@pytest.mark.parametrize("path", accepted_fixtures(), ids=lambda p: str(p.relative_to(SHARED)))
def test_every_schema_prisma_accepts_parses(path: Path) -> None:
    tree = parse_file(path)
    assert tree.blocks or tree.end_comments
