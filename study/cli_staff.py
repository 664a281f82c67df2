"""Staff accounts and API tokens from the command line (DESIGN §7).

``create-user``, ``deactivate-user``, ``activate-user``, ``set-password``, ``remove-role``;
``create-token``, ``list-tokens``, ``revoke-token``. The rules live in ``services.staff`` and
``services.api_tokens``; these commands read their arguments and say what was done.
"""

from __future__ import annotations

import os
import sys

import click
from flask.cli import with_appcontext

from study.cli import commit_or_explain, database_command, explained, fail
from study.extensions import db
from study.models import Study, utcnow
from study.services import api_tokens, staff
from study.services.studies import get_study


def new_password() -> str:
    """A password: never an argument, which would end up in shell history and process lists."""
    password = os.environ.get("ALLPORT_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        fail("Set ALLPORT_PASSWORD or run in a terminal to type the password.")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _study_option(slug: str | None) -> Study | None:
    return get_study(db.session, slug) if slug else None


def _tokens_note(revoked: int) -> str:
    return f"{revoked} API token{'' if revoked == 1 else 's'} revoked"


@click.command("create-user")
@with_appcontext
@database_command
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(staff.ROLE_NAMES))
@click.option("--study", "study_slug", help="The study the coordinator or researcher works on.")
def create_user_command(email: str, role: str, study_slug: str | None) -> None:
    """Create a staff account, or add a role to one. Password: ALLPORT_PASSWORD or a prompt.

    An existing account keeps its password: with ALLPORT_PASSWORD set, the command refuses
    (set-password changes a password).
    """
    with commit_or_explain():
        email = staff.normalise_email(email)
        if role != staff.ADMIN and not study_slug:
            fail(f"A {role} needs --study SLUG.")
        study = _study_option(study_slug)
        if staff.find_account(db.session, email) is None:
            password: str | None = new_password()
        else:  # given for an existing account, the service refuses it rather than ignore it
            password = os.environ.get("ALLPORT_PASSWORD") or None
        change = staff.create_account(db.session, email, password, role=role, study=study,
                                      actor="cli")
    where = f" on study {study.slug!r}" if study is not None else ""
    if change.created:
        click.echo(f"Created {email}: {role}{where}.")
    elif change.changed:
        click.echo(f"Updated {email}: {role}{where}.")
    else:
        click.echo(f"{email} is {role}{where} already; nothing changed.")
    if not change.user.active:
        click.echo(f"{email} is deactivated: activate-user {email} lets it sign in again.")


@click.command("deactivate-user")
@with_appcontext
@database_command
@click.argument("email")
def deactivate_user_command(email: str) -> None:
    """Deactivate EMAIL's account: no sign-in, its sessions end, its API tokens are revoked.

    Its roles are kept; activate-user EMAIL undoes it (the tokens stay revoked).
    """
    with commit_or_explain():
        user = staff.get_account(db.session, email)
        revoked = staff.deactivate_account(db.session, user, actor="cli")
    click.echo(f"Deactivated {user.email}: its sessions are ended, {_tokens_note(revoked)}. "
               f"activate-user {user.email} undoes it.")


@click.command("activate-user")
@with_appcontext
@database_command
@click.argument("email")
def activate_user_command(email: str) -> None:
    """Let a deactivated account sign in again, with its password and roles."""
    with commit_or_explain():
        user = staff.get_account(db.session, email)
        staff.reactivate_account(db.session, user, actor="cli")
    click.echo(f"Reactivated {user.email}: it signs in with its password; API tokens revoked "
               "at deactivation stay revoked (create-token makes a new one).")


@click.command("set-password")
@with_appcontext
@database_command
@click.argument("email")
def set_password_command(email: str) -> None:
    """Give EMAIL a new password (ALLPORT_PASSWORD or a prompt); its sessions and API tokens end."""
    with commit_or_explain():
        user = staff.get_account(db.session, email)
        revoked = staff.set_password(db.session, user, new_password(), actor="cli")
    click.echo(f"New password for {user.email}: its sessions are ended, "
               f"{_tokens_note(revoked)}.")


