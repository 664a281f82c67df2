"""The library: every version of every instrument, loaded and validated together."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from instruments.definition import definition_filename, load_definition, version_key
from instruments.errors import DefinitionError
from instruments.model import Instrument
from instruments.wording import apply_wording, read_wording_csv, wording_filename

BUNDLED = Path(__file__).parent / "library"


def bundled_dir() -> Path:
    """The folder of the definitions that ship with Allport."""
    return BUNDLED


def site_wording_dir(instance_path: str | Path) -> Path:
    """The folder where a site keeps its supplied licensed wording: ``<instance>/wording``."""
    return Path(instance_path) / "wording"


class Library:
    """Instruments by id and version; the newest version is the default."""

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self._by_id: dict[str, dict[str, Instrument]] = {}
        for instrument in instruments:
            versions = self._by_id.setdefault(instrument.id, {})
            if instrument.version in versions:
                raise ValueError(f"{instrument.id} {instrument.version} is in the library twice")
            versions[instrument.version] = instrument
        for instrument_id, versions in self._by_id.items():
            self._by_id[instrument_id] = dict(
                sorted(versions.items(), key=lambda pair: version_key(pair[0]))
            )

    def get(self, id: str, version: str | None = None) -> Instrument:
        """The instrument ``id`` at ``version`` (the newest when ``None``).

        Raises
        ------
        LookupError
            With a readable message naming what is available.
        """
        versions = self._by_id.get(id)
        if not versions:
            known = ", ".join(sorted(self._by_id)) or "none"
            raise LookupError(f"no instrument {id!r} in the library (known: {known})")
        if version is None:
            return next(reversed(versions.values()))
        try:
            return versions[str(version)]
        except KeyError:
            raise LookupError(
                f"instrument {id!r} has no version {version!r} (versions: {', '.join(versions)})"
            ) from None

    def all(self) -> list[Instrument]:
        """The newest version of each instrument, by id."""
        return [self.get(instrument_id) for instrument_id in sorted(self._by_id)]

    def versions(self, id: str) -> list[str]:
        """The versions of ``id``, oldest first."""
        self.get(id)
        return list(self._by_id[id])

    def __iter__(self) -> Iterator[Instrument]:
        """Every version of every instrument."""
        for instrument_id in sorted(self._by_id):
            yield from self._by_id[instrument_id].values()

    def __contains__(self, id: object) -> bool:
        return id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)


def load_library(
    directory: str | Path | None = None, wording_dir: str | Path | None = None
) -> Library:
    """Load and validate every ``<id>@<version>.yaml`` in ``directory`` and merge supplied wording.

    Parameters
    ----------
    directory
        Folder of definition files; ``None`` for the bundled library.
    wording_dir
        A site's folder of supplied licensed wording (``<id>@<version>.csv``); it may not exist.

    Raises
    ------
    DefinitionError
        For the first invalid file, on one line.
    """
    folder = Path(directory) if directory is not None else BUNDLED
    if not folder.is_dir():
        raise DefinitionError(str(folder), "is not a folder of instrument definitions")
    instruments: dict[tuple[str, str], Instrument] = {}
    for path in sorted(folder.glob("*.yaml")):
        instrument = load_definition(path)
        expected = definition_filename(instrument.id, instrument.version)
        if path.name != expected:
            raise DefinitionError(
                str(path), f"the file name must be {expected} to match its id and version"
            )
        instruments[instrument.id, instrument.version] = instrument
    if wording_dir is not None and Path(wording_dir).is_dir():
        by_file = {wording_filename(*key): key for key in instruments}
        for path in sorted(Path(wording_dir).glob("*.csv")):
            key = by_file.get(path.name)
            if key is None:
                raise DefinitionError(
                    str(path),
                    "supplies wording for an instrument version that is not in the library",
                )
            instruments[key] = apply_wording(instruments[key], read_wording_csv(path), str(path))
    return Library(instruments.values())


def load_site_library(instance_path: str | Path) -> Library:
    """The bundled library with the wording a site has supplied in ``<instance>/wording``."""
    return load_library(None, site_wording_dir(instance_path))
