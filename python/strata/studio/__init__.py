"""`strata studio`: a local web page to browse, edit and watch a database's data.

``strata studio`` (`strata.studio.command`) serves `strata.studio.app.create_app` with
uvicorn: the schema's models with their rows (keyset pages, sorting, filters built from the
client's ``where`` operators, relations as links), edits through the client, the queues,
rate limiters and metrics the project declares (`strata.studio.bindings`), and DuckDB SQL
over the tables. Everything the page shows comes from a JSON API, documented in
docs/studio.md. Starlette, uvicorn and Jinja2 come with the ``studio`` extra
(``pip install 'strata-db[studio]'``); this package imports them only when the studio runs.
"""

from __future__ import annotations

__all__: list[str] = []
