"""A throwaway Postgres schema: the crash loop, the replicas run and the tests each work in
a fresh one and drop it, so a shared server keeps nothing of theirs. A test helper, not a
part of smsync; the scripts reach it through `scripts/_harness.py`."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url

from connector.store import make_engine


@contextmanager
def scratch_schema(base_url: str, prefix: str) -> Iterator[str]:
    """`base_url` scoped (search_path) to a new, empty schema `<prefix>_<random>`, dropped
    on exit. Connecting is the caller's first failure point: errors propagate."""
    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = make_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except Exception:
        admin.dispose()
        raise
    scoped = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
