"""Phase 6: relations.

Relation fields are paired the way Prisma pairs them (ambiguous pairs reported), then each
relation is checked by kind (one-to-one, one-to-many, implicit many-to-many) along with its
referential actions.
"""

from __future__ import annotations

from collections import defaultdict

from strata.schema import ir
from strata.schema.syntax import Span
from strata.schema.validate.context import _Context, _Field, _Relation
from strata.schema.validate.database_names import _check_map_length
from strata.schema.validate.vocabulary import (
    _EMULATED_ACTIONS,
    _attribute_error,
    _field_error,
    _model_error,
    _validation_error,
)

# =============================================================================================
# 6. Relations
# =============================================================================================


def _check_relations(ctx: _Context) -> None:
    ctx.relations = _pair_relation_fields(ctx)
    for model in ctx.models.values():
        for field_ in model.relation_fields():
            _check_relation_field(ctx, field_)
    _check_ambiguity(ctx)
    if ctx.ambiguous:
        return  # pairing guessed wrong for ambiguous fields: any further message would mislead
    for relation in ctx.relations:
        if relation.kind in ("one_to_one", "one_to_many"):
            _check_inline_relation(ctx, relation)
            if relation.kind == "one_to_one":
                _check_one_to_one(ctx, relation)
            else:
                _check_one_to_many(ctx, relation)
        elif relation.kind == "many_to_many":
            _check_implicit_many_to_many(ctx, relation)
        else:
            for field_ in relation.fields:
                ctx.error(
                    _validation_error(
                        f"Embedded many-to-many relations are not supported on "
                        f"{ctx.connector.provider}. Please use the syntax defined in "
                        "https://pris.ly/d/relational-database-many-to-many"
                    ),
                    field_.span,
                )


def _relation_name(field_: _Field) -> str:
    """The relation's name: given in ``@relation("...")``, or Prisma's default: the two model
    names, sorted, joined by ``To``."""
    if field_.relation.name:
        return field_.relation.name
    first, second = sorted((field_.model.name, field_.type_name))
    return f"{first}To{second}"


def _pair_relation_fields(ctx: _Context) -> list[_Relation]:
    """Group relation fields into relations, exactly as Prisma does.

    A field's opposite is the first relation field on the related model that points back to
    this model with the same ``@relation`` name (or, for both, none). Each relation is then
    recorded once, from the side Prisma records it from; the rules below mirror Prisma's
    `ingest_relation`, so that "forward" and "back" mean what they mean there.
    """
    by_pair: dict[tuple[str, str], list[_Field]] = defaultdict(list)
    for model in ctx.models.values():
        for field_ in model.relation_fields():
            by_pair[(model.name, field_.type_name)].append(field_)

    def opposite_of(field_: _Field) -> _Field | None:
        for candidate in by_pair[(field_.type_name, field_.model.name)]:
            if candidate is not field_ and candidate.relation.name == field_.relation.name:
                return candidate
        return None

    relations: list[_Relation] = []
    for model in ctx.models.values():
        for field_ in model.relation_fields():
            relation = _ingest_relation(field_, opposite_of(field_))
            if relation is not None:
                relations.append(relation)
    return relations


def _sorts_first(field_: _Field, other: _Field) -> bool:
    """Prisma's tie-break between two sides: by model name, then by field name."""
    return (field_.model.name, field_.name) <= (other.model.name, other.name)


def _ingest_relation(field_: _Field, opposite: _Field | None) -> _Relation | None:
    """The relation seen from ``field_``, or None when it is recorded from the other side."""
    if opposite is None:
        if field_.is_list:
            return _Relation("one_to_many", None, field_)  # the singular side is missing
        # Singular without an opposite: one-to-one if its fields are a unique constraint.
        fields = field_.relation.fields
        unique = fields is not None and any(
            i.kind == "unique" and [c.field for c in i.columns] == fields
            for i in field_.model.indexes
        )
        return _Relation("one_to_one" if unique else "one_to_many", field_, None)
    if field_.is_list and opposite.is_list:
        if not _sorts_first(field_, opposite):
            return None
        embedded = field_.relation.fields is not None or opposite.relation.fields is not None
        return _Relation("embedded_many_to_many" if embedded else "many_to_many", field_, opposite)
    if field_.is_list:
        return None  # one-to-many, recorded from the singular side
    if opposite.is_list:
        return _Relation("one_to_many", field_, opposite)
    # One-to-one. The forward side (holding the foreign key) is the required one; between two
    # optional sides the one with `fields`; otherwise the one that sorts first.
    if field_.required and opposite.optional:
        return _Relation("one_to_one", field_, opposite)
    if field_.optional and opposite.required:
        return None
    if field_.required:  # both required: invalid, reported later
        return _Relation("one_to_one", field_, opposite) if _sorts_first(field_, opposite) else None
    if field_.relation.fields is not None:
        return _Relation("one_to_one", field_, opposite)
    if opposite.relation.fields is None and _sorts_first(field_, opposite):
        return _Relation("one_to_one", field_, opposite)
    return None


