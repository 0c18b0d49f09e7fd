"""scheduling: availability, bookings, waiting list

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 02:46:02.174786
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('availability',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=True),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('windows', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardian.id'], ),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], ),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('guardian_id'),
    sa.UniqueConstraint('staff_id')
    )
    with op.batch_alter_table('availability', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_availability_school_id'), ['school_id'], unique=False)

    op.create_table('slot_waiting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('slot_id', sa.Integer(), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('offered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['family_id'], ['meeting_family.id'], ),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardian.id'], ),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], ),
    sa.ForeignKeyConstraint(['slot_id'], ['meeting_slot.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('slot_id', 'family_id')
    )
    with op.batch_alter_table('slot_waiting', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slot_waiting_family_id'), ['family_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_slot_waiting_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_slot_waiting_slot_id'), ['slot_id'], unique=False)

    with op.batch_alter_table('meeting_family', schema=None) as batch_op:
        batch_op.add_column(sa.Column('slot_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('slot_state', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_index(batch_op.f('ix_meeting_family_slot_id'), ['slot_id'], unique=False)
        batch_op.create_foreign_key('fk_meeting_family_slot_id', 'meeting_slot', ['slot_id'], ['id'])

    with op.batch_alter_table('meeting_slot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('booked', sa.Integer(), nullable=False, server_default='0'))



def downgrade() -> None:
    with op.batch_alter_table('meeting_slot', schema=None) as batch_op:
        batch_op.drop_column('booked')

    with op.batch_alter_table('meeting_family', schema=None) as batch_op:
        batch_op.drop_constraint('fk_meeting_family_slot_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_meeting_family_slot_id'))
        batch_op.drop_column('slot_state')
        batch_op.drop_column('slot_id')

    with op.batch_alter_table('slot_waiting', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slot_waiting_slot_id'))
        batch_op.drop_index(batch_op.f('ix_slot_waiting_school_id'))
        batch_op.drop_index(batch_op.f('ix_slot_waiting_family_id'))

    op.drop_table('slot_waiting')
    with op.batch_alter_table('availability', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_availability_school_id'))

    op.drop_table('availability')
