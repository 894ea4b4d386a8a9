"""Attribute and property values: describing, rendering and coercing them.

How an expression is named and printed in messages, the coercions that report a mismatch
(`_expect_string`, `_expect_int`, `_expect_list`, ...), and `_Args`, which checks an
attribute's arguments. Configuration, attributes, indexes, native types and defaults all read
values this way, so it sits below them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

from strata.schema.syntax import (
    Argument,
    ArrayValue,
    Attribute,
    Expression,
    FunctionCall,
    Identifier,
    NumberValue,
    StringValue,
)
from strata.schema.validate.context import _Context
from strata.schema.validate.vocabulary import _attribute_error, _label

# =============================================================================================
# Expressions: describing, rendering and coercing attribute and property values
# =============================================================================================

_T = TypeVar("_T")


def _value_kind(expr: Expression) -> str:
    if isinstance(expr, StringValue):
        return "string"
    if isinstance(expr, NumberValue):
        return "numeric"
    if isinstance(expr, Identifier):
        return "literal"
    if isinstance(expr, ArrayValue):
        return "array"
    return "functional"


def _render(expr: Expression) -> str:
    """The expression as it would be written in a schema."""
    if isinstance(expr, StringValue):
        return json.dumps(expr.value, ensure_ascii=False)
    if isinstance(expr, NumberValue):
        return expr.text
    if isinstance(expr, Identifier):
        return expr.name
    if isinstance(expr, ArrayValue):
        return "[" + ", ".join(_render(item) for item in expr.items) + "]"
    arguments = ", ".join(
        (f"{a.name}: " if a.name else "") + _render(a.value) for a in expr.arguments
    )
    return f"{expr.name}({arguments})"


def _mismatch(ctx: _Context, expected: str, expr: Expression) -> None:
    ctx.error(
        f"Expected {expected} value, but received {_value_kind(expr)} value `{_render(expr)}`.",
        expr.span,
    )


def _expect_string(ctx: _Context, expr: Expression) -> str | None:
    if isinstance(expr, StringValue):
        return expr.value
    _mismatch(ctx, "a string", expr)
    return None


def _expect_constant(ctx: _Context, expr: Expression) -> str | None:
    """A bare name: a field name, ``Desc``, ``Cascade``."""
    if isinstance(expr, Identifier):
        return expr.name
    _mismatch(ctx, "a constant", expr)
    return None


def _integer(expr: Expression) -> int | None:
    """The value of an integer literal, or None for anything else. Python refuses to convert
    more than 4,300 digits; nothing in a schema takes an integer that long, so such a
    literal counts as no integer."""
    if not (isinstance(expr, NumberValue) and expr.is_integer):
        return None
    try:
        return int(expr.text)
    except ValueError:
        return None


def _expect_int(ctx: _Context, expr: Expression) -> int | None:
    if (number := _integer(expr)) is not None:
        return number
    _mismatch(ctx, "an integer", expr)
    return None


def _expect_bool(ctx: _Context, expr: Expression) -> bool | None:
    if isinstance(expr, Identifier) and expr.name in ("true", "false"):
        return expr.name == "true"
    _mismatch(ctx, "a boolean", expr)
    return None


def _items(expr: Expression) -> tuple[Expression, ...]:
    """The items of a list; Prisma also accepts a single value where a list is expected."""
    return expr.items if isinstance(expr, ArrayValue) else (expr,)


def _expect_list(
    ctx: _Context, expr: Expression, item: Callable[[_Context, Expression], _T | None]
) -> list[_T] | None:
    """Every item coerced by ``item``; None (after reporting) if any item is wrong."""
    values = [item(ctx, value) for value in _items(expr)]
    if any(value is None for value in values):
        return None
    return [value for value in values if value is not None]


def _string_or_env(ctx: _Context, expr: Expression) -> str | None:
    """A url or provider: a string literal, or ``env("NAME")`` returned as ``"env:NAME"``."""
    if isinstance(expr, StringValue):
        return expr.value
    if isinstance(expr, FunctionCall) and expr.name == "env":
        args = expr.arguments
        if len(args) == 1 and isinstance(args[0].value, StringValue):
            if args[0].name is not None:
                ctx.warning("The env function doesn't expect named arguments", expr.span)
            return "env:" + args[0].value.value
        ctx.error("The env function expects a singular, unnamed, string argument.", expr.span)
        return None
    _mismatch(ctx, 'a string or env("...")', expr)
    return None


class _Args:
    """The arguments of one attribute, taken by name as the attribute's reader asks for them.

    Prisma's conventions: an attribute takes at most one unnamed argument, which stands for
    its first parameter (``@map("x")`` is ``@map(name: "x")``), and an argument the reader
    never asks for is one the attribute does not know: `finish` reports those.
    """

    def __init__(self, ctx: _Context, attribute: Attribute) -> None:
        self.ctx = ctx
        self.attribute = attribute
        self.named: dict[str, Argument] = {}
        self.unnamed: Argument | None = None
        extra_unnamed: list[Argument] = []
        for arg in attribute.arguments or ():
            if arg.name is None:
                if self.unnamed is None:
                    self.unnamed = arg
                else:
                    extra_unnamed.append(arg)
            elif arg.name in self.named:
                ctx.error(
                    _attribute_error(attribute, f'The argument "{arg.name}" is given twice.'),
                    arg.span,
                )
            else:
                self.named[arg.name] = arg
        if extra_unnamed and self.unnamed is not None:
            values = ", ".join(_render(a.value) for a in [self.unnamed, *extra_unnamed])
            ctx.error(
                _attribute_error(
                    attribute,
                    "You provided multiple unnamed arguments. This is not possible. Did you "
                    f"forget the brackets? Did you mean `[{values}]`?",
                ),
                attribute.span,
            )

    def default(self, name: str, *, required: bool = True) -> Expression | None:
        """The argument called ``name``, or else the unnamed one."""
        named, unnamed = self.named.pop(name, None), self.unnamed
        self.unnamed = None
        if named is not None and unnamed is not None:
            self.ctx.error(
                _attribute_error(
                    self.attribute, f'The argument "{name}" is given both by name and unnamed.'
                ),
                unnamed.span,
            )
        arg = named or unnamed
        if arg is None:
            if required:
                self.ctx.error(
                    f'Argument "{name}" is missing in attribute "{_label(self.attribute)}".',
                    self.attribute.span,
                )
            return None
        return arg.value

    def optional(self, name: str) -> Expression | None:
        arg = self.named.pop(name, None)
        return None if arg is None else arg.value

    def discard(self) -> None:
        """Forget the remaining arguments: the attribute itself is already an error."""
        self.named.clear()
        self.unnamed = None

    def finish(self) -> None:
        for arg in self.named.values():
            self.ctx.error(
                _attribute_error(self.attribute, f"The argument `{arg.name}` is not known."),
                arg.span,
            )
        if self.unnamed is not None:
            self.ctx.error(
                _attribute_error(self.attribute, "This attribute takes no unnamed argument."),
                self.unnamed.span,
            )
        self.discard()
