"""Phases 2 and 3: names, and what each field's type refers to.

Top-level names, field names and enum values are collected and checked (duplicates, reserved
and malformed identifiers), then each field's type is resolved to a scalar, enum, model or
composite type. Both run before any attribute is read.
"""

from __future__ import annotations

from strata.schema.syntax import ConfigBlock, EnumBlock, Field, ModelBlock, Span
from strata.schema.validate.context import _Context, _Enum, _Field, _FieldKind, _Model
from strata.schema.validate.vocabulary import (
    _RESERVED_TYPE_NAMES,
    _SCALARS,
    _model_error,
    _validation_error,
)

# =============================================================================================
# 2. Names
# =============================================================================================


def _identifier_problem(name: str, item: str) -> str | None:
    """Prisma's rules for a name: not empty, no leading digit, no ``-`` (the parser accepts
    ``-`` inside names because generator names may contain it)."""
    if not name:
        return f"The name of a {item} must not be empty."
    if name[0].isdigit():
        return f"The name of a {item} must not start with a number."
    if "-" in name:
        return f"The character `-` is not allowed in {item} names."
    return None


def _check_identifier(ctx: _Context, name: str, item: str, span: Span) -> None:
    if problem := _identifier_problem(name, item):
        ctx.error(_validation_error(problem), span)


def _collect_names(ctx: _Context) -> None:
    """Register models, views, composite types and enums, reporting clashing names. A block
    whose name is taken is reported and then left out: its contents would only echo the
    first definition's errors."""
    taken: dict[str, str] = {}
    for block in ctx.tree.blocks:
        if isinstance(block, ConfigBlock):
            continue
        kind = "enum" if isinstance(block, EnumBlock) else _block_kind(block)
        _check_identifier(ctx, block.name, kind, block.span)
        if block.name in _SCALARS:
            ctx.error(
                f"{block.name} is a reserved scalar type name and cannot be used.", block.span
            )
        elif block.name in _RESERVED_TYPE_NAMES and kind != "composite type":
            link = "https://pris.ly/d/naming-models"
            ctx.error(
                _model_error(
                    kind,
                    block.name,
                    f"The {kind} name `{block.name}` is invalid. It is a reserved name. Please "
                    f"change it. Read more at {link}",
                ),
                block.span,
            )
        if block.name in taken:
            ctx.error(
                f'The {kind} "{block.name}" cannot be defined because a {taken[block.name]} with '
                "that name already exists.",
                block.span,
            )
            continue
        taken[block.name] = kind
        if isinstance(block, EnumBlock):
            ctx.enums[block.name] = _collect_enum(ctx, block)
        elif block.kind == "type":
            ctx.composite_types[block.name] = _Model(block, table=block.name)
        else:
            ctx.models[block.name] = _Model(block, table=block.name)


def _block_kind(block: ModelBlock) -> str:
    return "composite type" if block.kind == "type" else block.kind


def _collect_enum(ctx: _Context, block: EnumBlock) -> _Enum:
    enum = _Enum(block, db_name=block.name)
    if not block.values:
        ctx.error(_validation_error("An enum must have at least one value."), block.span)
    for value in block.values:
        _check_identifier(ctx, value.name, "enum value", value.span)
        if value.name in enum.value_db_names:
            ctx.error(
                f'Value "{value.name}" is already defined on enum "{block.name}".', value.span
            )
        else:
            enum.value_db_names[value.name] = value.name
    return enum


# =============================================================================================
# 3. Types: what each field's type refers to
# =============================================================================================


def _resolve_field_types(ctx: _Context) -> None:
    for model in [*ctx.models.values(), *ctx.composite_types.values()]:
        for node in model.node.fields:
            _check_identifier(ctx, node.name, "field", node.span)
            if node.name in model.by_name:
                ctx.error(
                    f'Field "{node.name}" is already defined on {model.kind} "{model.name}".',
                    node.span,
                )
                continue
            kind, type_name = _field_type(ctx, model, node)
            resolved = _Field(node, model, kind, type_name, column=node.name)
            model.fields.append(resolved)
            model.by_name[node.name] = resolved


def _field_type(ctx: _Context, model: _Model, node: Field) -> tuple[_FieldKind, str]:
    type_ = node.type
    if type_.unsupported is not None:
        return "unsupported", "Unsupported"
    if type_.name in _SCALARS:
        return "scalar", type_.name
    if type_.name in ctx.enums:
        return "enum", type_.name
    if type_.name in ctx.models:
        if model.node.kind == "type":
            ctx.error(
                f'Error validating composite type "{model.name}": {type_.name} refers to a '
                "model, making this a relation field. Relation fields inside composite types "
                "are not supported.",
                type_.span,
            )
            return "unknown", type_.name
        return "relation", type_.name
    if type_.name in ctx.composite_types:
        return "composite", type_.name
    ctx.error(
        f'Type "{type_.name}" is neither a built-in type, nor refers to another model, '
        "composite type, or enum.",
        type_.span,
    )
    return "unknown", type_.name
