"""Demo traffic for ``manage.py cauce_demo``: a few hundred predictions of the demo model
through the real prediction path, half of them with ``petal_length`` moved well past what
the model was trained on, then its windows computed, so that a newcomer finds charts and one
flagged feature on the model's "Monitorización" tab."""

from __future__ import annotations

import pandas as pd

from cauce.monitoring import recording
from cauce.monitoring.models import PredictionRecord
from cauce.monitoring.windows import monitoring_refresh

REQUESTS = 8
ROWS_PER_REQUEST = 50
SHIFT_CM = 2.0  # petal_length's standard deviation is about 1.8 cm


def demo_predictions(*, model, user, alias: str, iris: pd.DataFrame) -> int:
    """Send the demo's predictions once (none when the model has any); how many were sent."""
    from cauce.registry.predict import frames
    from cauce.registry.predict.services import prediction_serve

    if PredictionRecord.objects.filter(registered_model=model).exists():
        return 0
    features = [name for name in iris.columns if name != "species"]
    version = None
    for request in range(REQUESTS):
        rows = iris[features].sample(ROWS_PER_REQUEST, replace=True, random_state=request)
        rows = rows.reset_index(drop=True)
        if request >= REQUESTS // 2:
            rows["petal_length"] += SHIFT_CM
        with recording.prediction_recorded(model=model, user=user, alias=alias) as recorded:
            result = prediction_serve(
                model=model, alias=alias, body=frames.ScoringBody(options={}, frame=rows)
            )
            recorded.target(result.target)
            recorded.frame(rows)
            version = result.target.version.version
    recording.observations_flush()
    monitoring_refresh(model=model, version=version)
    return REQUESTS
