"""inbox retries, heartbeats, shared flood buckets, session generations

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-04 09:28:43.827374
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0008'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('flood_bucket',
    sa.Column('sender', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('tokens', sa.Float(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('flooding', sa.Boolean(), nullable=False),
    sa.Column('alerted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('sender')
    )
    with op.batch_alter_table('flood_bucket', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flood_bucket_at'), ['at'], unique=False)

    op.create_table('heartbeat',
    sa.Column('part', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('part')
    )
    with op.batch_alter_table('inbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('parked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_index(batch_op.f('ix_inbox_message_parked_at'), ['parked_at'], unique=False)

    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('session_generation')

    with op.batch_alter_table('inbox_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbox_message_parked_at'))
        batch_op.drop_column('last_error')
        batch_op.drop_column('parked_at')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')

    op.drop_table('heartbeat')
    with op.batch_alter_table('flood_bucket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_flood_bucket_at'))

    op.drop_table('flood_bucket')
