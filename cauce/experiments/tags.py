"""What a valid experiment tag is. A leaf: the services, the outbox (``tag_sync``), the
API and the admin all take the rules from here."""

import hashlib
import re
from collections.abc import Iterable

from django.utils.translation import gettext as _

from cauce.core.exceptions import ApplicationError

# Each tag becomes two MLflow run tags (tag_<i> and cauce.tag.<tag>), written 100 per request;
# 100 tags keep a run readable in the MLflow UI and its sync to three requests.
MAX_TAGS = 100
MAX_TAG_LENGTH = 100


def _fail(message: str) -> ApplicationError:
    return ApplicationError(message, extra={"tags": message})


def tag_is_valid(tag: str) -> bool:
    """A tag Cauce accepts (after trimming): no comma (``all_tags`` is comma-joined), at most
    ``MAX_TAG_LENGTH`` characters, any other unicode."""
    tag = " ".join(tag.split())
    return bool(tag) and "," not in tag and len(tag) <= MAX_TAG_LENGTH


def tags_normalize(tags: Iterable[str] | str | None, *, limit: int | None = MAX_TAGS) -> list[str]:
    """Trimmed, inner spaces collapsed, without empties, without case-insensitive duplicates
    (case is kept: the first spelling wins). A comma or an over-long tag is refused, and
    more than ``limit`` tags."""
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = tags.split(",")
    normalized: list[str] = []
    seen: set[str] = set()
    for raw in tags:
        if not isinstance(raw, str):
            raise _fail(_("Cada etiqueta debe ser un texto."))
        tag = " ".join(raw.split())
        if not tag:
            continue
        if "," in tag:
            raise _fail(_("Una etiqueta no puede contener comas: «%(tag)s».") % {"tag": tag})
        if len(tag) > MAX_TAG_LENGTH:
            raise _fail(
                _("La etiqueta «%(tag)s…» supera los %(max)d caracteres.")
                % {"tag": tag[:30], "max": MAX_TAG_LENGTH},
            )
        if tag.casefold() in seen:
            continue
        seen.add(tag.casefold())
        normalized.append(tag)
    if limit is not None and len(normalized) > limit:
        raise _fail(
            _("Un experimento admite como mucho %(max)d etiquetas (ha indicado %(count)d).")
            % {"max": limit, "count": len(normalized)},
        )
    return normalized


# --- one MLflow run tag per experiment tag -----------------------------------------------------

# ``cauce.tag.<key>`` = "true" on the run for each tag, so that ``tags.`cauce.tag.rf` = 'true'``
# finds exactly the runs tagged rf (``all_tags ILIKE '%rf%'`` also finds "surf").
TAG_KEY_PREFIX = "cauce.tag."
TAG_KEY_VALUE = "true"
# MLflow's limit on a tag key (``mlflow.utils.validation.MAX_ENTITY_KEY_LENGTH``).
_MLFLOW_MAX_KEY_LENGTH = 250
# Kept as they are: what MLflow allows in a key (``validate_param_and_metric_name``:
# ``^[/\w.\- :]*$``) except "_" (the escape), "/" (a key must not read as another path:
# "a//b", "x/.." are refused) and ":" (refused by MLflow's client on Windows).
_KEPT = re.compile(r"[^\W_]|[.\- ]")
_ESCAPE = re.compile(r"__|_x([0-9a-f]+)_")
_DIGEST_MARK = "_sha256."


def tag_mlflow_key(tag: str) -> str:
    """The run tag key that says the run carries ``tag``: ``cauce.tag.`` + the tag in lower
    case (Cauce matches tags ignoring case, like the lists' filter), escaped for MLflow.

    The escape is reversible and collision-free: letters and digits of any script, ".", "-"
    and the space stay as they are; "_" becomes "__"; any other character ``_x<hex>_`` (its
    code point): "a_b" → ``a__b``, "c++" → ``c_x2b__x2b_``, "a/b" → ``a_x2f_b``. A key MLflow
    would find too long (over 250 characters: only tags made mostly of escaped characters)
    becomes ``cauce.tag._sha256.<digest of the lowered tag>``: still exact, not reversible.
    """
    escaped = "".join(
        char if _KEPT.fullmatch(char) else "__" if char == "_" else f"_x{ord(char):x}_"
        for char in tag.lower()
    )
    key = TAG_KEY_PREFIX + escaped
    if len(key) > _MLFLOW_MAX_KEY_LENGTH:
        digest = hashlib.sha256(tag.lower().encode()).hexdigest()
        key = TAG_KEY_PREFIX + _DIGEST_MARK + digest
    return key


def tag_from_mlflow_key(key: str) -> str | None:
    """The (lower-cased) tag a ``tag_mlflow_key`` key stands for; None for a digest key or
    a key that is not one of them."""
    if not key.startswith(TAG_KEY_PREFIX) or key.startswith(TAG_KEY_PREFIX + _DIGEST_MARK):
        return None
    escaped = key[len(TAG_KEY_PREFIX) :]
    parts: list[str] = []
    position = 0
    for match in _ESCAPE.finditer(escaped):
        plain = escaped[position : match.start()]
        if "_" in plain:
            return None
        parts.append(plain)
        code = match.group(1)
        parts.append("_" if code is None else chr(int(code, 16)))
        position = match.end()
    rest = escaped[position:]
    if "_" in rest:
        return None
    parts.append(rest)
    return "".join(parts) or None


def is_tag_mlflow_key(key: str) -> bool:
    return key.startswith(TAG_KEY_PREFIX)
