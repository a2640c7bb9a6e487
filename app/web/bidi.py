"""Bidirectional isolation of member-written strings in pages.

A display name ending in U+202E (RIGHT-TO-LEFT OVERRIDE), or simply written in
Arabic or Hebrew, reorders the text that follows it: "Zoe‮ @zoe" shows as
"Zoe eoz@". Every template prints such strings through one of these filters:
``|bdi`` in HTML text (a ``<bdi>`` element, which browsers isolate), ``|isolate``
where no element may go (``<title>``, SVG text): the Unicode
isolates FSI … PDI, which do the same for plain text. (An ``<option>`` is left
as it is: its text shares its line with nothing else.) A message built in Python
(a flash note) marks its member-written parts with :func:`isolate`, and the page
prints it with ``|isolated``, which turns those marks into ``<bdi>`` elements (so
the text a reader copies or a test looks for has no invisible characters).
"""

from __future__ import annotations

from markupsafe import Markup, escape

FSI, PDI = "\u2068", "\u2069"  # FIRST STRONG ISOLATE, POP DIRECTIONAL ISOLATE


def bdi(value: object) -> Markup:
    """``value`` escaped, inside a ``<bdi>`` element."""
    return Markup("<bdi>%s</bdi>") % ("" if value is None else value)


def isolate(value: object) -> str:
    """``value`` between FSI and PDI, as plain text (escaped where it is printed):
    for contexts that hold only text, and for messages built in Python."""
    return f"{FSI}{'' if value is None else value}{PDI}"


def isolated(message: object) -> Markup:
    """``message`` escaped, with each FSI … PDI pair made a ``<bdi>`` element."""
    text = str(escape("" if message is None else message))
    if text.count(FSI) != text.count(PDI):
        return Markup(text)  # noqa: S704 - escaped above
    return Markup(text.replace(FSI, "<bdi>").replace(PDI, "</bdi>"))  # noqa: S704 - escaped above
