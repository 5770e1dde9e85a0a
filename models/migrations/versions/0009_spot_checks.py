"""spot checks of live video (SUP-5) and offline lessons' site videos (ATT-6), guarded at the database

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa
import models.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BATCH_REFUSED = "a spot-check draw is kept as drawn (SUP-5, SUP-6)"
ITEM_REFUSED = "a spot-check item keeps its lesson and, once decided, its verdict (SUP-5, SUP-6)"
SITE_REFUSED = "site videos are kept until retain_until (ATT-6, REC-1)"


def upgrade() -> None:
    op.create_table(
        "spot_check_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_level", sa.String(length=16), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("scope_prefix", sa.String(length=6), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("required_share", sa.Float(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("algorithm", sa.String(length=40), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("population", sa.JSON(), nullable=False),
        sa.Column("population_hash", sa.String(length=64), nullable=False),
        sa.Column("population_lessons", sa.Integer(), nullable=False),
        sa.Column("population_class_hours", sa.Integer(), nullable=False),
        sa.Column("target_class_hours", sa.Integer(), nullable=False),
        sa.Column("drawn_lessons", sa.Integer(), nullable=False),
        sa.Column("drawn_class_hours", sa.Integer(), nullable=False),
        sa.Column("drawn_by", sa.Integer(), nullable=False),
        sa.Column("drawn_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["drawn_by"], ["users.id"], name=op.f("fk_spot_check_batches_drawn_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spot_check_batches")),
    )
    with op.batch_alter_table("spot_check_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spot_check_batches_scope_prefix"), ["scope_prefix"], unique=False)

    op.create_table(
        "spot_check_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("class_hours", sa.Integer(), nullable=False),
        sa.Column("media_seconds", sa.Float(), nullable=False),
        sa.Column("assignee_user_id", sa.Integer(), nullable=False),
        sa.Column("assigned_by", sa.Integer(), nullable=False),
        sa.Column("assigned_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("watched_ranges", sa.JSON(), nullable=False),
        sa.Column("watched_seconds", sa.Float(), nullable=False),
        sa.Column("last_watched_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["spot_check_batches.id"],
                                name=op.f("fk_spot_check_items_batch_id_spot_check_batches")),
        sa.ForeignKeyConstraint(["lesson_id"], ["lessons.id"], name=op.f("fk_spot_check_items_lesson_id_lessons")),
        sa.ForeignKeyConstraint(["class_id"], ["classes.id"], name=op.f("fk_spot_check_items_class_id_classes")),
        sa.ForeignKeyConstraint(["assignee_user_id"], ["users.id"],
                                name=op.f("fk_spot_check_items_assignee_user_id_users")),
        sa.ForeignKeyConstraint(["assigned_by"], ["users.id"], name=op.f("fk_spot_check_items_assigned_by_users")),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], name=op.f("fk_spot_check_items_decided_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spot_check_items")),
        sa.UniqueConstraint("batch_id", "lesson_id", name=op.f("uq_spot_check_items_batch_id")),
    )
    with op.batch_alter_table("spot_check_items", schema=None) as batch_op:
        for col in ("batch_id", "lesson_id", "class_id", "district_code", "assignee_user_id", "status"):
            batch_op.create_index(batch_op.f(f"ix_spot_check_items_{col}"), [col], unique=False)

    op.create_table(
        "site_videos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("class_hour", sa.Integer(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("codec", sa.String(length=32), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("retention_years", sa.Integer(), nullable=False),
        sa.Column("retain_until", models.base.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("deleted_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("deleted_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["lesson_id"], ["lessons.id"], name=op.f("fk_site_videos_lesson_id_lessons")),
        sa.ForeignKeyConstraint(["class_id"], ["classes.id"], name=op.f("fk_site_videos_class_id_classes")),
        sa.ForeignKeyConstraint(["file_id"], ["stored_files.id"], name=op.f("fk_site_videos_file_id_stored_files")),
        sa.ForeignKeyConstraint(["uploaded_by"], ["users.id"], name=op.f("fk_site_videos_uploaded_by_users")),
        sa.ForeignKeyConstraint(["deleted_by"], ["users.id"], name=op.f("fk_site_videos_deleted_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_videos")),
        sa.UniqueConstraint("lesson_id", "seq", name=op.f("uq_site_videos_lesson_id")),
    )
    with op.batch_alter_table("site_videos", schema=None) as batch_op:
        for col in ("lesson_id", "class_id", "institution_id", "district_code", "file_id", "retain_until", "status"):
            batch_op.create_index(batch_op.f(f"ix_site_videos_{col}"), [col], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        _postgresql_guards()
    else:
        _sqlite_guards()


def _postgresql_guards() -> None:
    op.execute(f"""
        CREATE OR REPLACE FUNCTION qihang_spot_check_batches_guard() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION '{BATCH_REFUSED}';
        END;
        $$ LANGUAGE plpgsql;
    """)
    op.execute("""
        CREATE TRIGGER spot_check_batches_guard BEFORE UPDATE OR DELETE ON spot_check_batches
        FOR EACH ROW EXECUTE FUNCTION qihang_spot_check_batches_guard();
    """)
    op.execute(f"""
        CREATE OR REPLACE FUNCTION qihang_spot_check_items_guard() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION '{ITEM_REFUSED}: rows are never deleted';
            END IF;
            IF NEW.batch_id <> OLD.batch_id OR NEW.lesson_id <> OLD.lesson_id OR NEW.rank <> OLD.rank
               OR NEW.class_hours <> OLD.class_hours THEN
                RAISE EXCEPTION '{ITEM_REFUSED}: the drawn lesson cannot change';
            END IF;
            IF OLD.verdict IS NOT NULL THEN
                RAISE EXCEPTION '{ITEM_REFUSED}: the verdict is final';
            END IF;
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql;
    """)
    op.execute("""
        CREATE TRIGGER spot_check_items_guard BEFORE UPDATE OR DELETE ON spot_check_items
        FOR EACH ROW EXECUTE FUNCTION qihang_spot_check_items_guard();
    """)
    op.execute(f"""
        CREATE OR REPLACE FUNCTION qihang_site_videos_guard() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION '{SITE_REFUSED}: rows are never deleted';
            END IF;
            IF NEW.retain_until < OLD.retain_until THEN
                RAISE EXCEPTION '{SITE_REFUSED}: retain_until cannot be moved earlier';
            END IF;
            IF NEW.status = 'deleted' AND OLD.status <> 'deleted'
               AND (NEW.deleted_at IS NULL OR NEW.deleted_at < OLD.retain_until) THEN
                RAISE EXCEPTION '{SITE_REFUSED}: deletion before retain_until';
            END IF;
            IF OLD.status = 'deleted' AND NEW.status <> 'deleted' THEN
                RAISE EXCEPTION '{SITE_REFUSED}: a deleted video stays deleted';
            END IF;
            IF NEW.sha256 <> OLD.sha256 OR NEW.file_id <> OLD.file_id OR NEW.seq <> OLD.seq
               OR NEW.entry_hash <> OLD.entry_hash OR NEW.lesson_id <> OLD.lesson_id THEN
                RAISE EXCEPTION '{SITE_REFUSED}: the file and its manifest entry cannot change';
            END IF;
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql;
    """)
    op.execute("""
        CREATE TRIGGER site_videos_guard BEFORE UPDATE OR DELETE ON site_videos
        FOR EACH ROW EXECUTE FUNCTION qihang_site_videos_guard();
    """)


def _sqlite_guards() -> None:
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"""
            CREATE TRIGGER spot_check_batches_no_{verb.lower()} BEFORE {verb} ON spot_check_batches
            BEGIN SELECT RAISE(ABORT, '{BATCH_REFUSED}'); END;
        """)
    op.execute(f"""
        CREATE TRIGGER spot_check_items_no_delete BEFORE DELETE ON spot_check_items
        BEGIN SELECT RAISE(ABORT, '{ITEM_REFUSED}: rows are never deleted'); END;
    """)
    op.execute(f"""
        CREATE TRIGGER spot_check_items_guard BEFORE UPDATE ON spot_check_items
        WHEN NEW.batch_id <> OLD.batch_id OR NEW.lesson_id <> OLD.lesson_id OR NEW.rank <> OLD.rank
          OR NEW.class_hours <> OLD.class_hours OR OLD.verdict IS NOT NULL
        BEGIN SELECT RAISE(ABORT, '{ITEM_REFUSED}'); END;
    """)
    op.execute(f"""
        CREATE TRIGGER site_videos_no_delete BEFORE DELETE ON site_videos
        BEGIN SELECT RAISE(ABORT, '{SITE_REFUSED}: rows are never deleted'); END;
    """)
    # UTCDateTime is stored as 'YYYY-MM-DD HH:MM:SS.ffffff' on SQLite: text order is time order (as 0008).
    op.execute(f"""
        CREATE TRIGGER site_videos_retention BEFORE UPDATE ON site_videos
        WHEN NEW.retain_until < OLD.retain_until
          OR (NEW.status = 'deleted' AND OLD.status <> 'deleted'
              AND (NEW.deleted_at IS NULL OR NEW.deleted_at < OLD.retain_until))
          OR (OLD.status = 'deleted' AND NEW.status <> 'deleted')
          OR NEW.sha256 <> OLD.sha256 OR NEW.file_id <> OLD.file_id OR NEW.seq <> OLD.seq
          OR NEW.entry_hash <> OLD.entry_hash OR NEW.lesson_id <> OLD.lesson_id
        BEGIN SELECT RAISE(ABORT, '{SITE_REFUSED}'); END;
    """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, fn in (("site_videos", "site_videos"), ("spot_check_items", "spot_check_items"),
                          ("spot_check_batches", "spot_check_batches")):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_guard ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS qihang_{fn}_guard()")
    else:
        for name in ("site_videos_no_delete", "site_videos_retention", "spot_check_items_no_delete",
                     "spot_check_items_guard", "spot_check_batches_no_update", "spot_check_batches_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table("site_videos", schema=None) as batch_op:
        for col in ("status", "retain_until", "file_id", "district_code", "institution_id", "class_id", "lesson_id"):
            batch_op.drop_index(batch_op.f(f"ix_site_videos_{col}"))
    op.drop_table("site_videos")
    with op.batch_alter_table("spot_check_items", schema=None) as batch_op:
        for col in ("status", "assignee_user_id", "district_code", "class_id", "lesson_id", "batch_id"):
            batch_op.drop_index(batch_op.f(f"ix_spot_check_items_{col}"))
    op.drop_table("spot_check_items")
    with op.batch_alter_table("spot_check_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spot_check_batches_scope_prefix"))
    op.drop_table("spot_check_batches")
