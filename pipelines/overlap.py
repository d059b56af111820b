"""Load one checkpoint step into the warehouse while the next step is fetched.

dlt's extract, normalize and load run one after another; a backfill committed in steps would
wait for the warehouse after every step. Here step k's package is loaded on a background thread
while the main thread extracts step k+1, so the load hides behind the API's pace:

    extract k → (load k-1 done) → normalize k → load k in the background ─┐
                                  extract k+1 ────────────────────────────┴→ normalize k+1 → ...

At most one load runs at a time, and a package is normalized only once the load before it has
finished, so each load sees exactly one package. The load runs dlt's Load step directly rather
than `pipeline.load()`: that method saves the pipeline's local state when it ends, which would
overwrite the state the concurrent extract is writing. If a load fails, the main thread aborts
that package and every later one (a later package's state includes the failed one's cursors),
which restores the local state to before it; a crash at any moment leaves packages that the
next run settles the same way (see `settle_leftovers`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from dlt.common.runners import pool_runner as runner
from dlt.load import Load
from dlt.load.configuration import LoaderConfiguration
from dlt.pipeline.pipeline import Pipeline

# dlt's default for pipeline.load(): jobs of one package loaded at once
LOAD_WORKERS = 20


class BackgroundLoad:
    """Loads normalized packages of `pipeline` on a thread, one at a time."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._thread: threading.Thread | None = None
        self._info: Any = None
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, then: Callable[[], None] | None = None) -> None:
        """Load the normalized package in the background (call `wait` before the next one).

        `then` runs on the same thread once the load has committed (not after a failed load);
        it must not raise.
        """
        if self._thread is not None:
            raise RuntimeError("a load is already running")
        pipeline = self._pipeline
        # Built here, in the thread that owns the pipeline: dlt reads the live schema for it.
        client, staging_client = pipeline._get_destination_clients()  # noqa: SLF001
        step = Load(
            pipeline._destination,  # noqa: SLF001
            staging_destination=pipeline._staging,  # noqa: SLF001
            collector=pipeline.collector,
            is_storage_owner=False,
            config=LoaderConfiguration(
                workers=LOAD_WORKERS,
                raise_on_failed_jobs=True,
                _load_storage_config=pipeline._load_storage_config(),  # noqa: SLF001
            ),
            initial_client_config=client.config,
            initial_staging_client_config=staging_client.config if staging_client else None,
        )
        self._info, self._error = None, None
        self._thread = threading.Thread(
            target=self._run, args=(step, then), name="uapi-load", daemon=True
        )
        self._thread.start()

    def wait(self) -> Any:
        """The finished load's info (None if none ran); raises what made it fail."""
        if self._thread is None:
            return None
        self._thread.join()
        self._thread = None
        if self._error is not None:
            raise self._error
        return self._info

    def _run(self, step: Load, then: Callable[[], None] | None) -> None:
        try:
            runner.run_pool(step.config, step)
            self._info = self._pipeline._get_step_info(step)  # noqa: SLF001
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread by wait()
            self._error = exc
            return
        if then is not None:
            then()
