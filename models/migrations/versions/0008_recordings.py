"""lesson recordings with retain-until (REC-1), guarded at the database

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa
import models.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

REFUSED = "recordings are kept until retain_until (REC-1)"


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("retention_years", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("storage_kind", sa.String(length=8), nullable=False),
        sa.Column("storage_location", sa.String(length=500), nullable=False),
        sa.Column("opened_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("finished_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("retain_until", models.base.UTCDateTime(), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=True),
        sa.Column("verified_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("verification", sa.JSON(), nullable=True),
        sa.Column("deleted_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("deleted_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["lesson_id"], ["lessons.id"], name=op.f("fk_recordings_lesson_id_lessons")),
        sa.ForeignKeyConstraint(["class_id"], ["classes.id"], name=op.f("fk_recordings_class_id_classes")),
        sa.ForeignKeyConstraint(["deleted_by"], ["users.id"], name=op.f("fk_recordings_deleted_by_users")),
        sa.PrimaryKeyConstraint("lesson_id", name=op.f("pk_recordings")),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recordings_class_id"), ["class_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_institution_id"), ["institution_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_district_code"), ["district_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_retain_until"), ["retain_until"], unique=False)

    # REC-1 at the database, as 0002 does for the audit log: no row deleted, retain_until never
    # lowered, no soft delete dated before retain_until, no undelete.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE OR REPLACE FUNCTION qihang_recordings_guard() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    RAISE EXCEPTION '{REFUSED}: rows are never deleted';
                END IF;
                IF NEW.retain_until < OLD.retain_until THEN
                    RAISE EXCEPTION '{REFUSED}: retain_until cannot be moved earlier';
                END IF;
                IF NEW.status = 'deleted' AND OLD.status <> 'deleted'
                   AND (NEW.deleted_at IS NULL OR NEW.deleted_at < OLD.retain_until) THEN
                    RAISE EXCEPTION '{REFUSED}: deletion before retain_until';
                END IF;
                IF OLD.status = 'deleted' AND NEW.status <> 'deleted' THEN
                    RAISE EXCEPTION '{REFUSED}: a deleted recording stays deleted';
                END IF;
                RETURN NEW;
            END;
            $$ LANGUAGE plpgsql;
        """)
        op.execute("""
            CREATE TRIGGER recordings_guard BEFORE UPDATE OR DELETE ON recordings
            FOR EACH ROW EXECUTE FUNCTION qihang_recordings_guard();
        """)
    else:
        op.execute(f"""
            CREATE TRIGGER recordings_no_delete BEFORE DELETE ON recordings
            BEGIN SELECT RAISE(ABORT, '{REFUSED}: rows are never deleted'); END;
        """)
        # UTCDateTime is stored as 'YYYY-MM-DD HH:MM:SS.ffffff' on SQLite: text order is time order.
        op.execute(f"""
            CREATE TRIGGER recordings_retention BEFORE UPDATE ON recordings
            WHEN NEW.retain_until < OLD.retain_until
              OR (NEW.status = 'deleted' AND OLD.status <> 'deleted'
                  AND (NEW.deleted_at IS NULL OR NEW.deleted_at < OLD.retain_until))
              OR (OLD.status = 'deleted' AND NEW.status <> 'deleted')
            BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END;
        """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS recordings_guard ON recordings")
        op.execute("DROP FUNCTION IF EXISTS qihang_recordings_guard()")
    else:
        op.execute("DROP TRIGGER IF EXISTS recordings_no_delete")
        op.execute("DROP TRIGGER IF EXISTS recordings_retention")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        for col in ("retain_until", "status", "district_code", "institution_id", "class_id"):
            batch_op.drop_index(batch_op.f(f"ix_recordings_{col}"))
    op.drop_table("recordings")
