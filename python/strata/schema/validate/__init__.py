"""Validation: Prisma's rules for a parsed schema, and its resolution into the IR.

`validate(tree)` checks a `SchemaFile` the way Prisma 5 to 7 check it for the sqlite and
postgresql providers (and for a file without a datasource, which strata treats as SQLite,
its default), reports every problem in the file at the node it concerns, and raises one
`SchemaError` listing them all. A valid file comes back as the resolved `ir.Schema`.

The work runs in phases, in this order, each in the modules of this package named here:

1. configuration: the datasource (provider, urls, relationMode, schemas, extensions) and the
   generators (provider, preview features) (`configuration`);
2. names: top-level names, field names, enum values, reserved and malformed identifiers
   (`names`);
3. types: what each field's type refers to (scalar, enum, model, composite type) (`names`);
4. attributes: every ``@``/``@@`` attribute is checked for its arguments and read into
   working records (primary keys, indexes, defaults, relation arguments, native types)
   (`attributes`, `indexes`, `native_types`, `defaults`);
5. models: primary keys, unique criteria, indexes, defaults, autoincrement, native types,
   database names and constraint-name clashes, multi-schema, views (`models`, `indexes`,
   `database_names`);
6. relations: relation fields are paired the way Prisma pairs them, then checked by kind
   (one-to-one, one-to-many, implicit many-to-many) along with referential actions
   (`relations`);
7. resolution: the IR, with database names, Prisma's constraint names and the effective
   referential actions (`resolution`).

Beneath the phases: `vocabulary` (what each provider supports, Prisma's message shapes),
`context` (the working records and the context the phases share) and `expressions` (reading
attribute and property values). Each module imports only the ones below it.

No check assumes that an earlier one passed: each skips only what it cannot judge (a field
whose type is unknown, say), so one run reports everything it can. Messages reuse Prisma's
wording, prefixes included (``Error parsing attribute "@relation": ...``), so users can
search for them. Where strata knowingly departs from Prisma the code says so: look for
"strata:" in the comments.
"""

from __future__ import annotations

from strata.schema import ir
from strata.schema.syntax import SchemaFile
from strata.schema.validate.attributes import _read_enum_attributes, _read_model_attributes
from strata.schema.validate.configuration import _read_configuration
from strata.schema.validate.context import _Context
from strata.schema.validate.models import _check_models
from strata.schema.validate.names import _collect_names, _resolve_field_types
from strata.schema.validate.relations import _check_relations
from strata.schema.validate.resolution import _build_schema

__all__ = ["validate"]


def validate(tree: SchemaFile) -> ir.Schema:
    """Check ``tree`` against Prisma's rules and resolve it.

    Raises `SchemaError` listing every problem found, each with its line, column and a caret
    excerpt. Warnings do not stop validation; they are returned in ``Schema.warnings``.
    """
    ctx = _Context(tree)
    _read_configuration(ctx)
    _collect_names(ctx)
    _resolve_field_types(ctx)
    for model in ctx.models.values():  # composite types are rejected whole: see _check_models
        _read_model_attributes(ctx, model)
    for enum in ctx.enums.values():
        _read_enum_attributes(ctx, enum)
    _check_models(ctx)
    _check_relations(ctx)
    ctx.diag.raise_if_errors()
    return _build_schema(ctx)
