"""The schema formatter: golden layouts (``prisma format``'s), idempotence over Prisma's
fixtures and the seed schemas, and the round trip ``parse(format(tree)) == tree`` over random
syntax trees."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strata.errors import SchemaError
from strata.schema.format import format_schema, format_text
from strata.schema.parser import parse
from strata.schema.syntax import (
    Argument,
    ArrayValue,
    Attribute,
    Block,
    Comment,
    ConfigBlock,
    ConfigProperty,
    EnumBlock,
    EnumValue,
    Expression,
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

ROOT = Path(__file__).resolve().parents[1]
SEED_SCHEMAS = sorted((ROOT / "schema").glob("*.prisma"))


def fixtures() -> list[Path]:
    roots = (shared_folder("prisma-validation"), shared_folder("prisma-ddl"))
    return [path for root in roots if root.is_dir() for path in sorted(root.rglob("*.prisma"))]


def schema(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# --- Golden layouts ---------------------------------------------------------------------------

GOLDEN = {
    "fields align in columns; only a blank line starts a new group": (
        """
        model User {
          id Int @id @default(autoincrement())
          // a comment line keeps the group going
          email String @unique
          name String?

          posts Post[]
          profileImageUrl String? @map("profile_image_url")
        }
        """,
        """
        model User {
          id    Int     @id @default(autoincrement())
          // a comment line keeps the group going
          email String  @unique
          name  String?

          posts           Post[]
          profileImageUrl String? @map("profile_image_url")
        }
        """,
    ),
    "trailing comments follow the last column and do not affect alignment": (
        """
        model Test {
          id  Int   @id    // Comment 1
          foo String     // Comment 2
          bar Bar? @relation(fields: [id], references: [id]) // Comment 3
        }
        """,
        """
        model Test {
          id  Int    @id // Comment 1
          foo String // Comment 2
          bar Bar?   @relation(fields: [id], references: [id]) // Comment 3
        }
        """,
    ),
    "config properties align their `=`": (
        """
        datasource db {
          provider = "sqlite" // "postgresql" later
          url = env("DATABASE_URL")
          relationMode="prisma"
        }
        """,
        """
        datasource db {
          provider     = "sqlite" // "postgresql" later
          url          = env("DATABASE_URL")
          relationMode = "prisma"
        }
        """,
    ),
    "block attributes go last, after one blank line, with the comments above them": (
        """
        model Post {
          @@map("posts")
          id Int
          // the composite key
          @@id([id, title])
          title String


          @@index([title])
        }
        """,
        """
        model Post {
          id    Int
          title String

          @@map("posts")
          // the composite key
          @@id([id, title])
          @@index([title])
        }
        """,
    ),
    "a comment a blank line above the attributes stays with the fields": (
        """
        model A {
          one Int
          two Int
          // b  B[] @relation(references: [a])

          @@id([one, two])
        }
        """,
        """
        model A {
          one Int
          two Int
          // b  B[] @relation(references: [a])

          @@id([one, two])
        }
        """,
    ),
    "enums align values and attributes; blank lines collapse and vanish at the edges": (
        """
        enum Color {


          RED @map("rett")
          BLUE
          GREEN



          // comment
          ORANGE_AND_KIND_OF_RED @map("super_color")
          @@map("the_colors")

        }
        """,
        """
        enum Color {
          RED   @map("rett")
          BLUE
          GREEN

          // comment
          ORANGE_AND_KIND_OF_RED @map("super_color")

          @@map("the_colors")
        }
        """,
    ),
    "blocks are separated by one blank line; comments between them are kept": (
        """

        generator client {
            provider = "prisma-client-js"
        }
        // Enums
        enum Role {
          USER
        }



        // free floating comment
        /// free floating doc comment


        // model comment
        /// model doc comment
        model Blog {
          id Int @id
        }
        // model Three {
        //   id Int @id
        // }
        """,
        """
        generator client {
          provider = "prisma-client-js"
        }

        // Enums
        enum Role {
          USER
        }

        // free floating comment
        /// free floating doc comment

        // model comment
        /// model doc comment
        model Blog {
          id Int @id
        }
        // model Three {
        //   id Int @id
        // }
        """,
    ),
    "doc comments stay above their items, comments keep their place": (
        """
        /// A session.
        model Session {
          /// Primary key.
          id Int @id // the key
          // plain
          observer String /// doc-style trailing comment
          /// Free text.
          ///
          ///   Indented.
          notes String?
        }
        """,
        """
        /// A session.
        model Session {
          /// Primary key.
          id       Int     @id // the key
          // plain
          observer String /// doc-style trailing comment
          /// Free text.
          ///
          ///   Indented.
          notes    String?
        }
        """,
    ),
    "block comments take Prisma's /** */ shape": (
        """
        /* Comment
           MyModel */
        model MyModel {
          pk Int @id

            /*
             * Multi-line comment
             * There are several lines here.
             */
          field1 Int /* inline */ @unique
        }
        """,
        """
        /**
         * Comment
         * MyModel
         */
        model MyModel {
          pk Int @id

          /**
           * Multi-line comment
           * There are several lines here.
           */
          field1 Int @unique // inline
        }
        """,
    ),
    "types, Unsupported, and attribute arguments": (
        """
        model Post {
          id Int @id
          required Unsupported("some type")
          optional Unsupported("some \\"type\\"")?
          list Unsupported("some type")[]
          at DateTime @default(now()) @db.Timestamp(6)
          uuid String @default(dbgenerated("gen_random_uuid()"))
          ratio Float @default(-0.50)
          @@index([id(sort: Desc), at], map: "idx", type: BTree)
        }
        """,
        """
        model Post {
          id       Int                           @id
          required Unsupported("some type")
          optional Unsupported("some \\"type\\"")?
          list     Unsupported("some type")[]
          at       DateTime                      @default(now()) @db.Timestamp(6)
          uuid     String                        @default(dbgenerated("gen_random_uuid()"))
          ratio    Float                         @default(-0.50)

          @@index([id(sort: Desc), at], map: "idx", type: BTree)
        }
        """,
    ),
    "strings are re-escaped; numbers stay as written": (
        r"""
        model M {
          a String @default("tab	and \/ slash")
          b String @default("\u00e9\ud83d\ude00 \"q\" \\ \u0001")
          c Float @default(1.50)
          d Int @default(-0)
        }
        """,
        r"""
        model M {
          a String @default("tab\tand / slash")
          b String @default("é😀 \"q\" \\ \u0001")
          c Float  @default(1.50)
          d Int    @default(-0)
        }
        """,
    ),
    "comments after the opening brace, the last item and the closing brace": (
        """
        model M { // opening
          a Int
          // after the last field
        } // closing
        // end of file
        """,
        """
        model M { // opening
          a Int
          // after the last field
          // closing
        }
        // end of file
        """,
    ),
    "multi-line arguments are joined; comments inside them join the trailing comment": (
        """
        model M {
          a Int
          b Int
          @@unique([
            a, // first
            b
          ])
        }
        """,
        """
        model M {
          a Int
          b Int

          @@unique([a, b]) // first
        }
        """,
    ),
}


@pytest.mark.parametrize(("source", "expected"), GOLDEN.values(), ids=GOLDEN.keys())
def test_golden_layout(source: str, expected: str) -> None:
    formatted = format_text(schema(source))
    assert formatted == schema(expected)
    assert format_text(formatted) == formatted


def test_attributes_keep_their_written_order() -> None:
    # Prisma sorts attributes (@id before @default, ...); strata keeps them, so that
    # parse(format(tree)) == tree holds.
    text = "model M {\n  id Int @default(1) @id\n}\n"
    assert format_text(text) == text


def test_crlf_line_endings_are_kept() -> None:
    text = "model M {\r\n  id Int @id // key\r\n  name String\r\n}\r\n"
    assert format_text(text) == "model M {\r\n  id   Int    @id // key\r\n  name String\r\n}\r\n"


def test_empty_schema() -> None:
    assert format_text("") == ""
    assert format_text("\n\n// only a comment\n\n") == "// only a comment\n"


def test_format_text_reports_syntax_errors() -> None:
    with pytest.raises(SchemaError, match="never closed"):
        format_text("model M {\n  a Int\n", "broken.prisma")


# --- Idempotence ---------------------------------------------------------------------------


def parseable_fixtures() -> list[Path]:
    paths = []
    for path in fixtures():
        try:
            parse(path.read_text(encoding="utf-8"))
        except SchemaError:
            continue
        paths.append(path)
    return paths


@pytest.mark.skipif(not fixtures(), reason="../shared fixtures absent")
@pytest.mark.parametrize("path", parseable_fixtures(), ids=lambda p: str(p.relative_to(SHARED)))
def test_formatting_fixtures_is_idempotent_and_keeps_the_tree(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    tree = parse(text, str(path))
    formatted = format_schema(tree)
    assert format_text(formatted) == formatted
    assert parse(formatted) == tree
    # No comment is lost.
    assert formatted.count("//") == text.count("//")


@pytest.mark.parametrize("path", SEED_SCHEMAS, ids=lambda p: p.name)
def test_seed_schemas_are_in_canonical_form(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert format_text(text, str(path)) == text


def test_all_seed_schemas_exist() -> None:
    """The five seed systems on SQLite, the four whose documents run on PostgreSQL in their
    own dialect, and the render manager's PostgreSQL form (the demo's on a server)."""
    assert [p.name for p in SEED_SCHEMAS] == [
        "gpu_marketplace.postgresql.prisma",
        "gpu_marketplace.prisma",
        "medianest.postgresql.prisma",
        "medianest.prisma",
        "music_api.postgresql.prisma",
        "music_api.prisma",
        "render_manager.postgresql.prisma",
        "render_manager.prisma",
        "video_machine.postgresql.prisma",
        "video_machine.prisma",
    ]


# --- parse(format(tree)) == tree, for random trees -------------------------------------------

# Identifiers: ASCII mostly, with the Unicode and hyphenated names Prisma also accepts.
names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True) | st.sampled_from(
    ["lööps", "名前", "client-js", "model", "enum", "true", "Unsupported"]
)
dotted_names = st.lists(names, min_size=1, max_size=3).map(".".join)

# Comment and documentation text: one line, no control characters, no trailing whitespace
# (the parser drops it, as it drops a CRLF file's `\r`).
comment_chars = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
comment_text = st.text(comment_chars, max_size=24).map(str.rstrip)
documentation = st.none() | st.lists(comment_text, min_size=1, max_size=3).map("\n".join)
block_comment_line = (
    st.text(comment_chars, min_size=1, max_size=16)
    .map(str.strip)
    .filter(lambda line: line != "" and "*/" not in line)
)
free_comments = st.lists(
    st.builds(Comment, comment_text, st.just(False), st.booleans())
    | st.builds(
        Comment,
        st.lists(block_comment_line, max_size=3).map("\n".join),
        st.just(True),
        st.booleans(),
    ),
    max_size=3,
).map(tuple)
trailing_comment = st.none() | comment_text

numbers = st.from_regex(r"-?[0-9]{1,4}(\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?", fullmatch=True)
scalars: st.SearchStrategy[Expression] = st.one_of(
    st.builds(StringValue, st.text(max_size=12)),  # any character: quotes, controls, emoji
    st.builds(NumberValue, numbers),
    st.builds(Identifier, dotted_names),
)


def arguments(values: st.SearchStrategy[Expression]) -> st.SearchStrategy[tuple[Argument, ...]]:
    return st.lists(st.builds(Argument, st.none() | names, values), max_size=3).map(tuple)


expressions: st.SearchStrategy[Expression] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.builds(ArrayValue, st.lists(inner, max_size=3).map(tuple)),
        st.builds(FunctionCall, dotted_names, arguments(inner)),
    ),
    max_leaves=6,
)
inline_attributes = st.lists(
    st.builds(Attribute, dotted_names, st.none() | arguments(expressions), st.just(False)),
    max_size=3,
).map(tuple)


def in_block(comments: tuple[Comment, ...], docs: str | None) -> tuple[Comment, ...]:
    """Inside a block, Prisma reads the `///` lines of the last comment run above an item as
    its documentation, even across a blank line; so an undocumented item cannot have a
    `///`-style comment last. Such a tree has no text form: give it a plain comment last."""
    if docs is None and comments and not comments[-1].block and comments[-1].text[:1] == "/":
        return (*comments, Comment("plain"))
    return comments


@st.composite
def block_attributes(draw: st.DrawFn) -> tuple[Attribute, ...]:
    attributes = []
    for _ in range(draw(st.integers(0, 3))):
        docs = draw(documentation)
        attributes.append(
            Attribute(
                draw(dotted_names),
                draw(st.none() | arguments(expressions)),
                True,
                documentation=docs,
                comment=draw(trailing_comment),
                comments=in_block(draw(free_comments), docs),
                blank_line_before=draw(st.booleans()),
            )
        )
    return tuple(attributes)


@st.composite
def field_types(draw: st.DrawFn) -> FieldType:
    unsupported = draw(st.none() | st.text(max_size=8))
    name = "Unsupported" if unsupported is not None else draw(names)
    shape = draw(st.sampled_from(["required", "optional", "list"]))
    return FieldType(name, shape == "optional", shape == "list", unsupported)


@st.composite
def fields(draw: st.DrawFn) -> Field:
    docs = draw(documentation)
    return Field(
        draw(names),
        draw(field_types()),
        draw(inline_attributes),
        docs,
        draw(trailing_comment),
        comments=in_block(draw(free_comments), docs),
        blank_line_before=draw(st.booleans()),
    )


@st.composite
def enum_values(draw: st.DrawFn) -> EnumValue:
    docs = draw(documentation)
    return EnumValue(
        draw(names),
        draw(inline_attributes),
        docs,
        draw(trailing_comment),
        comments=in_block(draw(free_comments), docs),
        blank_line_before=draw(st.booleans()),
    )


@st.composite
def properties(draw: st.DrawFn) -> ConfigProperty:
    docs = draw(documentation)
    return ConfigProperty(
        draw(names),
        draw(expressions),
        documentation=docs,
        comment=draw(trailing_comment),
        comments=in_block(draw(free_comments), docs),
        blank_line_before=draw(st.booleans()),
    )


MODEL_KINDS: tuple[Literal["model", "view", "type"], ...] = ("model", "view", "type")
CONFIG_KINDS: tuple[Literal["datasource", "generator"], ...] = ("datasource", "generator")


@st.composite
def blocks(draw: st.DrawFn) -> Block:
    name = draw(names)
    kind = draw(st.sampled_from(["model", "enum", "config"]))
    docs = draw(documentation)
    comments = draw(free_comments)
    blank = draw(st.booleans())
    comment = draw(trailing_comment)
    end = draw(free_comments)
    if kind == "enum":
        values = tuple(draw(st.lists(enum_values(), max_size=4)))
        attributes = draw(block_attributes())
        return EnumBlock(
            name,
            values,
            attributes,
            docs,
            comments=comments,
            blank_line_before=blank,
            comment=comment,
            end_comments=end,
        )
    if kind == "config":
        props = tuple(draw(st.lists(properties(), max_size=4)))
        return ConfigBlock(
            draw(st.sampled_from(CONFIG_KINDS)),
            name,
            props,
            docs,
            comments=comments,
            blank_line_before=blank,
            comment=comment,
            end_comments=end,
        )
    items = tuple(draw(st.lists(fields(), max_size=5)))
    attributes = draw(block_attributes())
    return ModelBlock(
        draw(st.sampled_from(MODEL_KINDS)),
        name,
        items,
        attributes,
        docs,
        comments=comments,
        blank_line_before=blank,
        comment=comment,
        end_comments=end,
    )


schema_files = st.builds(
    lambda blocks, end: SchemaFile(tuple(blocks), end_comments=end),
    st.lists(blocks(), max_size=4),
    free_comments,
)


@given(schema_files)
def test_parse_gives_back_the_formatted_tree(tree: SchemaFile) -> None:
    text = format_schema(tree)
    assert parse(text) == tree
    assert format_text(text) == text
