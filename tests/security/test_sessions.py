"""Sessions and passwords: CSRF on every form, a new session key on login, password rules."""

import pytest
from django.conf import settings
from django.test import Client

from tests.security.test_url_permissions import ALL_ROUTES, call, fill, methods

pytestmark = pytest.mark.django_db

# POSTs that need no CSRF token, each with its reason.
CSRF_EXEMPT = {
    "csp_report": "browsers post CSP reports without a token (no session is used)",
    "api-token": "credentials in the body, no session: DRF's token view is CSRF-exempt",
}


def test_every_post_without_a_csrf_token_is_refused(objects, owner, capsys):
    """Logged in by session (as a browser is), a POST without the token gets 403: pages and
    the API (session authentication enforces CSRF; token calls carry no cookie)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    failures, checked = [], 0
    for route in ALL_ROUTES:
        if route.namespace.startswith("admin") or route.name in CSRF_EXEMPT:
            continue
        if "post" not in methods(route):
            continue
        url = fill(route, objects)
        response = call(client, "post", url)
        if response.status_code == 405:
            continue
        checked += 1
        if response.status_code != 403:
            failures.append(f"POST {url}: {response.status_code}")
    with capsys.disabled():
        print(f"\nCSRF: {checked} POST routes refused without a token")
    assert failures == [], "\n".join(failures)


def test_the_admin_forms_need_the_csrf_token(owner):
    owner.is_staff = owner.is_superuser = True
    owner.save()
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post("/admin/auth/user/add/", {"username": "x"}).status_code == 403
    assert client.post(f"/admin/auth/user/{owner.pk}/password/", {}).status_code == 403


def test_the_session_key_changes_on_login(owner):
    client = Client()
    client.get("/accounts/login/")
    session = client.session
    session["antes"] = "del login"
    session.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    before = session.session_key
    response = client.post("/accounts/login/", {"username": "olga", "password": "pw-olga"})
    assert response.status_code == 302
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_the_password_validators_are_configured():
    assert [
        validator["NAME"].rsplit(".", 1)[1] for validator in settings.AUTH_PASSWORD_VALIDATORS
    ] == [
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    ]


@pytest.fixture
def admin_client(owner):
    owner.is_staff = owner.is_superuser = True
    owner.save()
    client = Client()
    client.force_login(owner)
    return client


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("x7$k", "La contraseña es demasiado corta. Debe contener por lo menos 8 caracteres."),
        ("password123", "Esta contraseña es demasiado común."),
        ("84736291057", "Esta contraseña es completamente numérica."),
    ],
)
def test_the_admin_refuses_weak_passwords(
    admin_client, owner, django_user_model, password, message
):
    response = admin_client.post(
        "/admin/auth/user/add/",
        {
            "username": "nuevo",
            "password1": password,
            "password2": password,
            "usable_password": "true",
        },
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not django_user_model.objects.filter(username="nuevo").exists()
    response = admin_client.post(
        f"/admin/auth/user/{owner.pk}/password/",
        {"password1": password, "password2": password},
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    owner.refresh_from_db()
    assert owner.check_password("pw-olga")
