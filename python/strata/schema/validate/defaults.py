"""Phase 4: ``@default``, resolved into an `ir.DefaultValue` or reported.

Literals for each scalar type, enum values, ``dbgenerated(...)`` and the default functions
(``autoincrement()``, ``now()``, ``uuid()``, ``cuid()``, ...) with their arguments.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from strata._compat import fromisoformat
from strata.schema import ir
from strata.schema.syntax import (
    ArrayValue,
    Expression,
    FunctionCall,
    Identifier,
    NumberValue,
    Span,
    StringValue,
)
from strata.schema.validate.context import _Context, _Enum, _Field
from strata.schema.validate.expressions import _integer, _render
from strata.schema.validate.vocabulary import _attribute_error

# --- defaults ------------------------------------------------------------------------------
#
# Every problem with a default is reported at the expression at fault (the literal, the list
# item or the function call), under Prisma's `Error parsing attribute "@default"` prefix.


def _default_error(ctx: _Context, message: str, span: Span) -> None:
    ctx.error(_attribute_error("@default", message), span)


_ArgumentCheck = Callable[[_Context, FunctionCall], tuple[object, ...] | None]


@dataclass(frozen=True)
class _DefaultFunction:
    """A function in ``@default(...)``: the `ir.DefaultValue` kind it makes, the scalar
    types it applies to, and how its arguments are checked (None: it takes none)."""

    kind: Literal["autoincrement", "now", "cuid", "uuid", "nanoid", "ulid"]
    types: frozenset[str]
    check_args: _ArgumentCheck | None = None


def _integer_choice_args(name: str, allowed: Callable[[int], bool], choice: str) -> _ArgumentCheck:
    """Arguments of ``uuid(4|7)``, ``cuid(1|2)``, ``nanoid(2..255)``: none, or one integer."""

    def check(ctx: _Context, call: FunctionCall) -> tuple[object, ...] | None:
        if not call.arguments:
            return ()
        arg = call.arguments[0]
        value = arg.value
        if len(call.arguments) > 1 or arg.name is not None or not isinstance(value, NumberValue):
            _default_error(ctx, f"`{name}()` takes a single Int argument.", call.span)
            return None
        number = _integer(value)
        if number is None or not allowed(number):
            _default_error(
                ctx,
                f"`{name}()` takes either no argument, or a single integer argument {choice}.",
                call.span,
            )
            return None
        return (number,)

    return check


_STRING = frozenset({"String"})
_DEFAULT_FUNCTIONS: Mapping[str, _DefaultFunction] = {
    "autoincrement": _DefaultFunction("autoincrement", frozenset({"Int", "BigInt"})),
    "now": _DefaultFunction("now", frozenset({"DateTime"})),
    "cuid": _DefaultFunction(
        "cuid",
        _STRING,
        _integer_choice_args("cuid", lambda v: v in (1, 2), "which is either 1 or 2"),
    ),
    "uuid": _DefaultFunction(
        "uuid",
        _STRING,
        _integer_choice_args("uuid", lambda v: v in (4, 7), "which is either 4 or 7"),
    ),
    "nanoid": _DefaultFunction(
        "nanoid",
        _STRING,
        _integer_choice_args("nanoid", lambda v: 2 <= v <= 255, "between 2 and 255"),
    ),
    "ulid": _DefaultFunction("ulid", _STRING),
}


def _resolve_default(ctx: _Context, field_: _Field, value: Expression) -> ir.DefaultValue | None:
    """The default as an `ir.DefaultValue`, or None after reporting why it is invalid."""
    if isinstance(value, FunctionCall) and value.name == "dbgenerated":
        return _dbgenerated_default(ctx, value)  # any type: the database computes it
    if field_.kind == "composite":
        _default_error(
            ctx,
            "Defaults on fields of type composite are not supported. Please remove the "
            "`@default` attribute.",
            value.span,
        )
        return None
    if field_.kind == "unsupported":
        _default_error(
            ctx, 'Only @default(dbgenerated("...")) can be used for Unsupported types.', value.span
        )
        return None
    if isinstance(value, FunctionCall):
        return _function_default(ctx, field_, value)

    def literal(item: Expression) -> object:
        if field_.kind == "enum":
            return _enum_literal(ctx, ctx.enums[field_.type_name], item)
        return _scalar_literal(ctx, field_.type_name, item)

    if field_.is_list:
        if not isinstance(value, ArrayValue):
            _default_error(ctx, "The default value of a list field must be a list.", value.span)
            return None
        items = [literal(item) for item in value.items]
        return None if _INVALID in items else ir.DefaultValue("value", tuple(items))
    if isinstance(value, ArrayValue):
        _default_error(ctx, "The default value of a non-list field cannot be a list.", value.span)
        return None
    single = literal(value)
    return None if single is _INVALID else ir.DefaultValue("value", single)


def _dbgenerated_default(ctx: _Context, call: FunctionCall) -> ir.DefaultValue | None:
    """``dbgenerated("SQL")``: an expression the database evaluates; ``dbgenerated()`` says
    the database has a default the schema does not spell out."""
    args = call.arguments
    if not args:
        return ir.DefaultValue("dbgenerated")
    if len(args) > 1 or not isinstance(args[0].value, StringValue):
        _default_error(ctx, "`dbgenerated()` takes a single String argument", call.span)
        return None
    if not args[0].value.value:
        _default_error(
            ctx,
            "dbgenerated() takes either no argument, or a single nonempty string argument.",
            call.span,
        )
        return None
    return ir.DefaultValue("dbgenerated", args[0].value.value)


def _function_default(ctx: _Context, field_: _Field, call: FunctionCall) -> ir.DefaultValue | None:
    if call.name == "auto":  # MongoDB's ObjectId generator
        _default_error(
            ctx, "The current connector does not support the `auto()` function.", call.span
        )
        return None
    spec = _DEFAULT_FUNCTIONS.get(call.name)
    if spec is None:
        _default_error(
            ctx,
            f"Unknown function in @default(): `{call.name}` is not known. You can read about the "
            "available functions here: https://pris.ly/d/attribute-functions",
            call.span,
        )
        return None
    if field_.kind != "scalar" or field_.type_name not in spec.types:
        _default_error(
            ctx,
            f"The function `{call.name}()` cannot be used on fields of type `{field_.type_name}`.",
            call.span,
        )
        return None
    if spec.check_args is not None:
        arguments = spec.check_args(ctx, call)
    elif call.arguments:
        _default_error(
            ctx,
            f"The `{call.name}` function does not take any argument. Consider changing this "
            f"default to `{call.name}()`.",
            call.span,
        )
        arguments = None
    else:
        arguments = ()
    return None if arguments is None else ir.DefaultValue(spec.kind, arguments=arguments)


_INVALID = object()  # a literal that failed its check (None is a valid Python value elsewhere)

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _enum_literal(ctx: _Context, enum: _Enum, value: Expression) -> object:
    """An enum value's Prisma name, or `_INVALID` after reporting."""
    if not isinstance(value, Identifier):
        _default_error(ctx, f"Expected an enum value, but found `{_render(value)}`.", value.span)
        return _INVALID
    if value.name not in enum.value_db_names:
        _default_error(
            ctx,
            f"The defined default value `{value.name}` is not a valid value of the enum "
            "specified for the field.",
            value.span,
        )
        return _INVALID
    return value.name


