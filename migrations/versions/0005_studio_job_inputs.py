"""studio jobs keep the inputs of roles other than media and source

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 01:55:00

Reviewed by hand: one nullable JSON column on studio_jobs; existing rows keep NULL.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('studio_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inputs', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('studio_jobs', schema=None) as batch_op:
        batch_op.drop_column('inputs')
