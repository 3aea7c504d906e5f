"""the members' acquisition-source counts probe the profiles by key

The count of a statement's member rows by acquisition source joins them to crm_profiles; with the
default page costs a write of 20k+ rows read every profile for it (1M profiles: 0.56 s and 1.27 s for
30k rows in and out, against 0.26 s and 0.58 s by index probes). The function now plans with
random_page_cost = 1.1 (crm_segments.models.source_count_costs.SOURCE_COUNT_COSTS, which the models
run after create_all too).

Revision ID: b3e8f1a6c072
Revises: a7d2c9e4b813
Create Date: 2026-12-21 06:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from crm_segments.models.source_count_costs import SOURCE_COUNT_COSTS, SOURCE_COUNT_COSTS_BEFORE

revision: str = 'b3e8f1a6c072'
down_revision: str | None = 'a7d2c9e4b813'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for statement in SOURCE_COUNT_COSTS.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def downgrade() -> None:
    for statement in SOURCE_COUNT_COSTS_BEFORE.get(op.get_bind().dialect.name, ()):
        op.execute(statement)
