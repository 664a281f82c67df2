"""Where a questionnaire's items are asked: its pages, and which items apply given the answers.

An item's branching logic (``Item.show_if``, :mod:`instruments.branching`) decides whether it is
asked. The server is the authority: the trainee's page is built from :func:`applicable` and a
posted page is stored by it (``journey.save_answers``); ``static/branching.js`` only mirrors the
decision in the browser while the page is open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from instruments import Instrument, Item
from instruments.branching import evaluate, parse_condition

Pages = tuple[tuple[Item, ...], ...]


def pages(instrument: Instrument) -> Pages:
    """The instrument's pages: at most ``page_size`` items each, and a new one at ``new_page``.

    An instrument without items has one empty page, so that a trainee can still submit it.
    """
    result: list[list[Item]] = [[]]
    size = instrument.page_size
    for item in instrument.items:
        current = result[-1]
        if current and (item.new_page or (size is not None and len(current) >= size)):
            result.append([])
        result[-1].append(item)
    return tuple(tuple(page) for page in result)


def applicable(instrument: Instrument, answers: Mapping[str, str | None]) -> dict[str, bool]:
    """Item key -> whether the item is asked, given the stored text of the answers.

    ``answers`` holds answered items only (a blank or unanswered item is absent or ``None``).
    An item that is not asked counts as unanswered for the conditions of others, so a chain of
    conditions resolves: conditions are decided in item order, again until nothing changes (a
    condition may refer to a later item).
    """
    items = instrument.items
    asked = {item.key: True for item in items}
    for _ in range(len(items) + 1):
        effective = {key: value for key, value in answers.items() if asked.get(key, True)}
        changed = False
        for item in items:
            if item.show_if is None:
                continue
            now = evaluate(parse_condition(item.show_if), effective)
            if now != asked[item.key]:
                asked[item.key] = now
                changed = True
                if not now:
                    effective.pop(item.key, None)
                elif answers.get(item.key) is not None:
                    effective[item.key] = answers[item.key]
        if not changed:
            break
    return asked


def asked_answers(answers: Mapping[str, str | None], asked: Mapping[str, bool]
                  ) -> dict[str, str]:
    """The answers of the items that are asked (what conditions and the script read)."""
    return {key: value for key, value in answers.items()
            if value is not None and asked.get(key, True)}


def page_applies(page: Sequence[Item], asked: Mapping[str, bool]) -> bool:
    """A page is shown when at least one of its items is asked (an empty page is shown)."""
    return not page or any(asked.get(item.key, True) for item in page)


def next_page(all_pages: Pages, after: int, asked: Mapping[str, bool]) -> int | None:
    """The first page after ``after`` with an item asked; ``None`` when there is none."""
    return next((i for i in range(after + 1, len(all_pages))
                 if page_applies(all_pages[i], asked)), None)


def skippable_pages_after(all_pages: Pages, page: int) -> Pages | None:
    """The pages after ``page`` when each of them may be skipped, else ``None``.

    A page may be skipped when every item on it has a condition. When one of them cannot be,
    a next page is certain whatever the answers; otherwise whether there is one depends on
    the answers (the page's button says "Next page" or "Submit answers" accordingly).
    """
    later = all_pages[page + 1:]
    if all(later_page and all(item.show_if is not None for item in later_page)
           for later_page in later):
        return later
    return None


def previous_page(all_pages: Pages, before: int, asked: Mapping[str, bool]) -> int | None:
    """The last page before ``before`` with an item asked; ``None`` when there is none."""
    return next((i for i in range(before - 1, -1, -1)
                 if page_applies(all_pages[i], asked)), None)


def resolve_page(all_pages: Pages, wanted: int, asked: Mapping[str, bool]) -> int:
    """The page to show for ``wanted``: itself when asked, else the next shown, else the last."""
    wanted = min(max(wanted, 0), len(all_pages) - 1)
    if page_applies(all_pages[wanted], asked):
        return wanted
    found = next_page(all_pages, wanted, asked)
    if found is None:
        found = previous_page(all_pages, wanted, asked)
    return wanted if found is None else found


def page_of(all_pages: Pages, key: str) -> int:
    """The index of the page that holds item ``key``."""
    return next(i for i, page in enumerate(all_pages) if any(item.key == key for item in page))
