"""The client's address, as the proxies in front of the web saw it (for the login throttle).

Behind ``CAUCE_PROXY_COUNT`` proxies that each append the address they were reached from to
``X-Forwarded-For`` (compose: the TLS terminator, then nginx, deploy/web-proxy/), the client is
the entry the first of them wrote: the ``CAUCE_PROXY_COUNT``-th from the right. Entries further
left are whatever the client sent itself, never trusted. With no proxy (``make run``), or a
request that did not come through them all, it is the connection's own address.
"""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    count = settings.PROXY_COUNT
    if count > 0:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
        if len(entries) >= count:
            return entries[-count]
    return request.META.get("REMOTE_ADDR")
