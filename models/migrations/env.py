"""Alembic environment: runs on the connection handed in by ``Database.migrate``."""
from alembic import context

from models import Base

config = context.config
target_metadata = Base.metadata

connection = config.attributes.get("connection")
if connection is None:  # `alembic` CLI use: build one from the settings
    from models.db import make_engine
    from server.settings import Settings

    engine = make_engine(Settings.from_env().database_url)
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
