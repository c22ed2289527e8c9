"""Finding a noise by name: in one suite, or in the sysnoise suite and then the others."""

from __future__ import annotations

import difflib

from sysnoise.errors import UnknownNameError
from sysnoise.noises.suites import SUITES, Noise

DEFAULT_SUITE = "sysnoise"


def find_noise(name: str, suite: str | None = None) -> tuple[Noise, str]:
    """The noise called `name` and the suite it was found in.

    Without `suite`, the sysnoise suite is searched first, then every other suite. An unknown
    name raises with the closest names (or the searched suite's names when none is close).
    """
    suites = [suite] if suite is not None else _search_order()
    names: list[str] = []
    for suite_name in suites:
        for noise in SUITES.get(suite_name).build():
            if noise.name == name:
                return noise, suite_name
            names.append(noise.name)
    names = list(dict.fromkeys(names))
    close = difflib.get_close_matches(name, names, n=6, cutoff=0.5)
    where = f"suite {suite}" if suite is not None else f"suites {', '.join(suites)}"
    if close:
        hint = f"did you mean: {', '.join(close)}"
    else:
        listed = [n.name for n in SUITES.get(suites[0]).build()]
        hint = f"names in suite {suites[0]}: {', '.join(listed)}"
    raise UnknownNameError(f"unknown noise {name!r} in {where}; {hint}")


def _search_order() -> list[str]:
    names = SUITES.names()
    return [DEFAULT_SUITE, *(n for n in names if n != DEFAULT_SUITE)]
