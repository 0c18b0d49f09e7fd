"""Joins the district channels (0014) and the office uploads (0016).

Revision ID: 0017
Revises: 0014, 0016
Create Date: 2026-12-04 11:35:23.644731
"""
from collections.abc import Sequence


revision: str = '0017'
down_revision: str | tuple[str, ...] | None = ('0014', '0016')
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
