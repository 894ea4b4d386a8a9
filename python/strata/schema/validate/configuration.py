"""Phase 1: the datasource and generator blocks.

The datasource's provider, urls, relationMode, schemas and extensions, and each generator's
provider and preview features. This runs first: the provider chosen here decides what later
phases accept.
"""

from __future__ import annotations

from strata.schema import ir
from strata.schema.syntax import (
    ConfigBlock,
    ConfigProperty,
    Expression,
    FunctionCall,
    Identifier,
    Span,
    StringValue,
)
from strata.schema.validate.context import _Context, _Datasource
from strata.schema.validate.expressions import (
    _expect_list,
    _expect_string,
    _items,
    _mismatch,
    _string_or_env,
)
from strata.schema.validate.names import _identifier_problem
from strata.schema.validate.vocabulary import (
    _CONNECTORS,
    _DEPRECATED_PREVIEW_FEATURES,
    _OTHER_PRISMA_PROVIDERS,
    _POSTGRES_PREVIEW_FEATURES,
    _PREVIEW_FEATURES,
    _Connector,
    _validation_error,
)

# =============================================================================================
# 1. Configuration: datasource and generators
# =============================================================================================


def _read_configuration(ctx: _Context) -> None:
    for block in ctx.tree.blocks:
        if isinstance(block, ConfigBlock):
            _check_duplicate_properties(ctx, block)
    _read_datasource(ctx)
    _read_generators(ctx)
    _check_extensions_preview_feature(ctx)


def _check_duplicate_properties(ctx: _Context, block: ConfigBlock) -> None:
    seen: set[str] = set()
    for prop in block.properties:
        if prop.name in seen:
            ctx.error(
                f'Key "{prop.name}" is already defined in {block.kind} "{block.name}".', prop.span
            )
        seen.add(prop.name)


def _first_properties(block: ConfigBlock) -> dict[str, ConfigProperty]:
    """Properties by name; the first wins (a repeated key is reported on its own)."""
    props: dict[str, ConfigProperty] = {}
    for prop in block.properties:
        props.setdefault(prop.name, prop)
    return props


def _read_datasource(ctx: _Context) -> None:
    blocks = ctx.tree.datasources()
    if len(blocks) > 1:
        for block in blocks:
            ctx.error(
                f"Error validating datasource `{block.name}`: You defined more than one "
                "datasource. This is not allowed yet because support for multiple databases "
                "has not been implemented yet.",
                block.span,
            )
    if not blocks:
        return  # strata: a file without a datasource is checked with SQLite's rules
    block = blocks[0]
    props = _first_properties(block)
    connector = _read_provider(ctx, block, props.pop("provider", None))
    if connector is None:
        return  # the other properties depend on the provider
    ds = _Datasource(block, connector)
    ctx.connector = connector
    ctx.datasource = ds
    _read_urls(ctx, ds, props)
    _read_relation_mode(ctx, ds, props)
    if (prop := props.pop("schemas", None)) is not None:
        _read_schemas_property(ctx, ds, prop)
    if connector.provider == "postgresql" and (prop := props.pop("extensions", None)):
        ds.extensions_span = prop.span
        ds.extensions = _read_extensions(ctx, prop.value)
    if (prop := props.pop("previewFeatures", None)) is not None:
        ctx.error(
            "Preview features are only supported in the generator block. Please move this "
            "field to the generator block.",
            prop.span,
        )
    for prop in props.values():
        ctx.error(f'Property not known: "{prop.name}".', prop.span)


