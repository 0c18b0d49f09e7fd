"""Who claimed an outbox row: a sending process's claimant token, so that another process can
take over a dead one's claims at once instead of waiting out the lease (bot/sender.py).

Revision ID: 0019_outbox_claimant
Revises: 0018_district
Create Date: 2026-12-06 09:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0019_outbox_claimant'
down_revision: str | None = '0018_district'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('claimed_by')
