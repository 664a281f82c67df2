"""oTree 6 settings for the benchmark: one session config, one app, oTree's own defaults otherwise.

bench/otree.py copies this project into a scratch folder and serves it with `otree prodserver`,
so the database is oTree's default SQLite file (db.sqlite3) in that folder.
"""

from os import environ

SESSION_CONFIGS = [
    dict(
        name="intergroup_anxiety",
        display_name="Intergroup Anxiety Scale (12 adjectives)",
        app_sequence=["intergroup_anxiety"],
        num_demo_participants=1,
    ),
]

SESSION_CONFIG_DEFAULTS = dict(real_world_currency_per_point=1.00, participation_fee=0.00, doc="")

PARTICIPANT_FIELDS: list[str] = []
SESSION_FIELDS: list[str] = []

LANGUAGE_CODE = "en"
REAL_WORLD_CURRENCY_CODE = "USD"
USE_POINTS = True

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = environ.get("OTREE_ADMIN_PASSWORD")

DEMO_PAGE_INTRO_HTML = ""

# The bench passes a fresh random key in OTREE_SECRET_KEY; this fallback only serves a hand run.
SECRET_KEY = environ.get("OTREE_SECRET_KEY", "allport-bench-not-secret")
