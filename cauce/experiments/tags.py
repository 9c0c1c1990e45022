"""What a valid experiment tag is. A leaf: the services, the outbox (``tag_sync``), the
API and the admin all take the rules from here."""

from collections.abc import Iterable

from django.utils.translation import gettext as _

from cauce.core.exceptions import ApplicationError

# Each tag becomes an MLflow run tag (tag_<i>), written 100 per request; 100 tags keep a run
# readable in the MLflow UI and its sync to two requests.
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
