"""django-axes: too many failed logins from one address lock that user name out, in Spanish."""

import pytest
from axes.models import AccessAttempt

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def _login(client, username, password, ip="10.0.0.1"):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_the_right_password_is_refused_once_the_user_is_locked_out(client, owner):
    for _ in range(LIMIT - 1):
        response = _login(client, "olga", "mal")
        assert response.status_code == 200  # the form again, with its error
    response = _login(client, "olga", "mal")
    assert response.status_code == 429
    html = response.content.decode()
    assert "Acceso bloqueado" in html
    assert "Demasiados intentos de acceso fallidos con este usuario." in html
    assert "Vuelve a intentarlo dentro de 30 minutos." in html

    response = _login(client, "olga", "pw-olga")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert AccessAttempt.objects.get(username="olga").failures_since_start == LIMIT + 1


def test_the_lockout_page_is_translated(client, owner):
    for _ in range(LIMIT):
        response = _login(client, "olga", "mal")
    client.cookies["django_language"] = "en"
    response = _login(client, "olga", "mal")
    assert response.status_code == 429
    assert "Too many failed login attempts for this user. Try again in 30 minutes." in (
        response.content.decode()
    )


def test_another_address_is_not_locked_out_and_success_resets_the_count(client, owner):
    for _ in range(LIMIT):
        _login(client, "olga", "mal", ip="10.0.0.1")
    response = _login(client, "olga", "pw-olga", ip="10.0.0.2")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_the_api_token_endpoint_is_throttled_too(api_client, owner):
    for _ in range(LIMIT - 1):
        response = api_client.post(
            "/api/token/", {"username": "olga", "password": "mal"}, REMOTE_ADDR="10.0.0.1"
        )
        assert response.status_code == 400
    response = api_client.post(
        "/api/token/", {"username": "olga", "password": "pw-olga"}, REMOTE_ADDR="10.0.0.3"
    )
    assert response.status_code == 200
    assert response.json()["token"]

    for _ in range(LIMIT):
        response = api_client.post(
            "/api/token/", {"username": "vera", "password": "mal"}, REMOTE_ADDR="10.0.0.1"
        )
    response = api_client.post(
        "/api/token/", {"username": "vera", "password": "pw-vera"}, REMOTE_ADDR="10.0.0.1"
    )
    assert response.status_code == 429
    assert response.json() == {
        "message": "Demasiados intentos de acceso fallidos con este usuario. "
        "Vuelve a intentarlo más tarde."
    }
    assert "token" not in response.json()


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.5"),  # no proxy: the header is the client's own words
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # a client's own entry is passed over
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.7", "203.0.113.9"),  # TLS terminator, then nginx
        (2, "203.0.113.9", "10.0.0.5"),  # not through both proxies: the connection's
    ],
)
def test_the_client_is_the_address_the_first_trusted_proxy_wrote(
    settings, rf, count, forwarded, expected
):
    from cauce.core.client_ip import client_ip

    settings.PROXY_COUNT = count
    request = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_behind_the_proxy_each_client_address_is_throttled_on_its_own(settings, client, owner):
    """Every request comes from nginx's address: the lockout follows X-Forwarded-For's."""
    settings.PROXY_COUNT = 1

    def login(password, address):
        return client.post(
            "/accounts/login/",
            {"username": "olga", "password": password},
            REMOTE_ADDR="10.0.0.9",
            HTTP_X_FORWARDED_FOR=address,
        )

    for _ in range(LIMIT):
        login("mal", "203.0.113.1")
    assert login("pw-olga", "203.0.113.1").status_code == 429
    assert login("pw-olga", "203.0.113.2").status_code == 302
