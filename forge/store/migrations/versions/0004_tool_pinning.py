"""tool pinning: the approved definition's hash and a pending change of an imported tool

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tools") as batch:
        batch.add_column(sa.Column("pin_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("pinning", sa.JSON(), nullable=True))
        batch.create_index("ix_tools_pin_status", ["pin_status"])


def downgrade() -> None:
    with op.batch_alter_table("tools") as batch:
        batch.drop_index("ix_tools_pin_status")
        batch.drop_column("pinning")
        batch.drop_column("pin_status")
