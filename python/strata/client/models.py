"""Pydantic classes for the schema's models and `StrEnum` classes for its enums, built at
run time from the IR (there is no generated code).

Field types: String `str`, Boolean `bool`, Int and BigInt `int`, Float `float`, Decimal
`decimal.Decimal`, DateTime an aware `datetime` (UTC when read), Json any JSON value, Bytes
`bytes`, an enum its class, a scalar list a `list`. Optional fields default to None.
Relation fields are attributes too, None unless the query asked for them with ``include``.

Records read from the database are built with `construct`, which skips validation: the
values were just decoded by the codecs, and validating them again would double the cost of a
lookup. Pydantic validation still applies when users build instances themselves.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import pydantic
from pydantic import AwareDatetime, BaseModel, ConfigDict, JsonValue

from strata._compat import StrEnum
from strata.schema import ir

__all__ = ["ModelClasses", "build_models", "construct"]

_PYTHON_TYPES: dict[str, Any] = {
    "String": str,
    "Boolean": bool,
    "Int": int,
    "BigInt": int,
    "Float": float,
    "Decimal": Decimal,
    "DateTime": AwareDatetime,
    "Json": JsonValue,
    "Bytes": bytes,
}

_CONFIG = ConfigDict(
    # Prisma field names such as `model_id` are ordinary names here.
    protected_namespaces=(),
    arbitrary_types_allowed=True,
)


class StrataModel(BaseModel):
    """The base of every generated model class."""

    model_config = _CONFIG


@dataclass(frozen=True)
class ModelClasses:
    """The classes built for one schema: ``models["User"]``, ``enums["Role"]``."""

    models: dict[str, type[StrataModel]]
    enums: dict[str, type[StrEnum]]


def build_enum(enum: ir.Enum) -> type[StrEnum]:
    """Members are named and valued by the Prisma name (``Role.ADMIN == "ADMIN"``), as in
    Prisma Client; the codec maps them to and from the database name (``@map``)."""
    members = [(value.name, value.name) for value in enum.values]
    # Enum's functional API, which typeshed types as str's constructor on 3.10 (the class
    # there is strata._compat's) and as returning a member on 3.11.
    created: Any = StrEnum(enum.name, members)  # type: ignore[call-overload, unused-ignore]
    return cast("type[StrEnum]", created)


def _annotation(field: ir.ScalarField, enums: dict[str, type[StrEnum]]) -> Any:
    base: Any = enums[field.type] if field.is_enum else _PYTHON_TYPES[field.type]
    if field.list:
        base = list[base]
    return base | None if field.optional else base


def build_models(schema: ir.Schema) -> ModelClasses:
    enums = {enum.name: build_enum(enum) for enum in schema.enums}
    classes: dict[str, type[StrataModel]] = {}
    for model in schema.models:
        if model.ignored:
            continue
        definitions: dict[str, Any] = {}
        for field in model.fields:
            if field.ignored:
                continue
            if isinstance(field, ir.ScalarField):
                if field.unsupported is not None:
                    continue
                annotation = _annotation(field, enums)
                definitions[field.name] = (annotation, None) if field.optional else annotation
            else:
                # A forward reference by name: the target class may not exist yet.
                target = f"list[{field.target}]" if field.list else field.target
                definitions[field.name] = (f"{target} | None", None)
        with warnings.catch_warnings():
            # A field called e.g. `schema` shadows a deprecated BaseModel method; harmless.
            warnings.simplefilter("ignore", UserWarning)
            classes[model.name] = pydantic.create_model(
                model.name,
                __base__=StrataModel,
                __module__=__name__,
                __doc__=model.documentation,
                **definitions,
            )
    namespace: dict[str, Any] = {**classes, **enums, "datetime": datetime}
    for cls in classes.values():
        cls.model_rebuild(_types_namespace=namespace)
    return ModelClasses(classes, enums)


_set = object.__setattr__


def construct(cls: type[StrataModel], values: dict[str, Any]) -> StrataModel:
    """An instance holding ``values`` as they are, without validation.

    This is what `BaseModel.model_construct` does once defaults are applied, without its
    per-field loop: the decoded row already has every field (relation fields set to None
    or to what ``include`` loaded). The four attributes set are pydantic's documented
    instance state.
    """
    instance = cls.__new__(cls)
    _set(instance, "__dict__", values)
    _set(instance, "__pydantic_fields_set__", set(values))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance
