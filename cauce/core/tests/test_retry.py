from cauce.core.retry import backoff_delay, mlflow_retry_delay


def test_the_mlflow_retry_delay_doubles_and_is_capped(settings):
    settings.EXPERIMENT_MLFLOW_RETRY_DELAY = 10
    settings.EXPERIMENT_MLFLOW_RETRY_MAX_DELAY = 60
    assert [mlflow_retry_delay(retries) for retries in range(5)] == [10, 20, 40, 60, 60]


def test_the_backoff_takes_its_base_and_cap():
    assert [backoff_delay(retries, base=1, cap=5) for retries in range(5)] == [1, 2, 4, 5, 5]
