"""Every page, in Spanish and in English, on a laptop (1366 px) and on a phone (390 px), is read
as a person reads it. A page fails on:

- horizontal overflow of the page itself (``document.scrollingElement``): a wide table scrolls
  inside its own box (``.table-wrap``), the page does not;
- the other language's words: on a Spanish page, the text of an English translation of the
  catalogs, or a machine value in English (``READY``, ``numeric``); on an English page, a
  Spanish message left untranslated (``ALLOWED`` lists the terms that stay as they are, each
  with its reason);
- a number with more than 6 significant digits (``0.8769642857142856``);
- an image that does not load, and an error in the console (uncaught exceptions included).

Only what a person sees is read: the page's ``innerText`` without code blocks (``code``, ``pre``,
``kbd``, ``samp``) and download links. The pages are those of the policy check (pages.PAGES),
built once; one browser context per language and width, logged in once.
"""

import gettext
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation
from playwright.sync_api import Browser, Page

from tests.browser.pages import HTMX_WATCH_SCRIPT, PAGES, PageVisit, Site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANGUAGES = ("es", "en")
WIDTHS = (1366, 390)
MAX_SIGNIFICANT_DIGITS = 6

# --- the words of each language --------------------------------------------------------------

# Terms that stay as they are in both languages, and why. A message of the catalogs whose text
# is one of these (or is made of them) is never taken for the other language's.
ALLOWED: dict[str, str] = {
    "MLflow": "the product's name",
    "Run ID": "MLflow's own term for a run's id, kept in both languages",
    "Run": "MLflow's term (a run), kept in Spanish: «Run en curso»",
    "Alias": "MLflow's term, the same word in both languages",
    "CSV": "a file format",
    "JSON": "a file format",
    "API": "an acronym, the same in both languages",
    "Cauce": "the product's name",
    "None": "Python's literal, a value of scikit-learn's hyperparameters typed as is in the "
    "experiment form (its options «Sí (True)», «No (False)», «None»; defaults «None»)",
}
# Phrases quoted in a message as one types them, blanked from the text before it is read.
ALLOWED_PHRASES: dict[str, str] = {
    "mlflow models serve": "MLflow's command, quoted in the prediction API's help",
}

# Text that is not a message but marks a placeholder, markup or an escape in one.
_PLACEHOLDER = re.compile(r"%\(\w+\)[sdifr]|%[sdifr]|\{\w*\}|<[^>]*>|&\w+;")
_EDGE = " \t\n«»\"'“”\u2018\u2019:;,.()[]¿?¡!·—\u2013-…/"
_WORD = re.compile(r"[^\W\d_]+")
# A one-word message counts only from this length on: shorter words ("Por"/"By", "Rol",
# "Ver") are too common in the other language's text and in names to tell anything. A single
# word left between placeholders ("{{ done }} de {{ total }} filas") does not count alone.
MIN_ONE_WORD_LETTERS = 4


def _catalog_files() -> list[Path]:
    root = Path(settings.BASE_DIR)
    return [
        *sorted(root.glob("cauce/*/locale/en/LC_MESSAGES/django.mo")),
        root / "locale/en/LC_MESSAGES/django.mo",
    ]


def _fragments(message: str) -> set[str]:
    """The literal pieces of a message a page shows whole: split at placeholders and markup,
    trimmed of punctuation, kept when they hold two words or more; a message of one long word
    is kept too."""
    if len(_WORD.findall(message)) == 1:
        word = message.strip(_EDGE)
        return {word} if len(word) >= MIN_ONE_WORD_LETTERS and _WORD.fullmatch(word) else set()
    pieces = set()
    for piece in _PLACEHOLDER.split(message):
        piece = " ".join(piece.split()).strip(_EDGE)
        if len(_WORD.findall(piece)) >= 2:
            pieces.add(piece)
    return pieces


@cache
def catalog_words() -> dict[str, frozenset[str]]:
    """{"es": the Spanish msgids' pieces, "en": the English translations' pieces}, read from
    the compiled English catalogs (``make install`` compiles them). A piece both languages
    share, or made only of allowed terms, is neither's."""
    spanish, english = set(), set()
    files = _catalog_files()
    missing = [str(path) for path in files if not path.exists()]
    assert missing == [], f"compile the catalogs first (make install): {missing}"
    for path in files:
        with path.open("rb") as handle:
            catalog = gettext.GNUTranslations(handle)._catalog
        for key, translated in catalog.items():
            msgid = key[0] if isinstance(key, tuple) else key
            msgid = msgid.split("\x04")[-1]  # without its context
            if not msgid or msgid == translated:
                continue
            spanish |= _fragments(msgid)
            english |= _fragments(translated)
    shared = spanish & english
    allowed_words = {word for term in ALLOWED for word in _WORD.findall(term)}

    def keep(piece: str) -> bool:
        return piece not in shared and not set(_WORD.findall(piece)) <= allowed_words

    return {
        "es": frozenset(filter(keep, spanish)),
        "en": frozenset(filter(keep, english)),
    }


