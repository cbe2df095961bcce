"""kiosk frames today (for the admin Kiosks page)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 01:50:00

Written by hand: two columns on kiosks, counted per site day in one UPDATE per frame.

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("kiosks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frames_day", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("frames_today", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade():
    with op.batch_alter_table("kiosks", schema=None) as batch_op:
        batch_op.drop_column("frames_today")
        batch_op.drop_column("frames_day")
