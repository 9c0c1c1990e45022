"""Monitoring's pages: the version's and the model's tab, the project's alerts (database
only: the pages never ask MLflow)."""

import pytest
from django.contrib.messages import get_messages

from cauce.experiments.models import MLExperiment
from cauce.experiments.tests.runner_support import queued_experiment
from cauce.monitoring.models import Alert, MonitoredVersion
from cauce.monitoring.tests.support import monitoring_data
from cauce.registry.models import RegisteredModel


@pytest.fixture
def model(project, iris_dataset):
    model = RegisteredModel.objects.create(name="clima", project=project)
    experiment = queued_experiment(iris_dataset, status=MLExperiment.Status.FINISHED)
    monitoring_data(model=model, experiment=experiment, version=3)
    return model


def test_a_version_s_tab_shows_its_traffic_drift_and_histogram(viewer_client, model):
    from cauce.monitoring.windows import monitoring_refresh

    monitoring_refresh(model=model, version=3)

    page = viewer_client.get("/models/clima/versions/3/monitoring/?window=1h&feature=b")

    assert page.status_code == 200
    html = page.content.decode()
    assert page.context["summary"].requests == 5 and page.context["summary"].rows == 1200
    assert page.context["drift"][0].feature == "b"  # flagged first
    assert page.context["chosen"].feature == "b"
    assert 'class="monitor-chart histogram"' in html and 'class="monitor-chart bars"' in html
    assert "Recalcular" not in html  # a viewer cannot recompute


def test_an_unknown_window_says_so_and_shows_24_hours(viewer_client, model):
    page = viewer_client.get("/models/clima/versions/3/monitoring/?window=3d")

    assert page.context["window"] == "24h"
    assert "Ventana desconocida «3d»" in page.content.decode()


def test_recalcular_computes_the_windows_and_raises_alerts(editor_client, model):
    response = editor_client.post("/models/clima/versions/3/monitoring/refresh/", {"window": "1h"})

    assert response.status_code == 302
    assert response["Location"] == "/models/clima/versions/3/monitoring/?window=1h"
    assert Alert.objects.filter(registered_model=model, feature="b").count() == 3
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert shown == ["Ventanas recalculadas: 1 variable marcada."]


def test_a_version_without_a_profile_names_the_command(editor_client, model):
    MonitoredVersion.objects.filter(registered_model=model).update(experiment=None)

    response = editor_client.post("/models/clima/versions/3/monitoring/refresh/", follow=True)

    assert "manage.py monitoring_profiles" in response.content.decode()


def test_the_model_s_tab_shows_versions_and_alias_shares(viewer_client, model):
    page = viewer_client.get("/models/clima/monitoring/")

    assert page.status_code == 200
    assert page.context["aliases"] == {"champion": [[3, 4, 1.0]]}
    assert page.context["versions"][0]["requests"] == 5


def test_alerts_are_listed_and_acknowledged_by_editors(client, editor, viewer, model):
    from cauce.monitoring.windows import monitoring_refresh

    monitoring_refresh(model=model, version=3)
    alert = Alert.objects.filter(window="24h").get()
    project = model.project

    client.force_login(viewer)
    listed = client.get(f"/projects/{project.pk}/alerts/")
    refused = client.post(f"/projects/{project.pk}/alerts/{alert.pk}/acknowledge/")
    client.force_login(editor)
    done = client.post(f"/projects/{project.pk}/alerts/{alert.pk}/acknowledge/")

    assert listed.status_code == 200
    crumbs = listed.content.decode().split('class="breadcrumbs">', 1)[1].split("</nav>")[0]
    assert crumbs.startswith('<a href="/projects/">Proyectos</a> / ')  # like the other pages
    assert refused.status_code == 403 and done.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None


def test_a_feature_s_alerts_in_three_windows_are_one_line_acknowledged_at_once(
    client, editor, api_client, model
):
    from cauce.monitoring.windows import monitoring_refresh

    monitoring_refresh(model=model, version=3)  # ``b`` drifted in each window
    alerts = Alert.objects.filter(registered_model=model, feature="b")
    assert sorted(alerts.values_list("window", flat=True)) == ["1h", "24h", "7d"]
    alerts.filter(window="7d").update(detail={"psi": 9.0})
    project = model.project
    client.force_login(editor)

    listed = client.get(f"/projects/{project.pk}/alerts/")
    model_page = client.get("/models/clima/monitoring/")

    assert listed.content.decode().count("data-alert-group") == 1
    html = " ".join(listed.content.decode().split())
    assert "clima v3</a>, 1 hora, 24 horas, 7 días: la variable «b» cambió" in html
    assert "(peor PSI 9,000, en 7 días)" in html
    assert "?window=7d" in html  # the link opens the worst window
    assert len(model_page.context["alert_groups"]) == 1
    assert model_page.context["alert_groups"][0].windows == ["1 hora", "24 horas", "7 días"]
    api_client.force_authenticate(editor)
    api = api_client.get(f"/api/projects/{project.pk}/alerts/").json()
    assert len(api["results"] if isinstance(api, dict) else api) == 3  # one per window

    done = client.post(f"/projects/{project.pk}/alerts/{alerts.first().pk}/acknowledge/")

    assert done.status_code == 302
    assert not alerts.filter(acknowledged_at__isnull=True).exists()
    assert len(set(alerts.values_list("acknowledged_at", flat=True))) == 1
    seen = client.get(f"/projects/{project.pk}/alerts/?all=1").content.decode()
    assert seen.count("data-alert-group") == 1 and "vista por" in seen