@cache
def _other_language_pattern(language: str) -> re.Pattern:
    """Whole pieces of the other language's messages, longest first, case as written."""
    other = "en" if language == "es" else "es"
    pieces = sorted(catalog_words()[other], key=len, reverse=True)
    # Whole words, not part of a file name or an address ("metrics.json", "plots/", "models:/").
    return re.compile(
        r"(?<![\w./])(?:" + "|".join(map(re.escape, pieces)) + r")(?![\w/]|[.:]\w|:/)"
    )


# Machine values that are English words, never to be shown as such on a Spanish page.
RAW_VALUES = re.compile(
    r"(?<![\w./])(?:READY|PENDING_REGISTRATION|FAILED_REGISTRATION|PREDICTION|PROBABILITY_\w+"
    r"|numeric|categorical)(?![\w/]|[.:]\w)"
)


def other_language_words(text: str, language: str) -> dict[str, str]:
    """{piece of the other language: the text around its first appearance}."""
    text = " ".join(text.split())
    for phrase in ALLOWED_PHRASES:
        text = text.replace(phrase, " ")
    found = {}
    patterns = [_other_language_pattern(language)] + ([RAW_VALUES] if language == "es" else [])
    for match in (m for pattern in patterns for m in pattern.finditer(text)):
        found.setdefault(match.group(), text[max(0, match.start() - 40) : match.end() + 40])
    return found


# --- numbers -------------------------------------------------------------------------------

# A number standing alone: not part of a word, an id or a uuid, a date (2026-12-06, 06/12),
# a time (04:16:17), a path or an address (127.0.0.1:8000).
_NUMBER = re.compile(r"(?<![\w/:.,\-])-?\d(?:[\d.,]*\d)?(?![\w/:\-]|[.,]\d)")


def significant_digits(number: str) -> int:
    digits = re.sub(r"\D", "", number).lstrip("0")
    if not re.search(r"[.,]", number):
        digits = digits.rstrip("0")  # an integer's trailing zeros say nothing of precision
    return len(digits)


def long_numbers(text: str) -> list[str]:
    return sorted(
        {n for n in _NUMBER.findall(text) if significant_digits(n) > MAX_SIGNIFICANT_DIGITS}
    )


# --- what the browser reports ----------------------------------------------------------------

OVERFLOW_SCRIPT = """() => {
  const root = document.scrollingElement;
  const width = root.clientWidth;
  if (root.scrollWidth <= width) return null;
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + [...el.classList].map((c) => "." + c).join("");
  const clipped = (el) => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (getComputedStyle(up).overflowX !== "visible") return true;
    }
    return false;
  };
  const wide = [...document.body.querySelectorAll("*")].filter((el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.right > width + 1 && !clipped(el);
  });
  const outer = wide.filter((el) => !wide.some((other) => other !== el && other.contains(el)));
  return {
    scrollWidth: root.scrollWidth, clientWidth: width, culprits: outer.slice(0, 4).map(describe),
  };
}"""

# Not read: code blocks and download links.
NOT_TEXT = "code, pre, kbd, samp, a[download]"
# Not read for the language: what a user wrote, in the language they chose (an artifact's
# table, its column names included, or Markdown as previewed; the names of objects are chosen
# not to be messages).
USER_TEXT = ".artifact-table table, .artifact-markdown"

# The skipped elements are hidden while the text is read (through the CSSOM, which the Content
# Security Policy allows), then shown again.
VISIBLE_TEXT_SCRIPT = """([notText, userText]) => {
  const read = (selector) => {
    const skipped = [...document.querySelectorAll(selector)];
    skipped.forEach((el) => el.style.setProperty("display", "none", "important"));
    const text = document.body.innerText;
    skipped.forEach((el) => el.style.removeProperty("display"));
    return text;
  };
  return {all: read(notText), written: read(notText + ", " + userText)};
}"""

BROKEN_IMAGES_SCRIPT = """() => [...document.images]
  .filter((img) => img.complete && img.naturalWidth === 0)
  .map((img) => img.currentSrc || img.src)"""


@dataclass(frozen=True)
class Finding:
    page: str
    language: str
    width: int
    kind: str  # overflow, language, number, image, console
    detail: str
    context: str = ""

    def __str__(self) -> str:
        where = f"  «{self.context}»" if self.context else ""
        return f"{self.page} [{self.language} {self.width}px] {self.kind}: {self.detail}{where}"


