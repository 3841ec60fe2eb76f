"""German and English: which one a request gets, the German strings, dates and sizes.

The language is the ``pi_lang`` cookie (set by the switch at the foot of each
page, `GET /lang`), else the best of ``Accept-Language``, else English. The
English text is the key: a page calls ``_("Mark read")``; `tests/web/test_i18n.py`
checks that every such string in the templates and the Python views has a
German entry here, so nothing is left untranslated.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from posteingang.web.catalog_de import GERMAN

__all__ = ["LANGUAGES", "context", "language", "set_language", "translator"]

LANGUAGES = ("en", "de")
COOKIE = "pi_lang"


# Keys that are names, not English text.
ENGLISH = {
    "policy-expunge": "delete for good",
    "policy-trash": "move to Trash",
    "policy-hide": "hide from POP3 only (stays in IMAP and webmail)",
}
CATALOGS = {"de": GERMAN, "en": ENGLISH}


def language(request: Request) -> str:
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    best, best_q = "en", 0.0
    for item in request.headers.get("accept-language", "").split(",")[:20]:
        tag, _, params = item.strip().partition(";")
        code = tag.strip().lower().split("-", 1)[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if code in LANGUAGES and q > best_q:
            best, best_q = code, q
    return best


def translator(request: Request) -> Callable[[str], str]:
    catalog = CATALOGS.get(language(request), {})
    return lambda text: catalog.get(text, text)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def context(request: Request) -> dict[str, object]:
    """What every template gets: ``_``, ``lang`` and localised ``date``/``datetime``/``size``."""
    lang = language(request)
    german = lang == "de"

    def date(moment: datetime) -> str:
        return _utc(moment).strftime("%d.%m.%Y" if german else "%Y-%m-%d")

    def date_time(moment: datetime) -> str:
        return _utc(moment).strftime("%d.%m.%Y %H:%M UTC" if german else "%Y-%m-%d %H:%M UTC")

    def size(octets: int) -> str:
        small = octets < 1024 * 1024
        value = f"{octets / 1024:.1f}" if small else f"{octets / 1048576:.1f}"
        unit = "KB" if small else "MB"
        return f"{value.replace('.', ',') if german else value} {unit}"

    return {
        "_": translator(request),
        "lang": lang,
        "date": date,
        "datetime": date_time,
        "size": size,
    }


async def set_language(request: Request) -> Response:
    """``GET /lang?set=de&next=/mail``: remember the choice (a display preference only)."""
    from posteingang.web.guard import local_path

    chosen = request.query_params.get("set", "")
    response = RedirectResponse(local_path(request.query_params.get("next"), "/"), 303)
    if chosen in LANGUAGES:
        response.set_cookie(
            COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )
    return response
