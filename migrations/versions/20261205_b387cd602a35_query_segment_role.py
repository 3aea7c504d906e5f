"""the database role query segments run as (PostgreSQL)

crm_segments_query: NOLOGIN, USAGE on the plugin's schema, SELECT on the CRM data tables only (never
users, API keys, messages, audit trails or the plugin's configuration); the application's user is
made a member so it can SET LOCAL ROLE to it. A user that may not create or grant roles gets a warning
and the rest still runs; an administrator then does what docs/security.md says. Roles belong to the
whole PostgreSQL server: the downgrade revokes this database's grants and leaves the role.

A later migration that adds a CRM data table grants SELECT on it to crm_segments_query.

Revision ID: b387cd602a35
Revises: a91c3e5f7d20
Create Date: 2026-12-05 10:00:00
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'b387cd602a35'
down_revision: str | None = 'a91c3e5f7d20'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

ROLE = 'crm_segments_query'
TABLES = (
    'crm_categories', 'crm_job_lines', 'crm_job_tags', 'crm_jobs', 'crm_opportunities',
    'crm_opportunity_tags', 'crm_products', 'crm_profile_tags', 'crm_profiles', 'crm_quote_lines',
    'crm_quote_tags', 'crm_quotes', 'crm_rfm_scores', 'crm_segment_members', 'crm_support_tickets',
    'crm_tags',
)

UPGRADE = f"""
DO $crm$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
    BEGIN
      CREATE ROLE {ROLE} NOLOGIN;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL;  -- created by another database meanwhile
      WHEN insufficient_privilege THEN
        RAISE WARNING 'crm-segments: may not create role {ROLE} (docs/security.md)';
        RETURN;
    END;
  END IF;
  IF NOT pg_has_role(current_user, '{ROLE}', 'MEMBER') THEN
    BEGIN
      EXECUTE format('GRANT {ROLE} TO %I', current_user);
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL;
      WHEN insufficient_privilege THEN
        RAISE WARNING 'crm-segments: may not use role {ROLE} (docs/security.md)';
    END;
  END IF;
  BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO {ROLE}', current_schema());
  EXCEPTION
    WHEN insufficient_privilege THEN
      RAISE WARNING 'crm-segments: may not grant schema USAGE to {ROLE} (docs/security.md)';
  END;
  GRANT SELECT ON {', '.join(TABLES)} TO {ROLE};
END
$crm$
"""

DOWNGRADE = f"""
DO $crm$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
    REVOKE SELECT ON {', '.join(TABLES)} FROM {ROLE};
    BEGIN
      EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM {ROLE}', current_schema());
    EXCEPTION
      WHEN insufficient_privilege THEN NULL;
    END;
  END IF;
END
$crm$
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return  # SQLite has no roles: its query segments run under an authorizer instead
    bind.execute(sa.text(UPGRADE))
    exists, usable = bind.execute(sa.text(
        "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = :role), "
        "CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = :role) "
        "THEN pg_has_role(current_user, :role, 'MEMBER') ELSE false END"), {'role': ROLE}).one()
    if not usable:
        why = 'could not be created' if not exists else 'may not be used by this database user'
        log.warning("The role %s %s: query segments on PostgreSQL are refused until an administrator "
                    "sets it up as docs/security.md describes (section 'Query segments').", ROLE, why)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    bind.execute(sa.text(DOWNGRADE))
