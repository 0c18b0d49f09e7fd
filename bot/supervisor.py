"""Keeps the one background process of `jembatan serve --workers N` alive.

uvicorn supervises the web workers; this thread supervises the background process beside them
(`jembatan scheduler`: sender, scheduler, Telegram polling). It waits on the child, so a dead
one is reaped at once (no zombie), and starts a new one after a pause that doubles while the
child keeps dying young (a broken configuration must not spin), up to a minute.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
FIRST_PAUSE = 1.0  # seconds before the first restart
LONGEST_PAUSE = 60.0
HEALTHY_AFTER = 60.0  # a child that lived this long died of something new: restart quickly


class BackgroundSupervisor:
    """Starts the background process, restarts it when it dies, stops it on request."""

    def __init__(self, start: Callable[[], subprocess.Popen[bytes]]) -> None:
        self._start = start
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._thread = threading.Thread(target=self._watch, name="background-supervisor", daemon=True)

    def start(self) -> None:
        with self._lock:
            self.process = self._start()
        self._thread.start()

    def _watch(self) -> None:
        pause = FIRST_PAUSE
        while not self._stopping.is_set():
            process = self.process
            assert process is not None
            started = time.monotonic()
            code = process.wait()  # reaps it: a killed child does not linger as a zombie
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= HEALTHY_AFTER:
                pause = FIRST_PAUSE
            log.error("the background process (pid %d: sender, scheduler) exited with %s; "
                      "restarting it in %.0f s", process.pid, code, pause)
            if self._stopping.wait(pause):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self.process = self._start()
                except OSError as exc:
                    log.error("could not restart the background process: %s", exc)
                    pause = min(pause * 2, LONGEST_PAUSE)
                    continue
                self.restarts += 1
            log.warning("background process restarted (pid %d)", self.process.pid)
            pause = min(pause * 2, LONGEST_PAUSE)

    def stop(self, timeout: float = 10) -> None:
        """Stop supervising and end the background process (SIGTERM, then SIGKILL)."""
        with self._lock:
            self._stopping.set()
            process = self.process
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
        self._thread.join(timeout=timeout)