def _read_provider(
    ctx: _Context, block: ConfigBlock, prop: ConfigProperty | None
) -> _Connector | None:
    if prop is None:
        ctx.error(
            f'Argument "provider" is missing in data source block "{block.name}".', block.span
        )
        return None
    value = prop.value
    where = f"Error validating datasource `{block.name}`: "
    if isinstance(value, FunctionCall) and value.name == "env":
        ctx.error(
            "A datasource must not use the env() function in the provider argument.", block.span
        )
        return None
    if not isinstance(value, StringValue):
        ctx.error(
            where + "The provider argument in a datasource must be a string literal", value.span
        )
        return None
    provider = value.value
    if not provider:
        ctx.error(where + "The provider argument in a datasource must not be empty", value.span)
        return None
    if provider in _OTHER_PRISMA_PROVIDERS:
        ctx.error(
            f'The provider "{provider}" is not supported: strata supports sqlite and postgresql.',
            value.span,
        )
        return None
    connector = _CONNECTORS.get(provider)
    if connector is None:
        ctx.error(f'Datasource provider not known: "{provider}".', value.span)
    return connector


def _read_urls(ctx: _Context, ds: _Datasource, props: dict[str, ConfigProperty]) -> None:
    """``url`` is optional (Prisma 7 moved it to prisma.config.ts); when given, the shadow
    database must differ from it and from ``directUrl``."""
    urls: dict[str, tuple[str, Span]] = {}
    for key in ("url", "directUrl", "shadowDatabaseUrl"):
        prop = props.pop(key, None)
        if prop is not None and (value := _string_or_env(ctx, prop.value)) is not None:
            urls[key] = (value, prop.value.span)
    ds.url = urls["url"][0] if "url" in urls else None
    shadow = urls.get("shadowDatabaseUrl")
    if shadow is None or shadow[0] == "":
        return
    for key, label in (("directUrl", "directUrl"), ("url", "url")):
        if key in urls and urls[key][0] == shadow[0]:
            ctx.error(
                f'shadowDatabaseUrl is the same as {label} for datasource "{ds.name}". Please '
                "specify a different database as shadow database to avoid data loss.",
                urls[key][1],
            )


def _read_relation_mode(ctx: _Context, ds: _Datasource, props: dict[str, ConfigProperty]) -> None:
    mode = props.pop("relationMode", None)
    legacy = props.pop("referentialIntegrity", None)
    if legacy is not None:
        ctx.warning(
            "The `referentialIntegrity` attribute is deprecated. Please use `relationMode` "
            "instead. Learn more at https://pris.ly/d/relation-mode",
            legacy.span,
        )
        if mode is not None:
            ctx.error(
                "The `referentialIntegrity` and `relationMode` attributes cannot be used "
                "together. Please use only `relationMode` instead.",
                legacy.span,
            )
            return
    chosen = mode or legacy
    if chosen is None:
        return
    value = _expect_string(ctx, chosen.value)
    if value == "prisma":
        ds.relation_mode = "prisma"
    elif value == "foreignKeys":
        ds.relation_mode = "foreignKeys"
    elif value is not None:
        ctx.error(
            f"Error validating datasource `relationMode`: Invalid relation mode setting: "
            f'"{value}". Supported values: "prisma", "foreignKeys"',
            chosen.value.span,
        )


def _read_schemas_property(ctx: _Context, ds: _Datasource, prop: ConfigProperty) -> None:
    """``schemas = ["public", "auth"]``: the PostgreSQL schemas models may live in."""
    if not ds.connector.multi_schema:
        ctx.error("The `schemas` property is not supported on the current connector.", prop.span)
    items = _items(prop.value)
    names = [_expect_string(ctx, item) for item in items]
    if not items:
        ctx.error("If provided, the schemas array can not be empty.", prop.value.span)
    seen: set[str] = set()
    for name in names:
        if name is None:
            continue
        if name in seen:
            ctx.error("Duplicated schema names are not allowed", prop.value.span)
        seen.add(name)
        ds.schemas.append(name)
    ds.schemas_span = prop.span


