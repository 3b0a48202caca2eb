"""What a restore's verification reads right after the last write, started before the run's own bookkeeping
ends: ``integrity_check`` on a thread and a connection of its own (it reads every page with the GIL released,
and is the longest check), and the post-write digest on a connection that can later tell, by
``PRAGMA data_version``, whether any other connection has committed since. When nothing has, the verification
takes that digest as the tables' state now instead of reading them again."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from core import graph_store as gs
from core.datadir import DataDir
from core.run_digest import GraphState, graph_state_of


class IntegrityCheck:
    """``PRAGMA integrity_check`` of the graph DB, running from the moment this is made."""

    def __init__(self, dd: DataDir) -> None:
        self._conn = gs.open_live(dd.graph_db)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="integrity-check")
        self._future: Future[list[str]] | None = None
        if self._conn is not None:
            self._future = self._pool.submit(gs.integrity_problems, self._conn)

    def result(self) -> list[str]:
        """Its findings ([] when the file is sound, or there is no graph DB)."""
        return self._future.result() if self._future is not None else []

    def close(self) -> None:
        if self._future is not None and self._conn is not None and not self._future.done():
            self._conn.interrupt()  # a cancel or an error ends the run early: do not wait for a whole check
        if self._future is not None:
            self._future.exception()
        self._pool.shutdown()
        if self._conn is not None:
            self._conn.close()


class AfterWrites:
    """Opened when the run's graph writers are done (and no hook will write after them); closed by the run."""

    def __init__(self, dd: DataDir) -> None:
        self.check = IntegrityCheck(dd)
        self._conn = gs.open_live(dd.graph_db)
        self.state: GraphState | None = None
        self._version: int | None = None

    def take_state(self) -> GraphState | None:
        """The post-write digest and census, read on the connection that remembers when."""
        if self._conn is None:
            return None
        self.state = graph_state_of(self._conn)
        self._version = self._data_version()
        return self.state

    def _data_version(self) -> int:
        assert self._conn is not None
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def unchanged(self) -> bool:
        """No other connection committed to the graph since `take_state` (the run's writer is closed)."""
        return self._version is not None and self._conn is not None and self._data_version() == self._version

    def integrity(self) -> IntegrityCheck | None:
        """The check started at the last write, if the graph is still as it was then."""
        return self.check if self.unchanged() else None

    def close(self) -> None:
        self.check.close()
        if self._conn is not None:
            self._conn.close()
