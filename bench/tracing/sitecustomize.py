"""Where a slow webhook's time went: a tracer for the benchmarks' processes (not the service's).

Python imports ``sitecustomize`` at start-up from the path; with this folder on ``PYTHONPATH`` and
``JB_TRACE_DIR`` set, every `jembatan serve`, `jembatan broadcast` and ``bench.loadgen`` that a
benchmark starts writes JSON lines to ``JB_TRACE_DIR/<role>-<pid>.jsonl``; every time is
``time.perf_counter()`` (CLOCK_MONOTONIC: one clock for every process on Linux)::

    JB_TRACE_DIR=/tmp/trace PYTHONPATH=bench/tracing:. .venv/bin/python -m bench.broadcast --channels telegram
    .venv/bin/python -m bench.trace_report /tmp/trace

- serve: each webhook (``req``: arrival, answer, its pool waits, each statement's start and
  duration with BEGIN and COMMIT), the event loop's stalls over 15 ms with the main thread's
  stacks sampled every 2 ms by a watchdog thread (few samples in a long stall: the process was
  not running), other tasks' statements over 3 ms, BEGINs and COMMITs, pool waits, GC pauses;
- broadcast: every statement, its BEGIN IMMEDIATE and COMMIT (how long the write lock is held);
- loadgen: each POST's start, round trip and the update it carried (matched to the server's).

It patches SQLAlchemy, Starlette and httpx in the traced process: for measuring, never deployed.
"""
import os

