"""Template filters of the experiment pages."""

from datetime import timedelta

from django.utils import timezone, translation

from cauce.experiments.templatetags.experiment_filters import ago


def test_ago_says_just_now_under_a_minute_and_how_long_after():
    now = timezone.now()
    with translation.override("es"):
        assert ago(now - timedelta(seconds=1)) == "hace un momento"
        assert ago(now - timedelta(minutes=5, seconds=3)) == "hace 5\xa0minutos"
    with translation.override("en"):
        assert ago(now - timedelta(seconds=59)) == "just now"
        assert ago(now - timedelta(hours=2, minutes=1)) == "2\xa0hours, 1\xa0minute ago"
