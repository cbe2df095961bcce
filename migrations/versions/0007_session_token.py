"""users.session_token: rotating it logs out every session and remember cookie of a user

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 01:45:00

Reviewed by hand: one nullable column on users; a user without a token gets one at the next login.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_token', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_token')
