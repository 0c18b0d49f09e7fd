"""broadcast answers, daily digest, guru BK explainer series

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01 02:50:41.142457
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0004'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('bk_series_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('broadcast_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['broadcast_id'], ['broadcast.id'], ),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardian.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('guardian_id', 'part')
    )
    with op.batch_alter_table('bk_series_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bk_series_log_guardian_id'), ['guardian_id'], unique=False)

    op.create_table('bk_series_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=False),
    sa.Column('broadcast_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_part', sa.Integer(), nullable=False),
    sa.Column('next_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['broadcast_id'], ['broadcast.id'], ),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardian.id'], ),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('guardian_id')
    )
    with op.batch_alter_table('bk_series_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bk_series_member_next_at'), ['next_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_bk_series_member_school_id'), ['school_id'], unique=False)

    op.create_table('broadcast_answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('broadcast_id', sa.Integer(), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=False),
    sa.Column('answer', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['broadcast_id'], ['broadcast.id'], ),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardian.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('broadcast_id', 'guardian_id')
    )
    with op.batch_alter_table('broadcast_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_broadcast_answer_broadcast_id'), ['broadcast_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_broadcast_answer_guardian_id'), ['guardian_id'], unique=False)

    op.create_table('digest_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=False),
    sa.Column('broadcast_id', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['broadcast_id'], ['broadcast.id'], ),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardian.id'], ),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox_message.id'], ),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('broadcast_id', 'guardian_id')
    )
    with op.batch_alter_table('digest_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_digest_item_broadcast_id'), ['broadcast_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_digest_item_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_digest_item_guardian_id'), ['guardian_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_digest_item_outbox_id'), ['outbox_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_digest_item_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_digest_item_status'), ['status'], unique=False)

    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answers', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('template', sqlmodel.sql.sqltypes.AutoString(), nullable=True))

    with op.batch_alter_table('guardian', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('guardian', schema=None) as batch_op:
        batch_op.drop_column('digest')

    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.drop_column('template')
        batch_op.drop_column('answers')

    with op.batch_alter_table('digest_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_digest_item_status'))
        batch_op.drop_index(batch_op.f('ix_digest_item_school_id'))
        batch_op.drop_index(batch_op.f('ix_digest_item_outbox_id'))
        batch_op.drop_index(batch_op.f('ix_digest_item_guardian_id'))
        batch_op.drop_index(batch_op.f('ix_digest_item_due_at'))
        batch_op.drop_index(batch_op.f('ix_digest_item_broadcast_id'))

    op.drop_table('digest_item')
    with op.batch_alter_table('broadcast_answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_broadcast_answer_guardian_id'))
        batch_op.drop_index(batch_op.f('ix_broadcast_answer_broadcast_id'))

    op.drop_table('broadcast_answer')
    with op.batch_alter_table('bk_series_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bk_series_member_school_id'))
        batch_op.drop_index(batch_op.f('ix_bk_series_member_next_at'))

    op.drop_table('bk_series_member')
    with op.batch_alter_table('bk_series_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bk_series_log_guardian_id'))

    op.drop_table('bk_series_log')
