"""Phase 4: native type attributes (``@db.VarChar(255)`` and the like).

Each is checked against the provider's constructors, the field's scalar type and the ranges of
its arguments.
"""

from __future__ import annotations

from strata.schema.syntax import Argument, Attribute
from strata.schema.validate.context import _Context, _Field
from strata.schema.validate.expressions import _integer, _render

# --- native types --------------------------------------------------------------------------


def _read_native_type(ctx: _Context, field_: _Field, attribute: Attribute) -> None:
    """``@db.VarChar(255)``: the prefix names the datasource; the type must exist for the
    provider, take that many arguments and suit the field's scalar type."""
    prefix, type_name = attribute.name.split(".", 1)
    ds = ctx.datasource
    if ds is None:
        ctx.error(
            f"Native type {type_name} needs a datasource: there is no datasource block named "
            f"`{prefix}`.",
            attribute.span,
        )
        return
    if prefix != ds.name:
        ctx.error(
            f"The prefix {prefix} is invalid. It must be equal to the name of an existing "
            f"datasource e.g. {ds.name}. Did you mean to use {ds.name}.{type_name}?",
            attribute.span,
        )
    spec = ctx.connector.native_types.get(type_name)
    if spec is None:
        ctx.error(
            f"Native type {type_name} is not supported for {ctx.connector.provider} connector.",
            attribute.span,
        )
        return
    args = list(attribute.arguments or ())
    given = len(args)
    if given < spec.required_args or (given > spec.required_args and not spec.optional_args):
        ctx.error(
            f"Native type {type_name} takes {spec.required_args} arguments, but received {given}.",
            attribute.span,
        )
        return
    if given > spec.required_args + spec.optional_args or (type_name == "Decimal" and given == 1):
        ctx.error(
            f"Native type {type_name} takes {spec.optional_args} optional arguments, but "
            f"received {given}.",
            attribute.span,
        )
        return
    if field_.type_name != spec.scalar:
        ctx.error(
            f"Native type {type_name} is not compatible with declared field type "
            f"{field_.type_name}, expected field type {spec.scalar}.",
            attribute.span,
        )
        return
    values = _native_type_arguments(ctx, attribute, args)
    if values is None:
        return
    field_.native_type = (type_name, tuple(str(v) for v in values))
    _check_native_type_ranges(ctx, attribute, type_name, values)


def _native_type_arguments(
    ctx: _Context, attribute: Attribute, args: list[Argument]
) -> list[int] | None:
    values = []
    for arg in args:
        number = _integer(arg.value)
        if arg.name is not None or number is None:
            rendered = ", ".join(_render(a.value) for a in args)
            ctx.error(f"Expected a nonnegative integer, but found ({rendered}).", attribute.span)
            return None
        values.append(number)
    if any(v < 0 for v in values):
        rendered = ", ".join(str(v) for v in values)
        ctx.error(f"Expected a nonnegative integer, but found ({rendered}).", attribute.span)
        return None
    return values


def _check_native_type_ranges(
    ctx: _Context, attribute: Attribute, type_name: str, values: list[int]
) -> None:
    prefix = f"Argument M is out of range for native type `{type_name}`"
    if type_name == "Decimal" and values:
        precision, scale = values
        if scale > precision:
            ctx.error(
                f"The scale must not be larger than the precision for the {type_name} native "
                f"type in Postgres.",
                attribute.span,
            )
        elif precision == 0 or precision > 1000:
            ctx.error(
                f"{prefix}: Precision must be positive with a maximum value of 1000.",
                attribute.span,
            )
    elif type_name in ("Bit", "VarBit") and values == [0]:
        ctx.error(f"{prefix}: M must be a positive integer.", attribute.span)
    elif type_name in ("Timestamp", "Timestamptz", "Time", "Timetz") and values and values[0] > 6:
        ctx.error(f"{prefix}: M can range from 0 to 6.", attribute.span)