def _scalar_literal(ctx: _Context, type_name: str, value: Expression) -> object:
    """A literal default as Python, or `_INVALID` after reporting."""

    def fail(message: str) -> object:
        _default_error(ctx, message, value.span)
        return _INVALID

    if isinstance(value, StringValue):
        text = value.value
        if type_name == "String":
            return text
        if type_name == "Json":
            try:
                json.loads(text)
            except ValueError as error:
                return fail(f'Parse error: "{text}" is not a valid JSON string. ({error})')
            return text
        if type_name == "DateTime":
            if not _RFC3339.fullmatch(text) or not _parses_as_datetime(text):
                return fail(f'Parse error: "{text}" is not a valid rfc3339 datetime string.')
            return text
        if type_name == "Bytes":
            try:
                return base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError) as error:
                return fail(f'Parse error: "{text}" is not a valid base64 string. ({error})')
        if type_name == "Decimal":
            try:
                return decimal.Decimal(text)
            except decimal.InvalidOperation:
                return fail(f'Parse error: "{text}" is not a valid decimal.')
    elif isinstance(value, NumberValue):
        if type_name in ("Int", "BigInt"):
            number = _integer(value)
            if number is None or not -(2**63) <= number < 2**63:
                return fail(f'Parse error: "{value.text}" is not a valid integer.')
            return number
        if type_name == "Float":
            return float(value.text)
        if type_name == "Decimal":
            try:
                return decimal.Decimal(value.text)
            except decimal.InvalidOperation:  # an exponent beyond Decimal's range
                return fail(f'Parse error: "{value.text}" is not a valid decimal.')
    elif isinstance(value, Identifier) and type_name == "Boolean":
        if value.name not in ("true", "false"):
            return fail("A boolean literal must be `true` or `false`.")
        return value.name == "true"
    return fail(f"Expected a {type_name} value, but found `{_render(value)}`.")


def _parses_as_datetime(text: str) -> bool:
    try:
        fromisoformat(text.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return False
    return True
