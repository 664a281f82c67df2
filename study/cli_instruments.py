"""``flask --app app instruments …``: the instrument library from the command line.

The only Flask-aware part of the instrument layer: it resolves the bundled library and the site's
wording folder (``<instance>/wording``) and calls the pure functions of :mod:`instruments`. Every
misuse ends in one readable line and a non-zero exit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from instruments import (
    DefinitionError,
    Instrument,
    Library,
    bundled_dir,
    dump_definition,
    load_definition,
    load_library,
    missing_wording,
    read_wording_csv,
    site_wording_dir,
    write_wording,
)
from instruments.codebook import write_codebook
from instruments.definition import definition_filename
from instruments.redcap import import_redcap, import_redcap_forms, read_rows, write_redcap
from study.cli import explained

instruments_cli = AppGroup(
    "instruments", help="Instrument definitions, licensed wording and REDCap data dictionaries."
)

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
NEW_FILE = click.Path(dir_okay=False, writable=True, path_type=Path)


def wording_dir() -> Path:
    """Where this site keeps supplied wording of licensed instruments."""
    return site_wording_dir(current_app.instance_path)


def site_library(*, with_wording: bool = True) -> Library:
    """The bundled library, with this site's supplied wording merged in unless told otherwise."""
    with explained(DefinitionError):
        return load_library(bundled_dir(), wording_dir() if with_wording else None)


def instrument_of(library: Library, instrument_id: str, version: str | None) -> Instrument:
    """The instrument ``id`` at ``version`` (the newest without), or one line and exit 1."""
    try:
        return library.get(instrument_id, version)
    except LookupError as error:
        raise click.ClickException(str(error.args[0])) from None


@instruments_cli.command("list")
@click.option("--all-versions", is_flag=True, help="List every version, not only the newest.")
def list_command(all_versions: bool) -> None:
    """List the instruments: version, items, who completes them, scales, wording."""
    library = site_library()
    chosen = list(library) if all_versions else library.all()
    width = max(len(i.id) for i in chosen)
    for instrument in chosen:
        missing = missing_wording(instrument)
        wording = f"WORDING MISSING for {len(missing)} items" if missing else "wording complete"
        scales = ", ".join(s.name for s in instrument.scales) or "not scored"
        click.echo(
            f"{instrument.id:<{width}}  {instrument.version:<5}  {len(instrument.items):>3} items"
            f"  {instrument.completed_by:<7}  {scales}  ({wording})"
        )


@instruments_cli.command("check")
@click.argument("file", type=EXISTING_FILE)
def check_command(file: Path) -> None:
    """Validate one definition FILE against the schema."""
    with explained(DefinitionError):
        instrument = load_definition(file)
    scales = ", ".join(s.name for s in instrument.scales) or "no scales"
    click.echo(
        f"{file}: valid: {instrument.id} {instrument.version}, {len(instrument.items)} items,"
        f" {scales}"
    )
    expected = definition_filename(instrument.id, instrument.version)
    if file.name != expected:
        click.echo(f"note: save it as {expected} to add it to a library", err=True)
    missing = missing_wording(instrument)
    if missing:
        click.echo(
            f"note: {len(missing)} items have no wording; a site must supply it before use",
            err=True,
        )


def missing_code_list(ctx: click.Context, param: click.Parameter, value: str | None
                      ) -> tuple[str, ...]:
    """``"99, -9"`` -> ``("99", "-9")``; an empty code is a usage error."""
    if value is None:
        return ()
    codes = tuple(code.strip() for code in value.split(","))
    if not all(codes):
        raise click.BadParameter(f"{value!r}: give codes separated by commas, e.g. 99,-9")
    return codes


def write_definition(instrument: Instrument, out: Path) -> None:
    """Save ``instrument`` as YAML at ``out``, or one line and exit 1."""
    try:
        out.write_text(dump_definition(instrument), encoding="utf-8")
    except OSError as error:
        raise click.ClickException(f"cannot write {out}: {error.strerror}") from None


@instruments_cli.command("import-redcap")
@click.argument("csv_file", metavar="CSV", type=EXISTING_FILE)
@click.option("--out", type=NEW_FILE, help="Write the definition here (default: print it).")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              help="With several forms: write one definition per form here, named"
                   " <id>@<version>.yaml.")
@click.option("--form", help="The REDCap form to import (default: every form).")
@click.option("--id", "instrument_id", help="Instrument id (default: the form name).")
@click.option("--version", help='Version (default: "1.0").')
@click.option("--title", help="Title (default: from the form name).")
@click.option("--contact-field", "contact_fields", multiple=True, metavar="NAME",
              help="Keep this identifying field (an identifier, email or phone in REDCap) as "
                   "contact data that no research export carries; repeatable. Other identifying "
                   "fields are refused.")
@click.option("--missing-codes", callback=missing_code_list, metavar="CODES",
              help="Choice codes that mean missing data, separated by commas (e.g. 99,-9): "
                   "stored as given, never scored.")
@click.option("--page-per-section", is_flag=True,
              help="Start a new page at every section header (REDCap's survey option "
                   "'one section per page').")
