"""The PostgreSQL role query segments run as: NOLOGIN, SELECT on the CRM data tables and nothing else.

The migrations create it (each migration with the tables of its time); ``role_sql`` is the same
statement for the tables of today, for the test schema built from the models and for a database
administrator setting the role up by hand (docs/security.md). It tolerates a database user that may
not create roles: the role is then left for the administrator, and query segments on PostgreSQL are
refused until it exists and the application's user may use it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .query_allowlist import DATA_TABLES, QUERY_ROLE


def role_sql(tables: Iterable[str] = DATA_TABLES, role: str = QUERY_ROLE) -> str:
    """One DO block: create ``role`` if it can, let the current user use it, grant SELECT on ``tables``."""
    names = ", ".join(sorted(tables))
    return f"""
DO $crm$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
    BEGIN
      CREATE ROLE {role} NOLOGIN;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL;  -- created by another database meanwhile
      WHEN insufficient_privilege THEN
        RAISE WARNING 'crm-segments: may not create role {role} (docs/security.md)';
        RETURN;
    END;
  END IF;
  IF NOT pg_has_role(current_user, '{role}', 'MEMBER') THEN
    BEGIN
      EXECUTE format('GRANT {role} TO %I', current_user);
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL;
      WHEN insufficient_privilege THEN
        RAISE WARNING 'crm-segments: may not use role {role} (docs/security.md)';
    END;
  END IF;
  BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO {role}', current_schema());
  EXCEPTION
    WHEN insufficient_privilege THEN
      RAISE WARNING 'crm-segments: may not grant schema USAGE to {role} (docs/security.md)';
  END;
  GRANT SELECT ON {names} TO {role};
END
$crm$
"""


def install_query_role(connection: Connection) -> None:
    """Run ``role_sql`` for today's CRM data tables (PostgreSQL only)."""
    connection.execute(text(role_sql()))


def query_role_problem(connection: Connection, role: str = QUERY_ROLE) -> str | None:
    """Why this connection's user cannot run query segments as ``role``, or None when it can."""
    usable = connection.execute(text(
        "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = :role), "
        "CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = :role) "
        "THEN pg_has_role(current_user, :role, 'MEMBER') ELSE false END"), {"role": role}).one()
    if not usable[0]:
        return f"the role {role} does not exist"
    if not usable[1]:
        return f"the database user may not use the role {role}"
    return None
