"""What a run's metric names mean, without the pipeline's heavy imports (scikit-learn), so that
web code (the comparison, the registry's version comparison) can read them."""

# Error metrics: a smaller value is a better model. Every other metric the pipeline logs
# (accuracy, precision, recall, F1, ROC AUC, R²) is better higher.
LOWER_IS_BETTER = frozenset({"mae", "rmse"})
# The run's stage timings (``cauce.time.<stage>_s``): shorter is better too.
TIMING_PREFIX = "cauce.time."
# The same metric on the training rows (``train_accuracy`` beside ``accuracy``).
TRAIN_PREFIX = "train_"


def metric_higher_is_better(name: str) -> bool:
    """Whether a larger value of ``name`` is better: ``train_rmse`` is an error like ``rmse``."""
    if name.startswith(TIMING_PREFIX):
        return False
    return name.removeprefix(TRAIN_PREFIX) not in LOWER_IS_BETTER
