"""What the client knows about each model, resolved once from the schema IR: its class and
codecs, the columns behind its fields, its unique criteria, and how each relation joins.

Every identifier that reaches SQL comes from here, that is from the validated schema, and
is quoted with the dialect's `quote` (given to `build_meta`); values never do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from strata._compat import StrEnum
from strata.client.datetimes import DateTimeCodec
from strata.client.defaults import generator_for
from strata.client.models import ModelClasses, StrataModel, construct
from strata.dialects.values import Codec, DateTimeFormat
from strata.errors import ValidationError
from strata.schema import ir

if TYPE_CHECKING:
    from strata.client.datetimes import DateTimeColumns
    from strata.dialects.base import Dialect

__all__ = [
    "MissingRule",
    "ModelMeta",
    "RelationLink",
    "RowReader",
    "build_meta",
    "missing_rule",
    "snake_case",
]


def snake_case(name: str) -> str:
    """``MediaRequest`` -> ``media_request``, ``YouTubeDownload`` -> ``you_tube_download``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


@dataclass(frozen=True)
class RelationLink:
    """How a relation field joins its model (the *source*) to the target model.

    ``kind`` is ``"direct"`` when a foreign key links the two tables (``holds_fk`` says
    whether it is on the source's table), or ``"m2m"`` for an implicit many-to-many through
    Prisma's ``_AToB`` join table. For direct links ``source_columns[i]`` on the source
    equals ``target_columns[i]`` on the target.
    """

    name: str
    source: str
    target: str
    many: bool
    optional: bool
    kind: Literal["direct", "m2m"]
    holds_fk: bool
    #: The fields (and their columns) that match: for a direct link the foreign key on one
    #: side and what it references on the other; for m2m each side's id.
    source_fields: tuple[str, ...]
    target_fields: tuple[str, ...]
    source_columns: tuple[str, ...]
    target_columns: tuple[str, ...]
    join_table: str | None = None
    #: The join table's column pointing at the source ("A" or "B"), and at the target.
    join_source: str | None = None
    join_target: str | None = None


class RowReader:
    """Turns result tuples of a fixed column list into decoded dicts, and dicts into
    model instances. Built once per (model, column list) and cached.

    Reading rows is the client's hottest path (a lookup by id must stay within a small
    factor of raw ``sqlite3``), so the function that decodes a row is generated for its
    column list: it unpacks the tuple and builds the dict in one expression, calling a
    decoder only for the columns that have one. The generated text holds only the field
    names (schema identifiers, written with ``repr``) and the decoders' local names.
    """

    __slots__ = ("_relations", "cls", "values")

    def __init__(
        self, cls: type[StrataModel], names: tuple[str, ...], codecs: dict[str, Codec]
    ) -> None:
        self.cls = cls
        self._relations = {
            name: None for name in cls.model_fields if name not in codecs and name not in names
        }
        #: ``values(row) -> dict``: the row's decoded values by field name.
        self.values: Callable[[tuple[Any, ...]], dict[str, Any]] = _compile_reader(
            names, {n: codecs[n].from_sql for n in names if n in codecs}
        )

    def model(self, values: dict[str, Any]) -> StrataModel:
        """A model instance from decoded values; relations not loaded are None."""
        for name in self._relations:
            values.setdefault(name, None)
        return construct(self.cls, values)

    def record(self, row: tuple[Any, ...]) -> StrataModel:
        """A model instance straight from a row, no relations loaded."""
        values = self.values(row)
        values.update(self._relations)
        return construct(self.cls, values)


def _compile_reader(
    names: tuple[str, ...], decoders: dict[str, Callable[[Any], Any] | None]
) -> Callable[[tuple[Any, ...]], dict[str, Any]]:
    namespace: dict[str, Any] = {}
    items = []
    for index, name in enumerate(names):
        decode = decoders.get(name)
        if decode is None:
            items.append(f"{name!r}: v{index}")
        else:
            namespace[f"decode{index}"] = decode
            items.append(f"{name!r}: None if v{index} is None else decode{index}(v{index})")
    unpack = "".join(f"v{index}, " for index in range(len(names)))
    source = f"def values(row):\n    ({unpack}) = row\n    return {{{', '.join(items)}}}\n"
    exec(source, namespace)
    function: Callable[[tuple[Any, ...]], dict[str, Any]] = namespace["values"]
    return function


