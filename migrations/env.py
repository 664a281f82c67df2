"""Alembic environment: the engine and metadata come from the Flask app."""

from __future__ import annotations

from alembic import context

from study.extensions import db
from study.models import Base

config = context.config
app = config.attributes.get("flask_app")
if app is None:  # run as plain `alembic` from the repository root
    from app import create_app

    app = create_app()


def run_migrations() -> None:
    with app.app_context():
        engine = db.engine
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()


run_migrations()
