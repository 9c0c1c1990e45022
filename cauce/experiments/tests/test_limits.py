"""The training memory limit, in this process: what trips it and what is back afterwards."""

import os
import resource
import runpy
from pathlib import Path

import numpy as np
import pytest

import config
from cauce.experiments.limits import TrainingMemoryExceeded, training_memory_limit

MESSAGE = (
    "El entrenamiento superó el límite de memoria de 20 MB y se detuvo. Pruebe con menos filas "
    "o columnas o con un modelo más pequeño (p. ej. menos árboles o menos profundidad), o pida "
    "que se amplíe el límite (CAUCE_TRAINING_MEMORY_MB)."
)


def test_an_allocation_beyond_the_limit_fails_with_a_clear_message():
    before = resource.getrlimit(resource.RLIMIT_DATA)

    with pytest.raises(TrainingMemoryExceeded) as raised, training_memory_limit(20):
        np.ones(100 * 2**20 // 8)  # 100 MB

    assert raised.value.message == MESSAGE
    assert raised.value.__context__.__traceback__ is None  # the training's frames are not kept
    assert resource.getrlimit(resource.RLIMIT_DATA) == before
    assert np.ones(100 * 2**20 // 8).nbytes == 100 * 2**20  # the process lives on


def test_an_allocation_within_the_limit_is_untouched():
    with training_memory_limit(200):
        block = np.ones(50 * 2**20 // 8)
    assert block.nbytes == 50 * 2**20


def test_the_limit_is_the_setting_and_zero_disables_it(settings):
    settings.TRAINING_MEMORY_MB = 0
    with training_memory_limit():
        limit_inside = resource.getrlimit(resource.RLIMIT_DATA)
    assert limit_inside == resource.getrlimit(resource.RLIMIT_DATA)

    settings.TRAINING_MEMORY_MB = 20
    with pytest.raises(TrainingMemoryExceeded), training_memory_limit():
        np.ones(100 * 2**20 // 8)


def _settings_with(monkeypatch, **env) -> dict:
    """config/settings.py read afresh under this environment (the loaded settings stay)."""
    for name in ("CAUCE_WORKER_CONCURRENCY", "CAUCE_TRAINING_MEMORY_MB"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(Path(config.__file__).with_name("settings.py")))


def test_by_default_one_training_per_core_sharing_three_quarters_of_the_memory(monkeypatch):
    machine_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20

    values = _settings_with(monkeypatch)

    assert values["CELERY_WORKER_POOL"] == "prefork"
    assert values["CELERY_WORKER_CONCURRENCY"] == os.cpu_count()
    assert values["TRAINING_MEMORY_MB"] == machine_mb * 3 // 4 // os.cpu_count()
    assert values["CELERY_WORKER_PREFETCH_MULTIPLIER"] == 1
    assert values["CELERY_TASK_ACKS_LATE"] is True


def test_concurrency_and_memory_come_from_the_environment(monkeypatch):
    values = _settings_with(
        monkeypatch, CAUCE_WORKER_CONCURRENCY="5", CAUCE_TRAINING_MEMORY_MB="700"
    )

    assert values["CELERY_WORKER_CONCURRENCY"] == 5
    assert values["TRAINING_MEMORY_MB"] == 700
