"""case facts reported by county nodes to the city (issue 18, stats.case_facts)

At the city: the last reported facts of each case (stats_reported_fact) and their rollups by the statistics' key
(stats_reported_rollup, stats_reported_days). At a county node: what was last sent of each case (stats_fact_sent).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-03 22:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'stats_reported_fact',
        sa.Column('total_cases', sa.Integer(), nullable=False),
        sa.Column('accepted', sa.Integer(), nullable=False),
        sa.Column('decided', sa.Integer(), nullable=False),
        sa.Column('approved', sa.Integer(), nullable=False),
        sa.Column('concluded', sa.Integer(), nullable=False),
        sa.Column('on_time_base', sa.Integer(), nullable=False),
        sa.Column('on_time', sa.Integer(), nullable=False),
        sa.Column('processing_cases', sa.Integer(), nullable=False),
        sa.Column('processing_sum', sa.Float(), nullable=False),
        sa.Column('materials_sum', sa.Float(), nullable=False),
        sa.Column('materials_cases', sa.Integer(), nullable=False),
        sa.Column('steps_sum', sa.Float(), nullable=False),
        sa.Column('steps_cases', sa.Integer(), nullable=False),
        sa.Column('time_sum', sa.Float(), nullable=False),
        sa.Column('time_cases', sa.Integer(), nullable=False),
        sa.Column('excluded_no_baseline', sa.Integer(), nullable=False),
        sa.Column('ratings', sa.Integer(), nullable=False),
        sa.Column('satisfied', sa.Integer(), nullable=False),
        sa.Column('commitment_cases', sa.Integer(), nullable=False),
        sa.Column('commitment_met', sa.Integer(), nullable=False),
        sa.Column('materials_baseline_sum', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('materials_required_sum', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('materials_received_sum', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('steps_baseline_sum', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('steps_taken_sum', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('time_baseline_sum', sa.Float(), server_default=sa.text('0'), nullable=False),
        sa.Column('time_used_sum', sa.Float(), server_default=sa.text('0'), nullable=False),
        sa.Column('pushes', sa.Integer(), nullable=False),
        sa.Column('claimed', sa.Integer(), nullable=False),
        sa.Column('with_feedback', sa.Integer(), nullable=False),
        sa.Column('hours_sum', sa.Float(), nullable=False),
        sa.Column('case_no', sa.String(length=40), nullable=False),
        sa.Column('from_node', sa.String(length=30), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('applied_on', sa.Date(), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('county_code', sa.String(length=12), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('mode', sa.String(length=20), nullable=False),
        sa.Column('state', sa.String(length=30), nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['item_id'], ['item.id'], name=op.f('fk_stats_reported_fact_item_id_item')),
        sa.PrimaryKeyConstraint('case_no', name=op.f('pk_stats_reported_fact')),
    )
    with op.batch_alter_table('stats_reported_fact', schema=None) as batch_op:
        batch_op.create_index('ix_stats_reported_fact_key', ['month', 'county_code', 'item_id', 'mode', 'state'], unique=False)
        batch_op.create_index('ix_stats_reported_fact_applied_on', ['applied_on'], unique=False)
    op.create_table(
        'stats_reported_rollup',
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('county_code', sa.String(length=12), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('mode', sa.String(length=20), nullable=False),
        sa.Column('state', sa.String(length=30), nullable=False),
        sa.Column('total_cases', sa.Integer(), nullable=False),
        sa.Column('accepted', sa.Integer(), nullable=False),
        sa.Column('decided', sa.Integer(), nullable=False),
        sa.Column('approved', sa.Integer(), nullable=False),
        sa.Column('concluded', sa.Integer(), nullable=False),
        sa.Column('on_time_base', sa.Integer(), nullable=False),
        sa.Column('on_time', sa.Integer(), nullable=False),
        sa.Column('processing_cases', sa.Integer(), nullable=False),
        sa.Column('processing_sum', sa.Float(), nullable=False),
        sa.Column('materials_sum', sa.Float(), nullable=False),
        sa.Column('materials_cases', sa.Integer(), nullable=False),
        sa.Column('steps_sum', sa.Float(), nullable=False),
        sa.Column('steps_cases', sa.Integer(), nullable=False),
        sa.Column('time_sum', sa.Float(), nullable=False),
        sa.Column('time_cases', sa.Integer(), nullable=False),
        sa.Column('excluded_no_baseline', sa.Integer(), nullable=False),
        sa.Column('ratings', sa.Integer(), nullable=False),
        sa.Column('satisfied', sa.Integer(), nullable=False),
        sa.Column('commitment_cases', sa.Integer(), nullable=False),
        sa.Column('commitment_met', sa.Integer(), nullable=False),
        sa.Column('materials_baseline_sum', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('materials_required_sum', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('materials_received_sum', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('steps_baseline_sum', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('steps_taken_sum', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('time_baseline_sum', sa.Float(), server_default=sa.text('0'), nullable=False),
        sa.Column('time_used_sum', sa.Float(), server_default=sa.text('0'), nullable=False),
        sa.Column('pushes', sa.Integer(), nullable=False),
        sa.Column('claimed', sa.Integer(), nullable=False),
        sa.Column('with_feedback', sa.Integer(), nullable=False),
        sa.Column('hours_sum', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('month', 'county_code', 'item_id', 'mode', 'state', name=op.f('pk_stats_reported_rollup')),
    )
    op.create_table(
        'stats_reported_days',
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('county_code', sa.String(length=12), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('mode', sa.String(length=20), nullable=False),
        sa.Column('state', sa.String(length=30), nullable=False),
        sa.Column('days', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('cases', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('month', 'county_code', 'item_id', 'mode', 'state', 'days', name=op.f('pk_stats_reported_days')),
    )
    op.create_table(
        'stats_fact_sent',
        sa.Column('case_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_stats_fact_sent_case_id_case_file'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('case_id', name=op.f('pk_stats_fact_sent')),
    )


def downgrade():
    op.drop_table('stats_fact_sent')
    op.drop_table('stats_reported_days')
    op.drop_table('stats_reported_rollup')
    with op.batch_alter_table('stats_reported_fact', schema=None) as batch_op:
        batch_op.drop_index('ix_stats_reported_fact_applied_on')
        batch_op.drop_index('ix_stats_reported_fact_key')
    op.drop_table('stats_reported_fact')
