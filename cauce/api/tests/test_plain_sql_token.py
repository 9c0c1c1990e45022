"""``PlainSqlTokenAuthentication``: DRF's token answers, the token and user read in one plain
SQL query (the predict API's; ``bench/bench_predict.py``)."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.translation import gettext
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIRequestFactory

from cauce.api.authentication import PlainSqlTokenAuthentication

pytestmark = pytest.mark.django_db


def _authenticate(key: str):
    request = APIRequestFactory().post("/", HTTP_AUTHORIZATION=f"Token {key}")
    return PlainSqlTokenAuthentication().authenticate(request)


@pytest.fixture
def token():
    user = get_user_model().objects.create_user(username="token-user", password="x")
    return Token.objects.create(user=user)


def test_a_valid_token_is_its_user_in_one_plain_query(token):
    with CaptureQueriesContext(connection) as queries:
        user, auth = _authenticate(token.key)
    assert user.pk == token.user_id and user.username == "token-user"
    assert (auth.key, auth.user_id, auth.created) == (token.key, token.user_id, token.created)
    assert len(queries) == 1
    assert "cauce_token_created" in queries[0]["sql"]


def test_an_unknown_or_deleted_token_is_refused_with_drfs_message(token):
    key = token.key
    token.delete()
    with pytest.raises(AuthenticationFailed) as refused:
        _authenticate(key)
    assert refused.value.detail == gettext("Invalid token.")  # DRF's, translated


def test_an_inactive_users_token_is_refused_with_drfs_message(token):
    get_user_model().objects.filter(pk=token.user_id).update(is_active=False)
    with pytest.raises(AuthenticationFailed) as refused:
        _authenticate(token.key)
    assert refused.value.detail == gettext("User inactive or deleted.")
