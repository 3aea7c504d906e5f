"""The PostgreSQL role query segments run as: NOLOGIN, SELECT on the CRM data tables of the plugin's
schema and nothing else there, made by the migrations (a new CRM data table fails here until its
migration grants it and DATA_TABLES lists it), and set up by hand as docs/security.md says when the
application's database user may not do it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import Connection, make_url

from crm_segments import migrate
from crm_segments.db import make_engine
from crm_segments.models import Profile
from crm_segments.segments import query_segments
from crm_segments.segments.query_allowlist import DATA_TABLES, QUERY_ROLE
from crm_segments.segments.query_role import query_role_problem
from tests.databases import postgres_admin_url

SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def role_privileges(conn: Connection) -> set[tuple[str, str]]:
    """(relation, privilege) the role holds on the relations of the current schema, sequences included."""
    rows = conn.execute(text(
        "SELECT c.relname, p.privilege FROM pg_class c CROSS JOIN unnest(CAST(:privileges AS text[])) "
        "AS p(privilege) WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN "
        "('r', 'p', 'v', 'm', 'f') AND has_table_privilege(:role, c.oid, p.privilege) "
        "UNION SELECT c.relname, p.privilege FROM pg_class c CROSS JOIN unnest(ARRAY['USAGE', 'SELECT', "
        "'UPDATE']) AS p(privilege) WHERE c.relnamespace = current_schema()::regnamespace "
        "AND c.relkind = 'S' AND has_sequence_privilege(:role, c.oid, p.privilege)"),
        {"privileges": list(PRIVILEGES), "role": QUERY_ROLE})
    return {(name, privilege) for name, privilege in rows}


def assert_only_reads_the_data_tables(conn: Connection) -> None:
    assert role_privileges(conn) == {(table, "SELECT") for table in DATA_TABLES}
    attributes = conn.execute(text(
        "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls "
        "FROM pg_roles WHERE rolname = :role"), {"role": QUERY_ROLE}).one()
    assert not any(attributes), attributes
    assert conn.scalar(text("SELECT has_schema_privilege(:role, current_schema(), 'USAGE')"),
                       {"role": QUERY_ROLE})


@pytest.mark.postgres
def test_the_schema_the_tests_build_grants_the_role_the_data_tables(postgresql_url: str) -> None:
    engine = make_engine(postgresql_url)
    try:
        with engine.connect() as conn:
            assert_only_reads_the_data_tables(conn)
    finally:
        engine.dispose()


@pytest.fixture
def app_user(postgresql_url: str) -> Iterator[str]:
    """A database of its own owned by a plain login user, who may not create or grant roles (as a
    host's application user often is); the role itself exists (roles are the server's)."""
    admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    user, database = f"crm_test_app_{uuid.uuid4().hex[:8]}", f"crm_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{user}" LOGIN'))
        conn.execute(text(f'CREATE DATABASE "{database}" OWNER "{user}"'))
    try:
        yield make_url(postgres_admin_url()).set(username=user, database=database).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{user}"'))
        admin.dispose()


def documented_setup(user: str) -> list[str]:
    """The SQL statements of docs/security.md's "Query segments" section, for ``user``."""
    section = SECURITY_DOC.read_text(encoding="utf-8").split("## Query segments", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the section shows the administrator's SQL in one sql block"
    lines = [line for line in blocks[0].splitlines() if not line.lstrip().startswith("--")]
    return [s.strip().replace("crm_app", f'"{user}"') for s in " ".join(lines).split(";") if s.strip()]


@pytest.mark.postgres
def test_migrations_grant_the_role_and_an_administrator_lets_the_application_use_it(app_user: str) -> None:
    user = make_url(app_user).username
    assert user
    migrate.upgrade(app_user)  # warns that the role may not be used: nothing else fails
    engine = make_engine(app_user)
    try:
        with engine.connect() as conn:
            assert_only_reads_the_data_tables(conn)  # the migrations' grants, as the tables' owner
            assert query_role_problem(conn) == f"the database user may not use the role {QUERY_ROLE}"
        with engine.begin() as conn:
            conn.execute(insert(Profile), [{"external_id": "R-1"}, {"external_id": "R-2"}])

        # What docs/security.md tells an administrator to run (the role exists: roles are the server's).
        admin = create_engine(make_url(postgres_admin_url()).set(database=make_url(app_user).database))
        with admin.begin() as conn:
            for statement in documented_setup(user):
                if not statement.upper().startswith("CREATE ROLE"):
                    conn.execute(text(statement))
        admin.dispose()

        with engine.connect() as conn:
            assert query_role_problem(conn) is None
            assert_only_reads_the_data_tables(conn)
        with query_segments._readonly_rows(engine, 'SELECT "id" FROM "crm_profiles"', timeout_ms=5000,
                                           limit=10) as rows:
            assert len(list(rows)) == 2
    finally:
        engine.dispose()


def test_the_documented_setup_names_every_data_table() -> None:
    statements = documented_setup("crm_app")
    assert any(s.upper().startswith(f"CREATE ROLE {QUERY_ROLE.upper()} NOLOGIN") for s in statements)
    grants = [s for s in statements if s.upper().startswith("GRANT SELECT ON")]
    assert len(grants) == 1
    named = {t.strip() for t in grants[0].split(" ON ", 1)[1].rsplit(" TO ", 1)[0].split(",")}
    assert named == DATA_TABLES
