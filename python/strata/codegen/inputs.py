"""Generated types beyond filters: what ``select``, ``aggregate`` and ``group_by`` return,
what they take, and the nested-write inputs of relation fields."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from strata.schema import ir

__all__ = ["model_outputs", "nested_inputs", "typed_dict"]

_NUMERIC = {"Int", "BigInt", "Float", "Decimal"}
#: What ``_avg`` holds for a field of each numeric type (`strata.client.aggregates`).
_AVERAGE = {"Int": "float", "BigInt": "float", "Float": "float", "Decimal": "decimal.Decimal"}


def typed_dict(name: str, fields: Iterable[tuple[str, str]], total: bool = False) -> str:
    """The functional TypedDict form, which allows keys such as ``not`` and ``in``."""
    body = "".join(f"        {key!r}: {annotation!r},\n" for key, annotation in fields)
    return f"{name} = TypedDict(\n    {name!r},\n    {{\n{body}    }},\n    total={total},\n)\n"


def model_outputs(model: ir.Model, python: Callable[[ir.ScalarField], str]) -> str:
    """``<Model>ScalarFieldName``, ``<Model>Partial`` (a ``select=`` record) and the inputs
    and results of ``aggregate`` and ``group_by``. ``python`` names a field's Python type."""
    n = model.name
    scalars = [f for f in model.scalar_fields if not f.ignored and not f.unsupported]
    relations = [f for f in model.relation_fields if not f.ignored]
    names = ", ".join(repr(f.name) for f in scalars)
    numeric = [f for f in scalars if f.type in _NUMERIC and not f.list]
    ordered = [f for f in scalars if not f.list and f.type not in ("Json", "Bytes")]

    def value(f: ir.ScalarField) -> str:
        return python(f) + (" | None" if f.optional else "")

    partial = [(f.name, value(f)) for f in scalars]
    for rel in relations:
        record = f"{rel.target} | {rel.target}Partial"
        partial.append((rel.name, f"list[{record}]" if rel.list else f"{record}" + " | None"))
    if any(rel.list for rel in relations):
        partial.append(("_count", "dict[str, int]"))
    aggregates = [
        ("_count", f"int | {n}CountAggregateOutput"),
        ("_avg", f"{n}AvgAggregateOutput"),
        ("_sum", f"{n}SumAggregateOutput"),
        ("_min", f"{n}MinMaxAggregateOutput"),
        ("_max", f"{n}MinMaxAggregateOutput"),
    ]
    return "".join(
        [
            f"{n}ScalarFieldName = Literal[{names}]\n" if names else f"{n}ScalarFieldName = str\n",
            typed_dict(f"{n}Partial", partial),
            typed_dict(
                f"{n}CountAggregateInput", [("_all", "bool"), *((f.name, "bool") for f in scalars)]
            ),
            typed_dict(f"{n}NumericAggregateInput", [(f.name, "bool") for f in numeric]),
            typed_dict(f"{n}MinMaxAggregateInput", [(f.name, "bool") for f in ordered]),
            typed_dict(
                f"{n}CountAggregateOutput", [("_all", "int"), *((f.name, "int") for f in scalars)]
            ),
            typed_dict(
                f"{n}AvgAggregateOutput", [(f.name, f"{_AVERAGE[f.type]} | None") for f in numeric]
            ),
            typed_dict(
                f"{n}SumAggregateOutput", [(f.name, f"{python(f)} | None") for f in numeric]
            ),
            typed_dict(
                f"{n}MinMaxAggregateOutput", [(f.name, f"{python(f)} | None") for f in ordered]
            ),
            typed_dict(f"{n}AggregateResult", aggregates),
            typed_dict(f"{n}GroupByResult", [(f.name, value(f)) for f in scalars] + aggregates),
        ]
    )


def nested_inputs(n: str) -> str:
    """The nested writes a relation field pointing at model ``n`` takes, in ``create`` and
    ``update`` data (`strata.client.writes`): to-one (``One``) and to-many (``Many``)."""
    unique = f"{n}WhereUniqueInput"
    create = f"{n}CreateInput"
    coc = f"{n}ConnectOrCreateInput"
    one_create = [("create", create), ("connect", unique), ("connect_or_create", coc)]
    many_create = [
        ("create", f"{create} | list[{create}]"),
        ("connect", f"{unique} | list[{unique}]"),
        ("connect_or_create", f"{coc} | list[{coc}]"),
        ("create_many", f"{n}CreateManyNestedInput"),
    ]
    update_where = f"{n}UpdateWhereUniqueInput"
    update_many = f"{n}UpdateManyWhereInput"
    upsert_where = f"{n}UpsertWhereUniqueInput"
    return "".join(
        [
            typed_dict(coc, [("where", unique), ("create", create)], total=True),
            typed_dict(
                f"{n}CreateManyNestedInput",
                [("data", f"Required[list[{create}]]"), ("skip_duplicates", "bool")],
            ),
            typed_dict(f"{n}CreateNestedOneInput", one_create),
            typed_dict(f"{n}CreateNestedManyInput", many_create),
            typed_dict(update_where, [("where", unique), ("data", f"{n}UpdateInput")], total=True),
            typed_dict(
                update_many, [("where", f"{n}WhereInput"), ("data", f"{n}UpdateInput")], total=True
            ),
            typed_dict(
                f"{n}UpsertNestedInput",
                [("create", create), ("update", f"{n}UpdateInput")],
                total=True,
            ),
            typed_dict(
                upsert_where,
                [("where", unique), ("create", create), ("update", f"{n}UpdateInput")],
                total=True,
            ),
            typed_dict(
                f"{n}UpdateNestedOneInput",
                [
                    *one_create,
                    ("disconnect", "bool"),
                    ("delete", "bool"),
                    ("update", f"{n}UpdateInput"),
                    ("upsert", f"{n}UpsertNestedInput"),
                ],
            ),
            typed_dict(
                f"{n}UpdateNestedManyInput",
                [
                    *many_create,
                    ("set", f"list[{unique}]"),
                    ("disconnect", f"{unique} | list[{unique}]"),
                    ("delete", f"{unique} | list[{unique}]"),
                    ("update", f"{update_where} | list[{update_where}]"),
                    ("update_many", f"{update_many} | list[{update_many}]"),
                    ("delete_many", f"{n}WhereInput | list[{n}WhereInput]"),
                    ("upsert", f"{upsert_where} | list[{upsert_where}]"),
                ],
            ),
        ]
    )