def test_outsiders_get_404(outsider_client, model):
    for url in (
        "/models/clima/monitoring/",
        "/models/clima/versions/3/monitoring/",
        f"/projects/{model.project.pk}/alerts/",
    ):
        assert outsider_client.get(url).status_code == 404, url
    assert outsider_client.post("/models/clima/versions/3/monitoring/refresh/").status_code == 404


def test_a_p_value_says_why_it_is_missing_and_tiny_ones_read_below_the_floor(viewer_client, model):
    from django.utils import translation

    from cauce.monitoring.models import DriftResult
    from cauce.monitoring.templatetags.monitoring_tags import p_value_text
    from cauce.monitoring.windows import monitoring_refresh

    monitoring_refresh(model=model, version=3)
    results = DriftResult.objects.filter(registered_model=model, window="24h")
    results.filter(feature="b").update(p_value=1e-9, sample_rows=1200)
    results.exclude(feature="b").update(p_value=None, sample_rows=12)

    html = viewer_client.get("/models/clima/versions/3/monitoring/").content.decode()
    with translation.override("en"):
        english = p_value_text(1e-9), p_value_text(0.25)

    assert "&lt; 0,0001" in html and "0,0000" not in html
    assert "muestra de 12 filas; se necesitan 200" in html
    assert english == ("< 0.0001", "0.2500")


def _other_model_alert(model):
    from django.utils import timezone

    other = RegisteredModel.objects.create(name="caudal", project=model.project)
    return Alert.objects.create(
        project=model.project, registered_model=other, version=1, window="24h",
        kind="drift", feature="a", created_at=timezone.now(),
    )  # fmt: skip


def test_all_open_alerts_are_acknowledged_at_once_also_per_model(client, editor, viewer, model):
    from cauce.monitoring.windows import monitoring_refresh

    monitoring_refresh(model=model, version=3)  # ``b`` in 3 windows
    other = _other_model_alert(model)
    url = f"/projects/{model.project.pk}/alerts/acknowledge/"

    client.force_login(viewer)
    refused = client.post(url)
    client.force_login(editor)
    listed = client.get(f"/projects/{model.project.pk}/alerts/").content.decode()
    one_model = client.post(url, {"model": "clima"}, follow=True)
    left = list(Alert.objects.filter(acknowledged_at__isnull=True))
    client.post(url)

    assert refused.status_code == 403
    assert "Marcar todas como vistas" in listed and "Todas las de caudal" in listed
    assert "3 alertas marcadas como vistas." in one_model.content.decode()
    assert left == [other]
    assert not Alert.objects.filter(acknowledged_at__isnull=True).exists()
    assert Alert.objects.filter(acknowledged_by=editor).count() == 4


def test_the_api_acknowledges_several_alerts_at_once(api_client, editor, viewer, model):
    from cauce.monitoring.windows import monitoring_refresh

    monitoring_refresh(model=model, version=3)
    _other_model_alert(model)
    url = f"/api/projects/{model.project.pk}/alerts/acknowledge/"

    api_client.force_authenticate(viewer)
    refused = api_client.post(url, {}, format="json")
    api_client.force_authenticate(editor)
    one_model = api_client.post(url, {"model": "clima"}, format="json")
    unknown = api_client.post(url, {"model": "no-existe"}, format="json")
    rest = api_client.post(url, {}, format="json")

    assert refused.status_code == 403
    assert one_model.json() == {"acknowledged": 3}
    assert unknown.json() == {"acknowledged": 0} and rest.json() == {"acknowledged": 1}


def test_the_model_page_summarizes_its_open_alerts(model):
    from django.template import Context, Template

    from cauce.monitoring.windows import monitoring_refresh

    monitoring_refresh(model=model, version=3)  # 3 alerts: ``b`` in each window
    html = Template("{% load monitoring_tags %}{% model_open_alerts model %}").render(
        Context({"model": model})
    )

    assert "1 característica con deriva · " in html and "ver alertas" in html
    assert "la variable" not in html  # not the full list


def test_a_line_whose_drift_was_found_gone_says_so(client, viewer, model):
    from django.utils import timezone

    from cauce.monitoring.alerts import alerts_resolve
    from cauce.monitoring.windows import monitoring_refresh

    monitoring_refresh(model=model, version=3)
    project = model.project
    client.force_login(viewer)
    before = client.get(f"/projects/{project.pk}/alerts/").content.decode()
    features = list(Alert.objects.values_list("feature", flat=True).distinct())
    for window in ("1h", "24h", "7d"):
        alerts_resolve(
            model=model, version=3, window=window, kind="drift", features=features,
            now=timezone.now(),
        )  # fmt: skip

    after = client.get(f"/projects/{project.pk}/alerts/").content.decode()

    assert "ya no se detecta" not in before
    assert "ya no se detecta" in after
