"""The typed client: pydantic models and Prisma-style repositories built from the schema.

``db.user.find_unique(where={"id": 1})``: `strata.Database` builds a `Client` the first
time a repository is used. The package's modules follow the way a call travels:

* `models`: the pydantic and enum classes;
* `datetimes`: the stored form of each DateTime column, detected, and its codec (every other
  field's conversion and input validation is the dialect's, `strata.dialects.values.Codec`);
* `defaults`: ids and timestamps generated at create (cuid, uuid, nanoid, ulid, now);
* `datetimes`: how each DateTime column stores its values, detected from its data;
* `meta`: what the client resolved from the schema: columns, unique keys, relation joins;
* `where`: ``where`` and ``order_by`` compiled to SQL;
* `relations`: ``include`` / ``select`` and loading related records;
* `writes`: create and update with nested writes;
* `aggregates`: ``aggregate`` and ``group_by``;
* `base`: what those parts use of the client that built them (a `Protocol`);
* `repository`: the public methods, one repository per model;
* `client`: ties them to a database;
* `batch` and `datetime_rewrite`: operations on a whole client (``db.batch_``, and
  ``strata datetime rewrite``).
"""

from strata.client.client import Client
from strata.client.models import ModelClasses, build_models
from strata.client.repository import Page, Repository
from strata.dialects.values import DATETIME_FORMATS, DateTimeFormat

__all__ = [
    "DATETIME_FORMATS",
    "Client",
    "DateTimeFormat",
    "ModelClasses",
    "Page",
    "Repository",
    "build_models",
]
