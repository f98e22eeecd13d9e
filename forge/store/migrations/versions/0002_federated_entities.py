"""federated entities: upstream names and definitions, gateway prefix and latency

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tools") as batch:
        batch.add_column(sa.Column("original_name", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("definition", sa.JSON(), nullable=True))
    with op.batch_alter_table("prompts") as batch:
        batch.add_column(sa.Column("original_name", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("definition", sa.JSON(), nullable=True))
    with op.batch_alter_table("resources") as batch:
        batch.add_column(sa.Column("definition", sa.JSON(), nullable=True))
    with op.batch_alter_table("gateways") as batch:
        batch.add_column(sa.Column("prefix", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("latency_ms", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gateways") as batch:
        batch.drop_column("latency_ms")
        batch.drop_column("prefix")
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("definition")
    with op.batch_alter_table("prompts") as batch:
        batch.drop_column("definition")
        batch.drop_column("original_name")
    with op.batch_alter_table("tools") as batch:
        batch.drop_column("definition")
        batch.drop_column("original_name")
