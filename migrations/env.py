"""Alembic environment: the engine and metadata come from the Flask app."""

from __future__ import annotations

from alembic import context

from study.extensions import db
from study.models import Base
from study.models.data_version import mapped_name

config = context.config
app = config.attributes.get("flask_app")
if app is None:  # run as plain `alembic` from the repository root
    from app import create_app

    app = create_app()


def run_migrations() -> None:
    with app.app_context():
        engine = db.engine
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                # A batch rebuild renames its copy of a table into place; SQLite's newer RENAME
                # checks every trigger first and fails on the data version's triggers that name
                # the table being rebuilt (migration 0015). The older RENAME does not.
                connection.exec_driver_sql("PRAGMA legacy_alter_table=ON")
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
                include_name=mapped_name,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
            if connection.dialect.name == "sqlite":  # the connection goes back to the pool
                connection.exec_driver_sql("PRAGMA legacy_alter_table=OFF")
                connection.commit()


run_migrations()
