"""Every URL pattern, generated from the URL configuration, tried three ways.

- anonymous: a page redirects to the login page, the API answers 401 (token auth first);
- outsider (logged in, not a member of the object's project): 404 on every method;
- viewer on a write action (POST/PUT/PATCH/DELETE): 403.

A pattern the walk finds that is neither checked here nor in PUBLIC (with its reason) fails
the test, so a new URL cannot ship unchecked.
"""

import re
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch", "delete")
LOGIN_PREFIX = "/accounts/login/?next="

# Public by design: never checked as "login required". Each with its reason.
PUBLIC = {
    "health": "liveness/readiness for load balancers; shows no data",
    "health_live": "process probe for orchestrators; shows no data",
    "health_ready": "readiness probe for orchestrators; shows no data",
    "csp_report": "browsers post CSP violation reports without a session",
    "set_language": "Django's i18n language switch: a cookie, no data",
    "login": "the login form itself",
    "logout": "ends a session; anonymous logout is harmless",
    "mlflow_status": "the 'MLflow unavailable' notice; says nothing about any project",
    "api-token": "obtains a token from username and password (throttled)",
    "schema": "the OpenAPI document: describes routes, holds no data",
    "swagger-ui": "renders the OpenAPI document",
    "favicon": "redirects to the static icon, which browsers ask for before any login",
}
# The whole Django admin: staff-only with its own login (checked once below).
PUBLIC_NAMESPACES = {"admin": "Django admin: its own staff login, checked by test_admin_*"}

# Writes a viewer may do by design.
VIEWER_WRITES = {
    "registry:predict": "predicting is reading a model: viewers may predict",
    "api-model-predict": "predicting is reading a model: viewers may predict",
    "registry:prediction_retry": "retrying a failed prediction is predicting: viewers may",
    "projects:project_create": "any user may create a project of their own",
    "api-project-list": "POST creates a project of the caller's own",
}
# Read-only pages that render on any method: a POST writes nothing (the same page as GET).
READ_PAGES = {
    "projects:project_list": "the project list; POST renders the list",
    "projects:project_detail": "the project page; POST renders the page",
    "artifacts:zip": "a ZIP download is a read: POST only because the path list is long",
    "api-experiment-artifacts-zip": "a ZIP download is a read: POST carries the path list",
}
# Routes with no object in the URL: an outsider gets the page, without the project's data.
NO_OBJECT = {
    "home",
    "projects:project_list",
    "projects:project_create",
    "experiments:ml_experiment_all",
    "experiments:ml_experiment_bulk_tags",
    # The compared ids are in the query string (each unreadable one is a 404, tested there).
    "experiments:ml_experiment_compare",
    "experiments:ml_experiment_compare_csv",
    "api-experiment-compare",
    "registry:model_list",
    "api-project-list",
    "api-experiment-list",
    "api-experiment-bulk-tags",
    "api-model-list",
    "api-sweep-list",
}


@dataclass(frozen=True)
class Route:
    name: str
    namespace: str
    route: str
    callback: object

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    @property
    def api_view(self):
        view_class = getattr(self.callback, "cls", None)
        return view_class if view_class and issubclass(view_class, APIView) else None


