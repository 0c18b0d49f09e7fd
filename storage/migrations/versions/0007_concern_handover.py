"""Concern hand-overs: every move of a concern to another staff member (alihkan, "wrong person").

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 09:29:12.585427
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('concern_handover',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('concern_id', sa.Integer(), nullable=False),
    sa.Column('from_staff_id', sa.Integer(), nullable=False),
    sa.Column('to_staff_id', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['concern_id'], ['concern.id'], ),
    sa.ForeignKeyConstraint(['from_staff_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], ),
    sa.ForeignKeyConstraint(['to_staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('concern_handover', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_concern_handover_concern_id'), ['concern_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_concern_handover_school_id'), ['school_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('concern_handover', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_concern_handover_school_id'))
        batch_op.drop_index(batch_op.f('ix_concern_handover_concern_id'))

    op.drop_table('concern_handover')