def _check_ambiguity(ctx: _Context) -> None:
    """Relation fields on one model that point to the same model need distinct relation names
    (for a self-relation, the two sides share one)."""
    groups: dict[tuple[str, str, str], list[_Field]] = defaultdict(list)
    explicit: dict[tuple[str, str, str], bool] = {}
    for model in ctx.models.values():
        for field_ in model.relation_fields():
            key = (model.name, field_.type_name, _relation_name(field_))
            groups[key].append(field_)
            explicit[key] = field_.relation.name is not None
    for key, fields in groups.items():
        model_name, target, _ = key
        self_relation = model_name == target
        count = len(fields)
        if count < 2 or (self_relation and count == 2 and explicit[key]):
            continue
        names = _join_names([f.name for f in fields])
        if self_relation and not explicit[key] and count == 2:
            message = (
                f"Ambiguous self relation detected. The fields {names} in model `{model_name}` "
                f"both refer to `{target}`. If they are part of the same relation add the same "
                "relation name for them with `@relation(<name>)`."
            )
        elif self_relation and not explicit[key]:
            message = (
                f"Unnamed self relation detected. The fields {names} in model `{model_name}` "
                "have no relation name. Please provide a relation name for one of them by adding "
                "`@relation(<name>)."
            )
        elif self_relation:
            message = (
                f"Wrongly named self relation detected. The fields {names} in model "
                f"`{model_name}` have the same relation name. At most two relation fields can "
                "belong to the same relation and therefore have the same name. Please assign a "
                "different relation name to one of them."
            )
        elif explicit[key]:
            message = (
                f"Wrongly named relation detected. The fields {names} in model `{model_name}` "
                "both use the same relation name. Please provide different relation names for "
                "them through `@relation(<name>)."
            )
        else:
            message = (
                f"Ambiguous relation detected. The fields {names} in model `{model_name}` both "
                f"refer to `{target}`. Please provide different relation names for them by "
                "adding `@relation(<name>)."
            )
        kind = fields[0].model.kind
        ctx.error(_model_error(kind, model_name, message), fields[0].span)
        ctx.ambiguous = True