# Pages not read for the language (every other rule still holds), and why: the prefix of the
# route's name, the reason.
NOT_TRANSLATED_PAGES: dict[str, str] = {
    "swagger-ui": "Swagger UI draws its own interface in English; the API's schema follows "
    "the API's language rule (Accept-Language), not the page's switch",
    "admin:": "Django's admin: field labels made from field names, third-party apps' own "
    "catalogs, permission names stored in the language of the migration",
}

# Console errors that are a defence doing its job, and why.
EXPECTED_CONSOLE = {
    "because the document's frame is sandboxed and the 'allow-scripts' permission is not set": (
        "an HTML artifact's own script, blocked by the preview's sandbox on purpose"
    ),
}


# --- the visit -------------------------------------------------------------------------------


def _findings(page: Page, visit: PageVisit, language: str, width: int, errors: list) -> list:
    found = []

    def add(kind: str, detail: str, context: str = "") -> None:
        found.append(Finding(visit.id, language, width, kind, detail, context))

    overflow = page.evaluate(OVERFLOW_SCRIPT)
    if overflow:
        add(
            "overflow",
            f"{overflow['scrollWidth']}px > {overflow['clientWidth']}px "
            f"({', '.join(overflow['culprits'])})",
        )
    for src in page.evaluate(BROKEN_IMAGES_SCRIPT):
        add("image", src)
    text = page.evaluate(VISIBLE_TEXT_SCRIPT, [NOT_TEXT, USER_TEXT])
    if not visit.name.startswith(tuple(NOT_TRANSLATED_PAGES)):
        for words, around in other_language_words(text["written"], language).items():
            add("language", words, around)
    for number in long_numbers(text["all"]):
        add("number", number)
    for error in errors:
        if not any(expected in error for expected in EXPECTED_CONSOLE):
            add("console", error)
    errors.clear()
    return found


def _settle(page: Page) -> None:
    """The page loaded (``goto`` waits for it) and htmx's requests done, twice over a short
    pause: a part htmx loads may load another. Quicker than waiting for the network to be
    idle (half a second more on every one of the visits)."""
    for _ in range(2):
        page.wait_for_function("() => (window.__cauceHtmxInFlight || 0) === 0", timeout=15_000)
        page.wait_for_timeout(150)


def _visit(page: Page, base_url: str, site: Site, visit: PageVisit, language, width, errors):
    response = page.goto(f"{base_url}{visit.url(site)}")
    assert response is not None and response.status == 200, (visit.id, response and response.status)
    _settle(page)
    if visit.steps and not visit.steps_change_data:
        with translation.override(language):
            visit.steps(page)
        _settle(page)
    return _findings(page, visit, language, width, errors)


def _console(message, errors: list) -> None:
    if message.type == "error":
        url = message.location.get("url", "")
        errors.append(f"{message.text} ({url})" if url else message.text)


def _login(page: Page, base_url: str, site: Site) -> None:
    page.goto(f"{base_url}{reverse('login')}")
    page.fill("input[name=username]", site.owner.get_username())
    page.fill("input[name=password]", "pw-olga")
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_every_page_reads_right_in_both_languages_at_both_widths(
    browser: Browser, live_server, site: Site, record_property
):
    findings: list[Finding] = []
    visits: Counter = Counter()
    for language in LANGUAGES:
        for width in WIDTHS:
            context = browser.new_context(
                viewport={"width": width, "height": 900}, locale="es-ES", accept_downloads=True
            )
            context.add_cookies(
                [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
            )
            context.add_init_script(HTMX_WATCH_SCRIPT)
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m, e=errors: _console(m, e))
            page.on("pageerror", lambda exc, e=errors: e.append(f"uncaught: {exc}"))
            try:
                for visit in sorted(PAGES, key=lambda v: not v.anonymous):
                    if not visit.anonymous and not visits[(language, width, "logged in")]:
                        _login(page, live_server.url, site)
                        errors.clear()
                        visits[(language, width, "logged in")] = 1
                    findings += _visit(page, live_server.url, site, visit, language, width, errors)
                    visits[(visit.id, language, width)] += 1
            finally:
                context.close()

    pages = {key[0] for key in visits if key[2] != "logged in"}
    summary = (
        f"pages check: {len(pages)} pages x {len(WIDTHS)} widths x {len(LANGUAGES)} languages "
        f"= {sum(n for key, n in visits.items() if key[2] != 'logged in')} visits; "
        f"{len(findings)} findings"
    )
    record_property("browser_check", summary)
    print(summary)
    assert len(pages) == len(PAGES)

    assert findings == [], "\n" + "\n".join(map(str, findings))
