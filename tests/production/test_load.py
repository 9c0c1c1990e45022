"""Load: 20 users for 60 s on the experiment list, an experiment's page, its artifacts tab and
the predict API, against the harness's gunicorn (locust in a subprocess, ``load.py``).

The figures (requests, p50, p95 per page; MLflow's own time beside the pages that call it) are
printed, never asserted: wall-clock targets belong to the printed report. What is asserted is
that every page was exercised and that not one request failed: no 5xx, no connection that was
reset or left unanswered, no page answering something other than itself.
"""

from tests.production.load import PAGES, load_report, load_run, load_target_from_harness


def test_twenty_users_for_a_minute_get_no_server_error(harness, tmp_path, capsys):
    target = load_target_from_harness(harness)

    result = load_run(target, workdir=tmp_path, web_pid=harness.services["web"].process.pid)

    report = load_report(result)
    with capsys.disabled():
        print(f"\n{report}")
    assert set(result.pages) == set(PAGES), report
    assert all(page.requests >= 20 for page in result.pages.values()), report
    assert result.server_errors == 0, report
    assert result.failed == 0, report
