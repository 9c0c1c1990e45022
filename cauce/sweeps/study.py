"""Optuna, in Cauce's own database: the storage, the sampler and the distributions.

Imported by workers only (the engine): web processes never load Optuna.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
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


# The studies this process used last, each with its own cache of trials (Optuna's
# ``_CachedStorage``, what ``optuna.load_study`` wraps an RDBStorage in, kept here from one
# trial or ask to the next): a finished trial is read from the database once per process,
# not at every load, and the study's id and direction are not asked for again. The cache
# is safe across processes (Optuna's own multi-process design: only finished trials, which
# never change, are kept; unfinished and newer ones are read again at each use).
@dataclass
class _Loaded:
    study: optuna.Study
    storage: optuna.storages.BaseStorage
    study_id: int


_studies: OrderedDict[tuple[int, str, str], _Loaded] = OrderedDict()
_STUDIES_KEPT = 4


def _loaded(study_name: str) -> _Loaded:
    key = (os.getpid(), storage_url(), study_name)
    found = _studies.get(key)
    if found is None:
        cached = optuna.storages.get_storage(storage())
        study = optuna.load_study(
            study_name=study_name, storage=cached, sampler=optuna.samplers.RandomSampler()
        )
        found = _Loaded(study, cached, cached.get_study_id_from_name(study_name))
        for other in [k for k in _studies if k[0] != key[0]]:
            _studies.pop(other, None)  # a parent's, forked: never used here
        _studies[key] = found
        while len(_studies) > _STUDIES_KEPT:
            _studies.popitem(last=False)
    else:
        _studies.move_to_end(key)
    return found


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
    """This process's study (see ``_studies``); with ``next_number``, ready to ask for that
    trial. Without, for reporting and telling only: a plain sampler (the grid's would stop
    the study on its last tell, which Optuna allows only inside ``optimize``)."""
    study = _loaded(sweep.study_name).study
    study.sampler = (
        optuna.samplers.RandomSampler()
        if next_number is None
        else sampler_build(sweep, next_number=next_number)
    )
    study.pruner = pruner_build()
    return study


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


_STATES = {
    "COMPLETE": optuna.trial.TrialState.COMPLETE,
    "PRUNED": optuna.trial.TrialState.PRUNED,
    "FAIL": optuna.trial.TrialState.FAIL,
}


def tell(
    study: optuna.Study,
    *,
    number: int,
    state: str,
    value: float | None = None,
    trial_id: int | None = None,
) -> None:
    """Tell the study how a trial ended; a trial already told (a replay) is left alone.

    What ``Study.tell(number, ..., skip_if_finished=True)`` writes (the state, the value; a
    pruned trial's value is its last reported one), through the storage: without the two
    reads of the whole trial around it (the storage itself refuses a finished trial, under a
    row lock) and without the sampler's ``after_trial``, a no-op for the plain sampler a
    study is told with here (see ``study_load``). ``trial_id``: the trial's id in the storage
    when the caller has it (the trial's row), which saves looking it up by number."""
    loaded = _loaded(study.study_name)
    if trial_id is None:
        try:
            trial_id = loaded.storage.get_trial_id_from_study_id_trial_number(
                loaded.study_id, number
            )
        except (KeyError, ValueError):
            return  # no such trial number (a study recreated): nothing to record
    values = None
    if state == "COMPLETE":
        values = [float(value)] if value is not None and math.isfinite(value) else None
        if values is None:  # never so (a completed trial's score is finite): not left RUNNING
            state = "FAIL"
    elif state == "PRUNED":
        frozen = loaded.storage.get_trial(trial_id)
        last = frozen.last_step
        if last is not None and math.isfinite(frozen.intermediate_values[last]):
            values = [frozen.intermediate_values[last]]
    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
        loaded.storage.set_trial_state_values(trial_id, _STATES[state], values)


def params_of(values: dict[str, Any]) -> dict[str, Any]:
    """Optuna's values as JSON (numpy scalars to Python)."""
    return {
        name: value.item() if hasattr(value, "item") else value for name, value in values.items()
    }
