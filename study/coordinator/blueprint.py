"""The coordinator blueprint; each module of this package adds its pages to it."""

from flask import Blueprint

bp = Blueprint("coordinator", __name__, url_prefix="/coordinator")
