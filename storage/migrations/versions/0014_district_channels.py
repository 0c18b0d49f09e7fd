"""District channels: each school its own bot and sender (CHANNELS_FILE), shared send pacing,
claimed outbox rows.

Revision ID: 0014
Revises: 0007, 0008, 0009
Create Date: 2026-12-04 10:20:21.121344
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0014'
down_revision: str | None = ('0007', '0008', '0009')
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}  # names SQLite's unnamed constraints


def _rekey(table: str, old: list[str], new: list[str]) -> None:
    """Swap the table's unique key: PostgreSQL named the old one itself, SQLite did not."""
    if op.get_bind().dialect.name == "postgresql":  # named by PostgreSQL, or by a downgrade
        for name in (f"{table}_{'_'.join(old)}_key", f"uq_{table}_{'_'.join(old)}"):
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")
        op.create_unique_constraint(f"uq_{table}_{'_'.join(new)}", table, new)
        return
    with op.batch_alter_table(table, naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(f"uq_{table}_{'_'.join(old)}", type_="unique")
        batch_op.create_unique_constraint(f"uq_{table}_{'_'.join(new)}", new)


def upgrade() -> None:
    op.create_table('channel_route',
    sa.Column('school_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('kinds', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('school_code')
    )
    op.create_table('send_pace',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('due', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recent', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('send_pace', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_send_pace_due'), ['due'], unique=False)

    for table in ('channel_account', 'inbox_message'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('bot', sqlmodel.sql.sqltypes.AutoString(), server_default='',
                                          nullable=False))
        _rekey(table, ['channel', 'external_id'], ['channel', 'bot', 'external_id'])

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bot', sqlmodel.sql.sqltypes.AutoString(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('bot')
    for table in ('inbox_message', 'channel_account'):
        with op.batch_alter_table(table, naming_convention=NAMING) as batch_op:
            batch_op.drop_constraint(f"uq_{table}_channel_bot_external_id", type_="unique")
            batch_op.drop_column('bot')
            batch_op.create_unique_constraint(f"uq_{table}_channel_external_id", ['channel', 'external_id'])
    with op.batch_alter_table('send_pace', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_send_pace_due'))
    op.drop_table('send_pace')
    op.drop_table('channel_route')