def _join_names(names: list[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _check_relation_field(ctx: _Context, field_: _Field) -> None:
    """Rules about one relation field on its own: ignored targets, supported referential
    actions, named foreign keys, and the index advice of relationMode = "prisma"."""
    target = ctx.models[field_.type_name]
    model = field_.model
    if target.ignored and not field_.ignored and not model.ignored:
        ctx.error(
            _attribute_error(
                "@ignore",
                f"The relation field `{field_.name}` on Model `{model.name}` must specify the "
                f"`@ignore` attribute, because the model {target.name} it is pointing to is "
                "marked ignored.",
            ),
            field_.span,
        )
    rel = field_.relation
    allowed = _EMULATED_ACTIONS if ctx.relation_mode == "prisma" else tuple(ir.ReferentialAction)
    for setting in (rel.on_delete, rel.on_update):
        if setting is not None and setting[0] not in allowed:
            listed = ", ".join(f"`{a.value}`" for a in allowed)
            ctx.error(
                _validation_error(
                    f"Invalid referential action: `{setting[0].value}`. Allowed values: ({listed})"
                ),
                setting[1],
            )
    if rel.map is not None and rel.attribute is not None:
        if not ctx.connector.named_foreign_keys:
            ctx.error(
                _attribute_error("@relation", "Your provider does not support named foreign keys."),
                rel.attribute.span,
            )
        else:
            _check_map_length(ctx, model, rel.attribute, rel.map)
    if ctx.relation_mode == "prisma" and rel.fields:
        _check_relation_index(ctx, field_)


def _check_relation_index(ctx: _Context, field_: _Field) -> None:
    """With relationMode = "prisma" no foreign key creates an index; Prisma warns unless an
    index, unique constraint or primary key starts with the relation's fields."""
    fields = field_.relation.fields or []
    model = field_.model
    groups = [[c.field for c in i.columns] for i in model.indexes]
    if model.primary_key:
        groups.append([c.field for c in model.primary_key.columns])
    if any(group[: len(fields)] == fields for group in groups):
        return
    span = field_.relation.attribute.span if field_.relation.attribute else field_.span
    ctx.warning(
        'With `relationMode = "prisma"`, no foreign keys are used, so relation fields will not '
        "benefit from the index usually created by the relational database under the hood. This "
        "can lead to poor performance when querying these fields. We recommend adding an index "
        "manually. Learn more at https://pris.ly/d/relation-mode-prisma-indexes",
        span,
    )


def _missing_opposite(ctx: _Context, field_: _Field) -> None:
    model = field_.model
    ctx.error(
        _field_error(
            model.kind,
            model.name,
            field_.name,
            f"The relation field `{field_.name}` on {model.kind} `{model.name}` is missing an "
            f"opposite relation field on the model `{field_.type_name}`. Either run `prisma "
            "format` or add it manually.",
        ),
        field_.span,
    )


def _check_inline_relation(ctx: _Context, relation: _Relation) -> None:
    """Rules for the side holding the foreign key of a one-to-one or one-to-many relation."""
    forward = relation.forward
    if forward is None:
        return
    rel = forward.relation
    fields, references = rel.fields or [], rel.references or []
    if rel.fields is not None and rel.references is not None and len(fields) != len(references):
        ctx.error(
            _validation_error(
                "You must specify the same number of fields in `fields` and `references`."
            ),
            (rel.attribute or forward.node).span,
        )
    if forward.required and any(not f.required for f in fields):
        ctx.error(
            _validation_error(
                f"The relation field `{forward.name}` uses the scalar fields "
                f"{', '.join(f.name for f in fields)}. At least one of those fields is optional. "
                "Hence the relation field must be optional as well."
            ),
            forward.span,
        )
    if references:
        _check_references_unique(ctx, forward, references)
    for referencing, referenced in zip(fields, references, strict=False):
        if (referencing.kind, referencing.type_name, referencing.node.type.unsupported) != (
            referenced.kind,
            referenced.type_name,
            referenced.node.type.unsupported,
        ):
            ctx.error(
                _attribute_error(
                    "@relation",
                    f"The type of the field `{referencing.name}` in the model "
                    f"`{referencing.model.name}` is not matching the type of the referenced field "
                    f"`{referenced.name}` in model `{referenced.model.name}`.",
                ),
                forward.span,
            )
    _check_set_null_on_required(ctx, forward, fields)


def _check_references_unique(ctx: _Context, forward: _Field, references: list[_Field]) -> None:
    target = ctx.models[forward.type_name]
    wanted = sorted(f.name for f in references)
    if any(sorted(f.name for f in c) == wanted for c in target.unique_criteria()):
        return
    names = ", ".join(f.name for f in references)
    if len(references) == 1:
        advice = f"an `@unique` attribute to the field `{names}` in the model `{target.name}`"
    else:
        advice = f"an `@@unique([{names}])` attribute to the model `{target.name}`"
    ctx.error(
        _attribute_error(
            "@relation",
            "The argument `references` must refer to a unique criteria in the related model. "
            f"Consider adding {advice}.",
        ),
        forward.span,
    )


def _check_set_null_on_required(ctx: _Context, forward: _Field, fields: list[_Field]) -> None:
    """``SetNull`` cannot null a required column. PostgreSQL accepts the DDL and fails when
    the action fires, so there (with foreign keys) it is a warning."""
    if not any(f.required for f in fields):
        return
    rel = forward.relation
    warn = ctx.connector.set_null_on_required_is_warning and ctx.relation_mode == "foreignKeys"
    for key, setting in (("onDelete", rel.on_delete), ("onUpdate", rel.on_update)):
        if setting is None or setting[0] is not ir.ReferentialAction.SET_NULL:
            continue
        if warn:
            ctx.warning(
                f"The `{key}` referential action of a relation should not be set to `SetNull` "
                "when a referenced field is required. We recommend either to choose another "
                "referential action, or to make the referenced fields optional. Read more at "
                "https://pris.ly/d/postgres-set-null",
                forward.span,
            )
        else:
            ctx.error(
                _attribute_error(
                    "@relation",
                    f"The `{key}` referential action of a relation must not be set to `SetNull` "
                    "when a referenced field is required.\nEither choose another referential "
                    "action, or make the referenced fields optional.",
                ),
                forward.span,
            )


def _has_actions(field_: _Field) -> bool:
    return field_.relation.on_delete is not None or field_.relation.on_update is not None


def _relation_error(field_: _Field, message: str) -> tuple[str, Span]:
    return _attribute_error("@relation", message), field_.span


def _check_one_to_one(ctx: _Context, relation: _Relation) -> None:
    forward, back = relation.forward, relation.back
    if forward is None:
        return
    if back is None:
        _missing_opposite(ctx, forward)
        _check_one_to_one_fields_unique(ctx, forward)
        return
    f_rel, b_rel = forward.relation, back.relation
    on_forward = f"`{forward.name}` on Model `{forward.model.name}`"
    on_back = f"`{back.name}` on Model `{back.model.name}`"
    pair, reverse = f"{on_forward} and {on_back}", f"{on_back} and {on_forward}"
    for argument, f_value, b_value in (
        ("fields", f_rel.fields, b_rel.fields),
        ("references", f_rel.references, b_rel.references),
    ):
        if not f_value and not b_value:
            for field_, names in ((forward, pair), (back, reverse)):
                ctx.error(
                    *_relation_error(
                        field_,
                        f"The relation fields {names} do not provide the `{argument}` argument in "
                        "the @relation attribute. You have to provide it on one of the two fields.",
                    )
                )
        elif f_value and b_value:
            for field_ in (forward, back):
                ctx.error(
                    *_relation_error(
                        field_,
                        f"The relation fields {pair} both provide the `{argument}` argument in "
                        "the @relation attribute. You have to provide it only on one of the two "
                        "fields.",
                    )
                )
    if _has_actions(forward) and _has_actions(back):
        for field_, names in ((back, reverse), (forward, pair)):
            ctx.error(
                *_relation_error(
                    field_,
                    f"The relation fields {names} both provide the `onDelete` or `onUpdate` "
                    "argument in the @relation attribute. You have to provide it only on one of "
                    "the two fields.",
                )
            )
    elif _has_actions(back):
        ctx.error(
            *_relation_error(
                back,
                f"The relation field `{back.name}` on Model `{back.model.name}` must not specify "
                "the `onDelete` or `onUpdate` argument in the @relation attribute. You must only "
                f"specify it on the opposite field `{forward.name}` on model "
                f"`{forward.model.name}`.",
            )
        )
    _check_one_to_one_fields_unique(ctx, forward)
    if ctx.has_errors():
        return  # Prisma reports these only when the relation is otherwise sound
    if f_rel.fields and b_rel.references:
        for field_ in (forward, back):
            ctx.error(
                *_relation_error(
                    field_,
                    f"The relation field `{forward.name}` on Model `{forward.model.name}` provides "
                    "the `fields` argument in the @relation attribute. And the related field "
                    f"`{back.name}` on Model `{back.model.name}` provides the `references` "
                    "argument. You must provide both arguments on the same side.",
                )
            )
    if f_rel.references and b_rel.fields:
        ctx.error(
            *_relation_error(
                forward,
                f"The relation field `{forward.name}` on Model `{forward.model.name}` provides "
                "the `references` argument in the @relation attribute. And the related field "
                f"`{back.name}` on Model `{back.model.name}` provides the `fields` argument. You "
                "must provide both arguments on the same side.",
            )
        )
    if back.required:
        ctx.error(
            *_relation_error(
                back,
                f"The relation field `{back.name}` on Model `{back.model.name}` is required. This "
                "is not valid because it's not possible to enforce this constraint on the "
                f"database level. Please change the field type from `{forward.model.name}` to "
                f"`{forward.model.name}?` to fix this.",
            )
        )
    elif forward.required and (b_rel.fields is not None or b_rel.references is not None):
        ctx.error(
            *_relation_error(
                back,
                f"The relation field `{back.model.name}.{back.name}` defines the `fields` and/or "
                "`references` argument. You must set them on the required side of the relation "
                f"(`{forward.model.name}.{forward.name}`) in order for the constraints to be "
                "enforced. Alternatively, you can change this field to be required and the "
                "opposite optional, or make both sides of the relation optional.",
            )
        )


def _check_one_to_one_fields_unique(ctx: _Context, forward: _Field) -> None:
    """A one-to-one relation is enforced by a unique constraint on its foreign key."""
    fields = forward.relation.fields
    if not fields:
        return
    wanted = set(fields)
    if any(set(c) == wanted and len(c) == len(fields) for c in forward.model.unique_criteria()):
        return
    names = ", ".join(f.name for f in fields)
    if len(fields) == 1:
        advice = f"Either add an `@unique` attribute to the field `{names}`"
    else:
        advice = f"Either add an `@@unique([{names}])` attribute to the model"
    ctx.error(
        *_relation_error(
            forward,
            "A one-to-one relation must use unique fields on the defining side. "
            f"{advice}, or change the relation to one-to-many.",
        )
    )


def _check_one_to_many(ctx: _Context, relation: _Relation) -> None:
    forward, back = relation.forward, relation.back
    if forward is None or back is None:
        for present in relation.fields:
            _missing_opposite(ctx, present)
        return
    model = forward.model.name
    if not forward.relation.fields:
        ctx.error(
            *_relation_error(
                forward,
                f"The relation field `{forward.name}` on Model `{model}` must specify the "
                "`fields` argument in the @relation attribute. You can run `prisma format` to "
                "fix this automatically.",
            )
        )
    if not forward.relation.references:
        ctx.error(
            *_relation_error(
                forward,
                f"The relation field `{forward.name}` on Model `{model}` must specify the "
                "`references` argument in the @relation attribute.",
            )
        )
    opposite = f"You must only specify it on the opposite field `{forward.name}` on model `{model}`"
    if back.relation.fields or back.relation.references:
        ctx.error(
            *_relation_error(
                back,
                f"The relation field `{back.name}` on Model `{back.model.name}` must not specify "
                f"the `fields` or `references` argument in the @relation attribute. {opposite}.",
            )
        )
    if _has_actions(back):
        ctx.error(
            *_relation_error(
                back,
                f"The relation field `{back.name}` on Model `{back.model.name}` must not specify "
                f"the `onDelete` or `onUpdate` argument in the @relation attribute. {opposite}, "
                "or in case of a many to many relation, in an explicit join table.",
            )
        )


def _check_implicit_many_to_many(ctx: _Context, relation: _Relation) -> None:
    """Both sides lists, no ``fields``: Prisma keeps the pairs in a join table whose two
    columns reference each model's single-field id."""
    sides = relation.fields
    if any(f.model.is_view for f in sides):
        for field_ in sides:
            ctx.error(
                _validation_error("Implicit many-to-many relations are not supported for views."),
                field_.span,
            )
    for field_ in sides:
        target = ctx.models[field_.type_name]
        rel = field_.relation
        if target.primary_key is None or len(target.primary_key.columns) != 1:
            kind = field_.model.kind if field_.model.is_view else target.kind
            ctx.error(
                _field_error(
                    kind,
                    field_.model.name,
                    field_.name,
                    f"The relation field `{field_.name}` on {kind} `{field_.model.name}` "
                    f"references `{target.name}` which does not have an `@id` field. Models "
                    "without `@id` cannot be part of a many to many relation. Use an explicit "
                    "intermediate Model to represent this relationship.",
                ),
                field_.span,
            )
        for setting in (rel.on_delete, rel.on_update):
            if setting is not None:
                ctx.error(
                    _validation_error(
                        "Referential actions on implicit many-to-many relations are not supported"
                    ),
                    setting[1],
                )
        if rel.references is not None:
            ctx.error(
                *_relation_error(
                    field_,
                    "Implicit many-to-many relation should not have references argument defined. "
                    "Either remove it, or change the relation to one-to-many.",
                )
            )
