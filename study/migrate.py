"""Alembic, driven from the app: ``flask --app app init-db`` upgrades to the newest revision."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from flask import Flask

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(app: Flask) -> Config:
    """Alembic's configuration in code (no alembic.ini), carrying the app to ``env.py``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["flask_app"] = app
    return config


def upgrade(app: Flask, revision: str = "head") -> None:
    """Migrate the app's database to ``revision`` (what ``flask init-db`` runs)."""
    command.upgrade(alembic_config(app), revision)
