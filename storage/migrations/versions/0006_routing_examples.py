"""Routing examples: the school's own corrections, labelled for its router.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 09:23:47.382761
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('routing_example',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=True),
    sa.Column('concern_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('group', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['concern_id'], ['concern.id'], ),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardian.id'], ),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('routing_example', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routing_example_concern_id'), ['concern_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_routing_example_guardian_id'), ['guardian_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_routing_example_school_id'), ['school_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('routing_example', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routing_example_school_id'))
        batch_op.drop_index(batch_op.f('ix_routing_example_guardian_id'))
        batch_op.drop_index(batch_op.f('ix_routing_example_concern_id'))

    op.drop_table('routing_example')