def import_redcap_command(
    csv_file: Path,
    out: Path | None,
    out_dir: Path | None,
    form: str | None,
    instrument_id: str | None,
    version: str | None,
    title: str | None,
    contact_fields: tuple[str, ...],
    missing_codes: tuple[str, ...],
    page_per_section: bool,
) -> None:
    """Turn a REDCap data dictionary CSV into instrument definitions (YAML).

    A dictionary of one form, or the form chosen with --form, becomes one definition, printed or
    written to --out. A dictionary of several forms becomes one definition per form, written to
    --out-dir. What is left out is listed as warnings, one per line.
    """
    with explained(DefinitionError):
        forms = list(dict.fromkeys(row["Form Name"] for row in read_rows(csv_file)))
    if form is None and len(forms) > 1:
        several = f"the dictionary has {len(forms)} forms ({', '.join(forms)})"
        if out_dir is None:
            raise click.ClickException(
                f"{several}: give --out-dir DIR for one definition per form, or --form NAME")
        named = [name for name, value in (("--id", instrument_id), ("--version", version),
                                          ("--title", title), ("--out", out)) if value]
        if named:
            raise click.ClickException(f"{several}: {named[0]} names one; add --form NAME")
        with explained(DefinitionError):
            results = import_redcap_forms(
                csv_file, contact_fields=contact_fields, missing_codes=missing_codes,
                page_per_section=page_per_section,
            )
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise click.ClickException(f"cannot create {out_dir}: {error.strerror}") from None
        for result in results:
            for warning in result.warnings:
                click.echo(f"warning: {result.instrument.id}: {warning}", err=True)
        for result in results:
            instrument = result.instrument
            path = out_dir / definition_filename(instrument.id, instrument.version)
            write_definition(instrument, path)
            click.echo(f"Wrote {instrument.id} {instrument.version}"
                       f" ({len(instrument.items)} items) to {path}.")
        click.echo("Add scales before scoring.")
        return
    if out_dir is not None:
        raise click.ClickException("--out-dir is for a dictionary of several forms; use --out")
    with explained(DefinitionError):
        result = import_redcap(
            csv_file, form=form, instrument_id=instrument_id, version=version, title=title,
            contact_fields=contact_fields, missing_codes=missing_codes,
            page_per_section=page_per_section,
        )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    instrument = result.instrument
    if out is None:
        sys.stdout.write(dump_definition(instrument))
        return
    write_definition(instrument, out)
    click.echo(
        f"Wrote {instrument.id} {instrument.version} ({len(instrument.items)} items) to {out};"
        " add scales before scoring, and save it as"
        f" {definition_filename(instrument.id, instrument.version)} in a library."
    )


@instruments_cli.command("export-redcap")
@click.argument("instrument_id", metavar="ID")
@click.option("--out", type=NEW_FILE, required=True, help="The data dictionary CSV to write.")
@click.option("--version", help="Version (default: the newest).")
def export_redcap_command(instrument_id: str, out: Path, version: str | None) -> None:
    """Write instrument ID as a REDCap data dictionary CSV."""
    instrument = instrument_of(site_library(), instrument_id, version)
    try:
        write_redcap(instrument, out)
    except OSError as error:
        raise click.ClickException(f"cannot write {out}: {error.strerror}") from None
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"Wrote {instrument.id} {instrument.version} ({len(instrument.items)} fields) to {out}."
    )


@instruments_cli.command("supply-wording")
@click.argument("instrument_id", metavar="ID")
@click.argument("csv_file", metavar="CSV", type=EXISTING_FILE)
@click.option("--version", help="Version (default: the newest).")
def supply_wording_command(instrument_id: str, csv_file: Path, version: str | None) -> None:
    """Store this site's licensed wording for instrument ID.

    CSV has a header row naming columns key and text, and one row per item without bundled
    wording (a row with key _instructions adds instructions when none are bundled). It must fit
    the version exactly: every key known, none missing.
    """
    instrument = instrument_of(site_library(with_wording=False), instrument_id, version)
    if not missing_wording(instrument):
        raise click.ClickException(
            f"{instrument.id} {instrument.version} ships with its wording; nothing to supply"
        )
    try:
        path = write_wording(instrument, read_wording_csv(csv_file), wording_dir())
    except DefinitionError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot write the wording: {error}") from None
    click.echo(
        f"Stored the wording of {instrument.id} {instrument.version}"
        f" ({len(missing_wording(instrument))} items) in {path}. Restart the server to use it."
    )


@instruments_cli.command("codebook")
@click.argument("instrument_ids", metavar="[ID]...", nargs=-1)
@click.option("--out", type=NEW_FILE, required=True, help="The codebook CSV to write.")
def codebook_command(instrument_ids: tuple[str, ...], out: Path) -> None:
    """Write the codebook of the given instruments (default: all) as CSV."""
    library = site_library()
    chosen = [instrument_of(library, i, None) for i in instrument_ids] or library.all()
    try:
        write_codebook(chosen, out)
    except OSError as error:
        raise click.ClickException(f"cannot write {out}: {error.strerror}") from None
    click.echo(f"Wrote the codebook of {len(chosen)} instruments to {out}.")