def walk(patterns, prefix: str = "", namespace: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield Route(
                name=name or "",
                namespace=namespace,
                route=prefix + str(entry.pattern),
                callback=entry.callback,
            )


ALL_ROUTES = list(walk(get_resolver().url_patterns))
PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")


def fill(route: Route, objects) -> str:
    def value(match):
        converter, name = match.group(1) or "str", match.group(2)
        if converter == "uuid" and name == "pk":
            owner = (
                "sweep" if route.route.removeprefix("api/").startswith("sweeps/") else "experiment"
            )
            return str(objects[owner].pk)
        if converter == "uuid" and name == "job_id":
            return str(objects["job"].pk)
        if name in {"project_pk", "project_id"}:
            return str(objects["project"].pk)
        if name == "pk":
            kind = route.route.removeprefix("api/").split("/")[0]
            return str(objects[{"projects": "project", "datasets": "dataset"}[kind]].pk)
        if name == "user_id":
            return str(objects["member"].pk)
        if name == "alert_id":
            return str(objects["alert"].pk)
        if name == "name":
            return objects["model"].name
        if name == "version":
            return "1"
        if name == "alias":
            return "campeon"
        raise AssertionError(f"no object for <{converter}:{name}> in {route.route}")

    return "/" + PARAMETER.sub(value, route.route)


def is_public(route: Route) -> bool:
    return route.name in PUBLIC or route.namespace.split(":")[0] in PUBLIC_NAMESPACES


def methods(route: Route) -> tuple[str, ...]:
    """The methods to try: the API view's own, or GET and POST for a Django view."""
    if route.api_view:
        return tuple(m for m in ("get", *WRITE_METHODS) if hasattr(route.api_view, m))
    return ("get", "post")


def write_methods(route: Route) -> tuple[str, ...]:
    return tuple(m for m in methods(route) if m in WRITE_METHODS)


def call(client, method: str, url: str, data=None):
    if data is None:
        return getattr(client, method)(url)
    if method == "post" and not url.startswith("/api/"):
        return client.post(url, data)
    return getattr(client, method)(url, data, content_type="application/json")


def write_body(route: Route, objects) -> dict | None:
    """A write naming the project's objects, for routes whose URL holds none."""
    experiment = objects["experiment"]
    if route.name in {"experiments:ml_experiment_bulk_tags", "api-experiment-bulk-tags"}:
        return {"experiments": [str(experiment.pk)], "tag": "intrusa", "action": "add"}
    if route.name == "api-sweep-list":
        return {
            "project": objects["project"].pk,
            "dataset": objects["dataset"].pk,
            "name": "Intruso",
            "target_column": "species",
            "algorithm": "LogisticRegression",
            "search_space": {"C": {"type": "float", "low": 0.01, "high": 10, "log": True}},
            "n_trials": 4,
        }
    if route.name == "api-experiment-list":
        return {
            "project": objects["project"].pk,
            "dataset": objects["dataset"].pk,
            "name": "Intrusa",
            "target_column": "species",
            "algorithm": "LogisticRegression",
        }
    return None


def state(objects) -> tuple:
    """What a refused write must leave as it was: the project's experiments and tags."""
    experiments = objects["project"].experiments.order_by("pk")
    return tuple((e.pk, e.name, tuple(sorted(e.tags.names()))) for e in experiments)


def test_every_url_pattern_is_checked_or_public():
    names = {route.name for route in ALL_ROUTES}
    unnamed = [route.route for route in ALL_ROUTES if not route.name and not is_public(route)]
    assert unnamed == []
    # The allow-lists name no route that does not exist (no stale reasons).
    assert set(PUBLIC) - names == set()
    assert set(VIEWER_WRITES) - names == set()
    assert NO_OBJECT - names == set()
    assert set(READ_PAGES) - names == set()


def test_every_url_pattern_three_ways(client, objects, viewer, outsider, capsys):
    failures: list[str] = []
    checks = 0
    checked = [route for route in ALL_ROUTES if not is_public(route)]
    public = [route for route in ALL_ROUTES if is_public(route)]
    secrets = [
        objects["project"].name,
        objects["experiment"].name,
        objects["dataset"].name,
        objects["model"].name,
    ]
    for route in checked:
        url = fill(route, objects)
        # 1. Anonymous.
        client.logout()
        answered = []
        for method in methods(route):
            response = call(client, method, url)
            checks += 1
            if response.status_code == 405:
                continue
            answered.append(method)
            if route.is_api:
                ok = response.status_code == 401
            else:
                ok = response.status_code == 302 and response["Location"].startswith(LOGIN_PREFIX)
            if not ok:
                failures.append(f"anonymous {method.upper()} {url}: {response.status_code}")
        if not answered:
            failures.append(f"anonymous {url}: every method 405")
        # 2. Outsider.
        client.force_login(outsider)
        for method in methods(route):
            response = call(client, method, url)
            checks += 1
            if route.name in NO_OBJECT:
                body = response.content.decode(errors="replace")
                leaked = [secret for secret in secrets if secret in body]
                if leaked or response.status_code >= 500:
                    failures.append(
                        f"outsider {method.upper()} {url}: {leaked} {response.status_code}"
                    )
            elif response.status_code not in (404, 405):
                failures.append(f"outsider {method.upper()} {url}: {response.status_code}")
        # 3. Viewer on writes.
        client.force_login(viewer)
        if route.name in VIEWER_WRITES or route.name in READ_PAGES:
            continue
        for method in write_methods(route):
            before = state(objects)
            response = call(client, method, url, write_body(route, objects))
            checks += 1
            if route.name in NO_OBJECT:
                # Bulk changes answer per experiment ("refused"); nothing may change.
                ok = response.status_code < 500 and state(objects) == before
                if route.name in {"api-experiment-list", "api-sweep-list"}:
                    ok = ok and response.status_code == 403
            else:
                ok = response.status_code in (403, 405)
            if not ok:
                failures.append(f"viewer {method.upper()} {url}: {response.status_code}")
    with capsys.disabled():
        print(
            f"\nURL patterns: {len(ALL_ROUTES)} walked, {len(checked)} checked three ways, "
            f"{len(public)} public by design; {checks} requests checked"
        )
    assert failures == [], "\n".join(failures)


def test_admin_sends_anonymous_and_non_staff_users_to_its_login(client, viewer):
    response = client.get("/admin/auth/user/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/auth/user/"
    client.force_login(viewer)
    response = client.get("/admin/auth/user/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/auth/user/"
