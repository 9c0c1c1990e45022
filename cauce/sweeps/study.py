"""Optuna, in Cauce's own database: the storage, the sampler and the distributions.

Imported by workers only (the engine): web processes never load Optuna.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from typing import Any
from urllib.parse import quote

import optuna
from django.conf import settings

from cauce.sweeps.models import Sweep
from cauce.sweeps.space import CATEGORICAL_TYPE, INT_TYPE, grid_values

optuna.logging.set_verbosity(optuna.logging.WARNING)


def storage_url() -> str:
    """The SQLAlchemy URL of Django's default database (SQLite file or PostgreSQL)."""
    db = settings.DATABASES["default"]
    engine = db["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    if engine.startswith("django.db.backends.postgresql"):
        user = quote(str(db.get("USER") or ""), safe="")
        password = quote(str(db.get("PASSWORD") or ""), safe="")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = db.get("HOST") or "localhost"
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgresql+psycopg://{credentials}{host}{port}/{db['NAME']}"
    raise RuntimeError(f"Sweeps do not support the database engine {engine}")


_storages: dict[tuple[int, str], optuna.storages.RDBStorage] = {}


def _storage_create(url: str) -> optuna.storages.RDBStorage:
    connect_args = {"timeout": 20} if url.startswith("sqlite") else {"connect_timeout": 5}
    # pool_pre_ping: a connection the database dropped (a restart) is replaced, not used.
    return optuna.storages.RDBStorage(
        url, engine_kwargs={"connect_args": connect_args, "pool_pre_ping": True}
    )


def storage() -> optuna.storages.RDBStorage:
    """This process's storage. Keyed by process id: a prefork pool process never uses the
    connections of the process it was forked from. The URL is read on each call (tests
    switch Django to a test database after import)."""
    key = (os.getpid(), storage_url())
    found = _storages.get(key)
    if found is None:
        try:
            found = _storage_create(key[1])
        except Exception:
            # Two processes creating Optuna's tables at once: the loser's CREATE fails;
            # the tables are there now.
            time.sleep(0.5)
            found = _storage_create(key[1])
        for other in [k for k in _storages if k[0] != key[0]]:
            _storages.pop(other, None)  # a parent's engine: dropped, never disposed here
        _storages[key] = found
    return found


def storage_dispose() -> None:
    """Close this process's pooled connections (e.g. after a trial; a worker at exit)."""
    for (pid, _url), found in list(_storages.items()):
        if pid == os.getpid():
            found.engine.dispose()


def _derived_seed(seed: int, number: int) -> int:
    """A seed per trial: a sampler is built anew for each ask, in whichever process."""
    digest = hashlib.sha256(f"{seed}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def distributions(sweep: Sweep) -> dict[str, optuna.distributions.BaseDistribution]:
    found: dict[str, optuna.distributions.BaseDistribution] = {}
    for name, entry in sweep.search_space.items():
        if entry["type"] == CATEGORICAL_TYPE:
            found[name] = optuna.distributions.CategoricalDistribution(entry["choices"])
        elif entry["type"] == INT_TYPE:
            found[name] = optuna.distributions.IntDistribution(
                entry["low"], entry["high"], log=entry["log"], step=entry.get("step") or 1
            )
        else:
            found[name] = optuna.distributions.FloatDistribution(
                entry["low"], entry["high"], log=entry["log"], step=entry.get("step")
            )
    return found


def sampler_build(sweep: Sweep, *, next_number: int) -> optuna.samplers.BaseSampler:
    if sweep.sampler == Sweep.Sampler.GRID:
        # The sweep's own seed, the same in every process: the grid's order must not change
        # between asks (trial n takes the n-th point of that order).
        grid = {name: grid_values(entry) for name, entry in sweep.search_space.items()}
        return optuna.samplers.GridSampler(grid, seed=sweep.seed)
    seed = _derived_seed(sweep.seed, next_number)
    if sweep.sampler == Sweep.Sampler.RANDOM:
        return optuna.samplers.RandomSampler(seed=seed)
    # constant_liar: a trial still running counts as a poor result, so parallel asks do not
    # propose its configuration again.
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def pruner_build() -> optuna.pruners.BasePruner:
    if not settings.SWEEP_PRUNING:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)


def study_create(sweep: Sweep) -> optuna.Study:
    return optuna.create_study(
        storage=storage(),
        study_name=sweep.study_name,
        direction=sweep.direction,
        load_if_exists=True,
    )


def study_load(sweep: Sweep, *, next_number: int | None = None) -> optuna.Study:
    """The study; with ``next_number``, ready to ask for that trial. Without, for reporting
    and telling only: a plain sampler (the grid's would stop the study on its last tell,
    which Optuna allows only inside ``optimize``)."""
    sampler = (
        optuna.samplers.RandomSampler()
        if next_number is None
        else sampler_build(sweep, next_number=next_number)
    )
    return optuna.load_study(
        study_name=sweep.study_name, storage=storage(), sampler=sampler, pruner=pruner_build()
    )


def trial_handle(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """The running trial, to report fold scores and ask the pruner."""
    return optuna.trial.Trial(study, trial_id)


def param_importances(sweep: Sweep) -> dict[str, float]:
    """Optuna's evaluator (fANOVA) on the completed trials; empty with fewer than two."""
    study = study_load(sweep)
    completed = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])
    if len(completed) < 2 or len(sweep.search_space) < 1:
        return {}
    try:
        importances = optuna.importance.get_param_importances(study)
        return {name: float(value) for name, value in importances.items()}
    except (RuntimeError, ValueError):
        return {}


def tell(study: optuna.Study, *, number: int, state: str, value: float | None = None) -> None:
    """Tell the study how a trial ended; a trial already told (a replay) is left alone."""
    states = {
        "COMPLETE": optuna.trial.TrialState.COMPLETE,
        "PRUNED": optuna.trial.TrialState.PRUNED,
        "FAIL": optuna.trial.TrialState.FAIL,
    }
    # ValueError: no such trial number (a study recreated), nothing to record.
    with contextlib.suppress(ValueError):
        study.tell(
            number,
            values=value if state == "COMPLETE" else None,
            state=states[state],
            skip_if_finished=True,
        )


def params_of(values: dict[str, Any]) -> dict[str, Any]:
    """Optuna's values as JSON (numpy scalars to Python)."""
    return {
        name: value.item() if hasattr(value, "item") else value for name, value in values.items()
    }