def _read_extensions(ctx: _Context, expr: Expression) -> list[ir.Extension]:
    """``extensions = [postgis, uuid_ossp(map: "uuid-ossp", schema: "x", version: "1.1")]``."""
    extensions: list[ir.Extension] = []
    for item in _items(expr):
        if isinstance(item, Identifier | FunctionCall):
            if problem := _identifier_problem(item.name, "extension"):
                ctx.error(problem, item.span)
        else:
            _mismatch(ctx, "a constant or function", item)
            continue
        strings: dict[str, str | None] = {}
        if isinstance(item, FunctionCall):
            for arg in item.arguments:
                if arg.name is None:
                    ctx.error(_validation_error("The argument must have a name"), arg.span)
                elif arg.name not in ("map", "schema", "version"):
                    ctx.error(f'Argument not known: "{arg.name}".', arg.span)
                elif arg.name in strings:
                    ctx.error(
                        _validation_error(f"The argument `{arg.name}` can only be defined once"),
                        arg.span,
                    )
                else:
                    strings[arg.name] = _expect_string(ctx, arg.value)
        extensions.append(
            ir.Extension(
                name=item.name,
                db_name=item.name if (mapped := strings.get("map")) is None else mapped,
                db_schema=strings.get("schema"),
                version=strings.get("version"),
            )
        )
    return extensions


def _read_generators(ctx: _Context) -> None:
    seen: set[str] = set()
    for block in ctx.tree.generators():
        if block.name in seen:
            ctx.error(
                f'The generator "{block.name}" cannot be defined because a generator with that '
                "name already exists.",
                block.span,
            )
        seen.add(block.name)
        props = _first_properties(block)
        provider: str | None = None
        if (prop := props.get("provider")) is None:
            ctx.error(
                f'Argument "provider" is missing in generator block "{block.name}".', block.span
            )
        else:
            provider = _string_or_env(ctx, prop.value)
        features: list[str] = []
        if (prop := props.get("previewFeatures")) is not None:
            features = _read_preview_features(ctx, prop)
        ctx.preview_features.update(features)
        ctx.generators.append(ir.Generator(block.name, provider or "", tuple(features)))


def _read_preview_features(ctx: _Context, prop: ConfigProperty) -> list[str]:
    """The known features, by their canonical names (Prisma matches them case-insensitively)."""
    known = {name.lower(): name for name in _PREVIEW_FEATURES}
    if ctx.connector.provider == "postgresql":
        known.update({name.lower(): name for name in _POSTGRES_PREVIEW_FEATURES})
    deprecated = {name.lower(): name for name in _DEPRECATED_PREVIEW_FEATURES}
    features: list[str] = []
    for name in _expect_list(ctx, prop.value, _expect_string) or []:
        key = name.lower()
        if key == "fulltextsearch" and ctx.connector.provider == "postgresql":
            ctx.warning(
                'On `provider = "postgresql"`, preview feature "fullTextSearch" has been renamed '
                'to "fullTextSearchPostgres". Learn more at https://pris.ly/d/fts-postgres.',
                prop.span,
            )
            features.append("fullTextSearchPostgres")
        elif key in deprecated:
            ctx.warning(
                f'Preview feature "{name}" is deprecated. The functionality can be used without '
                "specifying it as a preview feature.",
                prop.span,
            )
            features.append(deprecated[key])
        elif key in known:
            features.append(known[key])
        else:
            # strata: Prisma rejects an unknown preview feature. strata generates no client, so
            # a feature it does not know (a newer Prisma's, say) cannot affect it: it warns.
            ctx.warning(
                f'The preview feature "{name}" is not known. Expected one of: '
                + ", ".join(sorted(set(known.values()) - {"reactNative", "typedSql"})),
                prop.span,
            )
    return features


def _check_extensions_preview_feature(ctx: _Context) -> None:
    ds = ctx.datasource
    if ds and ds.extensions_span and "postgresqlExtensions" not in ctx.preview_features:
        ctx.error(
            "The `extensions` property is only available with the `postgresqlExtensions` "
            "preview feature.",
            ds.extensions_span,
        )