@click.command("remove-role")
@with_appcontext
@database_command
@click.argument("email")
@click.option("--study", "study_slug", help="The study whose role is taken away.")
@click.option("--role", type=click.Choice(staff.ROLE_NAMES),
              help="Only this role (default: every role in --study); admin needs no --study.")
def remove_role_command(email: str, study_slug: str | None, role: str | None) -> None:
    """Take a role away from EMAIL (every role in --study, or --role); its sessions end."""
    if role == staff.ADMIN and study_slug:
        fail("The admin role belongs to no study: leave out --study.")
    if role != staff.ADMIN and not study_slug:
        fail("Name the study with --study SLUG (or give --role admin).")
    with commit_or_explain():
        user = staff.get_account(db.session, email)
        study = _study_option(study_slug)
        removed = staff.remove_role(db.session, user, role, study, actor="cli")
    where = f" in study {study.slug!r}" if study is not None else ""
    click.echo(f"{user.email} is no longer {' or '.join(removed)}{where}; its sessions are "
               "ended.")


@click.command("create-token")
@with_appcontext
@database_command
@click.argument("email")
@click.option("--name", default="API token", show_default=True,
              help="What the token is for, to recognise it later.")
@click.option("--expires-days", type=int, metavar="N",
              help=f"The token stops working after N days (1 to {api_tokens.MAX_EXPIRY_DAYS}; "
                   "default: never).")
@click.option("--study", "study_slug",
              help="The token opens this study only (default: every study of the account).")
def create_token_command(email: str, name: str, expires_days: int | None,
                         study_slug: str | None) -> None:
    """Issue a personal API token for EMAIL; it is printed once and only its hash is kept."""
    with commit_or_explain():
        user = staff.get_account(db.session, email)
        token, raw = api_tokens.issue_token(db.session, user, name, actor="cli",
                                            expires_days=expires_days,
                                            study=_study_option(study_slug))
    limits = []
    if token.expires_at is not None:
        limits.append(f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC")
    if study_slug:
        limits.append(f"study {study_slug} only")
    click.echo(f"Token {token.id} ({token.name}) for {user.email}"
               + (f", {', '.join(limits)}" if limits else "") + "; it is shown only now:",
               err=True)
    click.echo(raw)


@click.command("list-tokens")
@with_appcontext
@database_command
@click.argument("email")
def list_tokens_command(email: str) -> None:
    """List EMAIL's API tokens with their expiry and study (never the tokens themselves)."""
    with explained():
        user = staff.get_account(db.session, email)
    now = utcnow()
    for token in api_tokens.tokens_of(db.session, user):
        used = token.last_used_at.isoformat(timespec="minutes") if token.last_used_at else "never"
        expires = f"{token.expires_at:%Y-%m-%d %H:%M}" if token.expires_at else "never"
        scope = f"study {token.study.slug}" if token.study is not None else "all studies"
        if token.revoked_at:
            state = f"revoked {token.revoked_at:%Y-%m-%d}"
        elif token.expired(now):
            state = "expired"
        else:
            state = "active"
        click.echo(f"{token.id}\t{token.name}\tcreated {token.created_at:%Y-%m-%d}\t"
                   f"last used {used}\texpires {expires}\t{scope}\t{state}")


@click.command("revoke-token")
@with_appcontext
@database_command
@click.argument("token_id", type=int)
def revoke_token_command(token_id: int) -> None:
    """Revoke the API token with id TOKEN_ID (see list-tokens); it stops working at once."""
    with commit_or_explain():
        token = api_tokens.revoke_token(db.session, token_id, actor="cli")
    click.echo(f"Revoked token {token.id} ({token.name}).")


staff_commands = (create_user_command, deactivate_user_command, activate_user_command,
                  set_password_command, remove_role_command, create_token_command,
                  list_tokens_command, revoke_token_command)