@dataclass
class ModelMeta:
    model: ir.Model
    cls: type[StrataModel]
    codecs: dict[str, Codec]
    #: Scalar fields the client uses, by name (no @ignore or Unsupported fields).
    scalars: dict[str, ir.ScalarField]
    relations: dict[str, RelationLink]
    #: The primary key's fields.
    primary_key: tuple[str, ...]
    #: Every unique criterion by its ``where`` key: a field name, or for compound keys the
    #: ``name:`` given in the schema or the fields joined by ``_`` (``userId_endpoint``).
    uniques: dict[str, tuple[str, ...]]
    #: Fields whose value the client generates when a create leaves them out.
    generated: dict[str, Callable[[], object]]
    updated_at: tuple[str, ...]
    table_sql: str = ""
    #: Each scalar field's quoted column.
    columns_sql: dict[str, str] = field(default_factory=dict)
    _readers: dict[tuple[str, ...], RowReader] = field(default_factory=dict)

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """Every scalar field, in schema order: what a full record reads."""
        return tuple(self.scalars)

    @cached_property
    def full_reader(self) -> RowReader:
        """The reader of rows holding `columns`."""
        return self.reader(self.columns)

    @property
    def name(self) -> str:
        return self.model.name

    def column(self, name: str) -> str:
        """The quoted column of a scalar field."""
        return self.columns_sql[name]

    def reader(self, names: tuple[str, ...]) -> RowReader:
        reader = self._readers.get(names)
        if reader is None:
            reader = self._readers[names] = RowReader(self.cls, names, self.codecs)
        return reader

    def scalar(self, name: str) -> ir.ScalarField:
        try:
            return self.scalars[name]
        except KeyError:
            raise self.unknown_field(name) from None

    @cached_property
    def record_key(self) -> tuple[str, ...]:
        """The fields that find one row again: the primary key, or else the first unique
        criterion of required fields."""
        for fields in self.uniques.values():
            if all(not self.scalars[f].optional for f in fields):
                return fields
        raise ValidationError(
            f"{self.name} has no primary key or unique criterion of required fields",
            model=self.name,
            expected="a model with an @id",
        )

    def key_where(self, fields: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
        """A unique ``where`` for the row whose ``fields``, a unique criterion, hold
        ``values``: a compound key goes under its name, as `unique_where` expects."""
        if len(fields) == 1:
            return {fields[0]: values[0]}
        name = next(n for n, f in self.uniques.items() if set(f) == set(fields))
        return {name: dict(zip(fields, values, strict=True))}

    def unknown_field(self, name: str, kind: str = "field") -> ValidationError:
        fields = ", ".join([*self.scalars, *self.relations])
        return ValidationError(
            f"{self.name} has no {kind} {name!r} (its fields: {fields})",
            model=self.name,
            field=name,
            expected=f"a {kind} of {self.name}",
        )


def _unique_key(columns: tuple[ir.IndexColumn, ...], name: str | None) -> str:
    return name or "_".join(c.field for c in columns)


def _relation_link(schema: ir.Schema, model: ir.Model, relation: ir.RelationField) -> RelationLink:
    target = schema.model(relation.target)

    def fields(source: tuple[str, ...], target_: tuple[str, ...]) -> dict[str, Any]:
        return {
            "source_fields": source,
            "target_fields": target_,
            "source_columns": tuple(_scalar(model, n).column for n in source),
            "target_columns": tuple(_scalar(target, n).column for n in target_),
        }

    common: dict[str, Any] = {
        "name": relation.name,
        "source": model.name,
        "target": target.name,
        "many": relation.list,
        "optional": relation.optional or relation.list,
    }
    if relation.holds_foreign_key:
        return RelationLink(
            **common,
            kind="direct",
            holds_fk=True,
            **fields(relation.fields, relation.references),
        )
    opposite = next(
        (
            other
            for other in target.relation_fields
            if other.relation_name == relation.relation_name
            and other.target == model.name
            and other.name != relation.name
        ),
        None,
    )
    if opposite is not None and opposite.holds_foreign_key:
        return RelationLink(
            **common,
            kind="direct",
            holds_fk=False,
            **fields(opposite.references, opposite.fields),
        )
    m2m = next(m for m in schema.many_to_many if m.relation_name == relation.relation_name)
    # Column A points at the model whose name sorts first. In a self-relation both sides are
    # the same model; the field whose name sorts first is then taken to be side A.
    if model.name != target.name:
        source_is_a = model.name == m2m.model_a
    else:
        source_is_a = opposite is None or relation.name < opposite.name
    return RelationLink(
        **common,
        kind="m2m",
        holds_fk=False,
        **fields(_id_fields(model), _id_fields(target)),
        join_table=m2m.table,
        join_source="A" if source_is_a else "B",
        join_target="B" if source_is_a else "A",
    )


def _id_fields(model: ir.Model) -> tuple[str, ...]:
    assert model.primary_key is not None
    return tuple(c.field for c in model.primary_key.columns)


def _scalar(model: ir.Model, name: str) -> ir.ScalarField:
    field = model.field(name)
    assert isinstance(field, ir.ScalarField)
    return field


def build_meta(
    schema: ir.Schema,
    classes: ModelClasses,
    datetime_format: DateTimeFormat,
    datetime_columns: DateTimeColumns,
    dialect: Dialect,
) -> dict[str, ModelMeta]:
    """Every model's metadata, its names quoted and its values stored as ``dialect`` does.
    DateTime fields (not lists) get a `DateTimeCodec`, which writes in the form
    ``datetime_columns`` (the handle's detections) finds in the column; ``datetime_format``
    is the form of DateTime lists."""
    quote = dialect.query.quote
    enums: dict[str, tuple[ir.Enum, type[StrEnum]]] = {
        enum.name: (enum, classes.enums[enum.name]) for enum in schema.enums
    }
    metas = {}
    for model in schema.models:
        if model.ignored:
            continue
        codecs = dialect.codecs.build_codecs(model, enums, datetime_format)
        for scalar in model.scalar_fields:
            if scalar.name in codecs and scalar.type == "DateTime" and not scalar.list:
                codecs[scalar.name] = DateTimeCodec(
                    model.name,
                    scalar,
                    quote(model.table),
                    quote(scalar.column),
                    datetime_columns,
                    dialect.codecs,
                    codecs[scalar.name],
                )
        scalars = {f.name: f for f in model.scalar_fields if f.name in codecs}
        uniques: dict[str, tuple[str, ...]] = {}
        if model.primary_key is not None:
            key = model.primary_key
            uniques[_unique_key(key.columns, key.name)] = tuple(c.field for c in key.columns)
        for unique in model.uniques:
            uniques[_unique_key(unique.columns, unique.name)] = tuple(
                c.field for c in unique.columns
            )
        generated = {}
        for scalar in scalars.values():
            if scalar.default is not None:
                generator = generator_for(scalar.default)
                if generator is not None:
                    generated[scalar.name] = generator
        metas[model.name] = ModelMeta(
            model=model,
            cls=classes.models[model.name],
            codecs=codecs,
            scalars=scalars,
            relations={
                r.name: _relation_link(schema, model, r)
                for r in model.relation_fields
                if not r.ignored and schema.model(r.target).ignored is False
            },
            primary_key=_id_fields(model) if model.primary_key else (),
            uniques=uniques,
            generated=generated,
            updated_at=tuple(f.name for f in scalars.values() if f.updated_at),
            table_sql=quote(model.table),
            columns_sql={name: quote(f.column) for name, f in scalars.items()},
        )
    return metas


#: What a new row gets for a field it does not give (see `missing_rule`).
MissingRule = (
    Literal["omit", "required", "now"] | Callable[[], object] | tuple[Literal["value"], Any]
)


def missing_rule(meta: ModelMeta, name: str) -> MissingRule:
    """What a created row gets for the field ``name`` when the data leaves it out:

    * ``"now"``: the current time (``@default(now())`` and ``@updatedAt``);
    * a generator: a client-side default such as cuid or uuid, one value per row;
    * ``("value", v)``: the stored value ``v`` (an empty scalar list);
    * ``"omit"``: nothing; the database applies its default, or NULL;
    * ``"required"``: an error; the field has neither a value nor a default.

    `strata.client.writes.RowEncoder` (``create``) and `strata.client.bulk`
    (``create_many``) both follow it.
    """
    scalar = meta.scalars[name]
    if scalar.updated_at or (scalar.default is not None and scalar.default.kind == "now"):
        return "now"
    if name in meta.generated:
        return meta.generated[name]
    if scalar.list and scalar.default is None:
        return ("value", meta.codecs[name].to_sql([]))
    if scalar.optional or scalar.list or scalar.default is not None:
        return "omit"
    return "required"
