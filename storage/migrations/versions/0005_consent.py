"""Consent and erasure of guardians (UU 27/2022); joins the dashboard and broadcast branches.

Revision ID: 0005
Revises: 0003, 0004
Create Date: 2026-12-01 03:28:05.143205
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0005'
down_revision: str | tuple[str, ...] | None = ('0003', '0004')
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('guardian', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consent_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('consent_channel', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('erase_requested_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('guardian', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.drop_column('erase_requested_at')
        batch_op.drop_column('withdrawn_at')
        batch_op.drop_column('consent_channel')
        batch_op.drop_column('consent_at')

