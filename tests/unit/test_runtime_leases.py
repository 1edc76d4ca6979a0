"""The SQLite single-replica guard and advisory-lock keys (Postgres leadership itself is
tested in tests/integration/test_runtime_leases.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connector.runtime.leases import SingleReplicaError, SqliteGuard, lock_key, sqlite_path


def test_a_second_guard_on_the_same_file_is_refused_and_names_the_holder(
    tmp_path: Path,
) -> None:
    db = tmp_path / "var" / "smsync.db"
    first = SqliteGuard(db).acquire()
    try:
        with pytest.raises(SingleReplicaError) as caught:
            SqliteGuard(db).acquire()
        message = str(caught.value)
        assert "single-replica" in message
        assert str(os.getpid()) in message
        assert "Postgres" in message
        assert not db.exists()  # the guard never touches the database itself
    finally:
        first.release()
    SqliteGuard(db).acquire().release()  # free again once released


def test_guards_on_different_files_do_not_conflict(tmp_path: Path) -> None:
    a = SqliteGuard(tmp_path / "a.db").acquire()
    b = SqliteGuard(tmp_path / "b.db").acquire()
    a.release()
    b.release()


def test_lock_keys_differ_per_job_and_per_namespace_and_fit_bigint() -> None:
    keys = {lock_key(ns, job) for ns in ("public", "tenant_b") for job in ("pull", "send")}
    assert len(keys) == 4
    assert all(-(2**63) <= k < 2**63 for k in keys)
    assert lock_key("public", "pull") == lock_key("public", "pull")


def test_sqlite_path_only_for_file_databases(tmp_path: Path) -> None:
    assert sqlite_path(f"sqlite:///{tmp_path}/x.db") == (tmp_path / "x.db").resolve()
    assert sqlite_path("sqlite://") is None
    assert sqlite_path("postgresql://u@localhost/db") is None