if os.environ.get("JB_TRACE_DIR"):
    import contextvars
    import gc
    import json
    import sys
    import threading
    import time
    import atexit
    import traceback

    _dir = os.environ["JB_TRACE_DIR"]
    try:  # sys.argv is not set yet when sitecustomize runs: the command line from /proc
        with open(f"/proc/{os.getpid()}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode()
    except OSError:
        cmd = ""
    _role = ("serve" if " bot serve" in cmd else
             "broadcast" if " bot broadcast" in cmd else
             "loadgen" if "bench.loadgen" in cmd else None)

    if _role:
        _out = open(os.path.join(_dir, f"{_role}-{os.getpid()}.jsonl"), "a", buffering=1)
        _lock = threading.Lock()
        pc = time.perf_counter

        def emit(**kw):
            line = json.dumps(kw, default=str)
            with _lock:
                _out.write(line + "\n")

        emit(ev="start", t=pc(), role=_role, cmd=cmd)
        atexit.register(lambda: emit(ev="exit", t=pc(), cpu=time.process_time(), times=list(os.times())[:4]))

        # ---- gc pauses
        _gc_start = {}

        def _gc_cb(phase, info):
            if phase == "start":
                _gc_start["t"] = pc()
            else:
                d = pc() - _gc_start.get("t", pc())
                if d > 0.002:
                    emit(ev="gc", t=_gc_start["t"], d=d, gen=info.get("generation"), collected=info.get("collected"))

        gc.callbacks.append(_gc_cb)

        current = contextvars.ContextVar("jb_trace_req", default=None)

        def _install_sqla():
            from sqlalchemy import event
            from sqlalchemy.engine import Engine
            from sqlalchemy.pool import impl as pool_impl

            @event.listens_for(Engine, "before_cursor_execute")
            def _before(conn, cursor, statement, parameters, context, executemany):
                conn.info["jb_t0"] = pc()

            @event.listens_for(Engine, "after_cursor_execute")
            def _after(conn, cursor, statement, parameters, context, executemany):
                t0 = conn.info.pop("jb_t0", None)
                if t0 is None:
                    return
                d = pc() - t0
                req = current.get()
                s = statement.strip().split()[0:3]
                kind = " ".join(s[:2]) if s and s[0] == "BEGIN" else (s[0] if s else "?")
                if req is not None:
                    req.setdefault("sql", []).append((round(t0, 6), round(d, 6), kind))
                else:
                    if d > 0.003 or kind.startswith("BEGIN") or _role == "broadcast":
                        emit(ev="sql", t=t0, d=d, kind=kind, task=_task_name(),
                             n=(len(parameters) if executemany and hasattr(parameters, "__len__") else 1),
                             stmt=statement[:80])

            from sqlalchemy.engine import default as default_mod
            orig_commit = default_mod.DefaultDialect.do_commit

            def do_commit(self, dbapi_connection):
                t0 = pc()
                try:
                    return orig_commit(self, dbapi_connection)
                finally:
                    d = pc() - t0
                    req = current.get()
                    if req is not None:
                        req.setdefault("sql", []).append((round(t0, 6), round(d, 6), "COMMIT"))
                    else:
                        emit(ev="commit", t=t0, d=d, task=_task_name())

            default_mod.DefaultDialect.do_commit = do_commit

            orig_get = pool_impl.AsyncAdaptedQueuePool._do_get

            def _do_get(self):
                t0 = pc()
                try:
                    return orig_get(self)
                finally:
                    d = pc() - t0
                    req = current.get()
                    if req is not None:
                        req.setdefault("pool", []).append((round(t0, 6), round(d, 6)))
                    elif d > 0.003:
                        emit(ev="pool_wait", t=t0, d=d, task=_task_name())

            pool_impl.AsyncAdaptedQueuePool._do_get = _do_get

        def _task_name():
            try:
                import asyncio
                task = asyncio.current_task()
                return task.get_name() if task else threading.current_thread().name
            except RuntimeError:
                return threading.current_thread().name

        # Install once sqlalchemy is importable (the project imports it early anyway).
        try:
            _install_sqla()
        except Exception as exc:  # noqa: BLE001
            emit(ev="error", where="sqla", err=repr(exc))

        if _role == "serve":
            _main_ident = threading.main_thread().ident
            _hb = {"t": pc(), "loop": False}

            async def _ticker():
                import asyncio
                while True:
                    _hb["t"] = pc()
                    await asyncio.sleep(0.002)

            def _watchdog():
                stalled_since = None
                stacks = {}
                while True:
                    time.sleep(0.002)
                    if not _hb["loop"]:
                        continue
                    now = pc()
                    lag = now - _hb["t"]
                    if lag > 0.015:
                        if stalled_since is None:
                            stalled_since = _hb["t"]
                            stacks = {}
                        frame = sys._current_frames().get(_main_ident)
                        if frame is not None:
                            st = traceback.extract_stack(frame)
                            key = " <- ".join(f"{os.path.basename(fs.filename)}:{fs.lineno}:{fs.name}"
                                              for fs in reversed(st[-40:]))
                            stacks[key] = stacks.get(key, 0) + 1
                    elif stalled_since is not None:
                        d = _hb["t"] - stalled_since
                        top = sorted(stacks.items(), key=lambda kv: -kv[1])[:3]
                        emit(ev="stall", t=stalled_since, d=d, stacks=top)
                        stalled_since = None

            import starlette.applications as sa

            orig_call = sa.Starlette.__call__

            async def __call__(self, scope, receive, send):
                if scope["type"] == "lifespan":
                    if not _hb["loop"]:
                        import asyncio
                        _hb["loop"] = True
                        _hb["t"] = pc()
                        asyncio.get_running_loop().create_task(_ticker(), name="jb-trace-ticker")
                        threading.Thread(target=_watchdog, daemon=True, name="jb-watchdog").start()
                    return await orig_call(self, scope, receive, send)
                if scope["type"] != "http" or not scope["path"].startswith("/webhooks"):
                    return await orig_call(self, scope, receive, send)
                req = {"path": scope["path"], "t0": pc()}
                token = current.set(req)
                body = []

                async def rcv():
                    msg = await receive()
                    if msg.get("type") == "http.request":
                        body.append(msg.get("body", b""))
                    return msg

                async def snd(msg):
                    if msg["type"] == "http.response.start":
                        req["status"] = msg["status"]
                    if msg["type"] == "http.response.body" and not msg.get("more_body"):
                        req["t_end"] = pc()
                    await send(msg)

                try:
                    return await orig_call(self, scope, rcv, snd)
                finally:
                    req["t1"] = pc()
                    raw = b"".join(body)
                    import re
                    m = re.search(rb'"update_id":\s*(\d+)', raw) or re.search(rb"MessageSid=([A-Za-z0-9]+)", raw)
                    req["id"] = m.group(1).decode() if m else None
                    current.reset(token)
                    emit(ev="req", **req)

            sa.Starlette.__call__ = __call__

        if _role == "loadgen":
            import httpx
            orig_post = httpx.AsyncClient.post

            async def post(self, url, *a, **kw):
                import re
                t0 = pc()
                content = kw.get("content") or b""
                m = re.search(rb'"update_id":\s*(\d+)', content) or re.search(rb"MessageSid=([A-Za-z0-9]+)", content)
                try:
                    r = await orig_post(self, url, *a, **kw)
                    emit(ev="post", t=t0, d=pc() - t0, id=m.group(1).decode() if m else None, status=r.status_code)
                    return r
                except Exception as exc:
                    emit(ev="post", t=t0, d=pc() - t0, id=m.group(1).decode() if m else None, status=repr(exc))
                    raise

            httpx.AsyncClient.post = post
