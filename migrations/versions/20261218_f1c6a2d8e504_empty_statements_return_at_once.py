"""statement triggers return at once when their statement wrote no row

The reference checks and counts on segment members, segment events, consent changes, enrollments
and taggings ran their whole body over empty transition tables (an INSERT or DELETE of no row still
fires its statement triggers): each function gets a test in front
(crm_segments.models.empty_statements.EMPTY_STATEMENT_FUNCTIONS, which the models run after
create_all too). The triggers are unchanged.

Revision ID: f1c6a2d8e504
Revises: e8a3f5c1b742
Create Date: 2026-12-18 06:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from crm_segments.models.empty_statements import EMPTY_STATEMENT_FUNCTIONS, FUNCTIONS_BEFORE

revision: str = 'f1c6a2d8e504'
down_revision: str | None = 'e8a3f5c1b742'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for statement in EMPTY_STATEMENT_FUNCTIONS.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def downgrade() -> None:
    for statement in FUNCTIONS_BEFORE.get(op.get_bind().dialect.name, ()):
        op.execute(statement)
