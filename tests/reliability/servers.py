"""Real app servers for the reliability tests: gunicorn subprocesses, a private Redis and a
small HTTP client.

`AppServer` runs `gunicorn portal.wsgi` in its own process group with a production-style
environment (DEBUG=false, a real secret, Redis cache) and stops it (and only it) again.
`Browser` is one visitor: a cookie jar over http.client, with a browser-like form parser so
that admin change forms can be sent back exactly as rendered.
"""

from __future__ import annotations

import contextlib
import html.parser
import http.client
import http.cookies
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
SETTINGS_MODULE = "tests.reliability.settings"
APP_NAME = "portal-reliability"  # application_name of the app servers' DB connections


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def random_secret() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
    return "".join(secrets.choice(alphabet) for _ in range(64))


def database_url(db: dict, *, application_name: str = APP_NAME) -> str:
    """A DATABASE_URL for Django's DATABASES entry `db` (PostgreSQL or an SQLite file)."""
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{db['NAME']}?application_name={application_name}"


def production_env(*, database_url: str, secret_key: str, **extra: str) -> dict[str, str]:
    """The environment of a production app server, for plain http on 127.0.0.1.

    Starts from a minimal environment, so nothing of the test process (DATABASE_URL, DEBUG,
    ...) leaks in; `extra` adds or overrides variables.
    """
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ") if k in os.environ}
    env.update(
        DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
        PYTHONDONTWRITEBYTECODE="1",
        DEBUG="false",
        SECRET_KEY=secret_key,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        SECURE_COOKIES="false",
        DATABASE_URL=database_url,
        EMAIL_URL="consolemail://",
        TASKS_BACKEND="immediate",
        FEEDBACK_MIN_SECONDS="0",
        LOG_LEVEL="WARNING",
    )
    if "PAGE_CACHE_SECONDS" in os.environ:  # CI's second pass runs the servers without it
        env["PAGE_CACHE_SECONDS"] = os.environ["PAGE_CACHE_SECONDS"]
    env.update(extra)
    return env


def collectstatic(target: Path) -> None:
    """Hashed, compressed static files (the production storage) into `target`."""
    env = production_env(
        database_url="sqlite:////nonexistent/unused.sqlite3",
        secret_key=random_secret(),
        RELIABILITY_STATIC_ROOT=str(target),
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


class AppServer:
    """`gunicorn portal.wsgi -b 127.0.0.1:<free port> -w N` with the given environment."""

    def __init__(self, env: dict[str, str], *, workers: int = 2, log_dir: Path, name: str):
        self.env = env
        self.workers = workers
        self.name = name
        self.port = free_port()
        self.log_path = Path(log_dir) / f"gunicorn-{name}-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                str(GUNICORN),
                "portal.wsgi",
                "-b",
                f"127.0.0.1:{self.port}",
                "-w",
                str(self.workers),
                "--timeout",
                "30",
                "--graceful-timeout",
                "5",
                # gunicorn >= 27 opens a control socket at one fixed path per user by
                # default; several instances on one host would take it from each other.
                "--no-control-socket",
                "--preload",  # as portal/gunicorn_conf.py: load the app once, then fork
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole, by id
        )
        return self

    def wait_ready(self, timeout: float = 60, statuses=(200,)) -> AppServer:
        """Wait until /healthz answers 200 (the app is loaded and reaches its database), or
        another of `statuses` (503: loaded, database unreachable)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"{self.name} exited ({code}):\n{self.log()[-5000:]}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if Browser(self.url).get("/healthz").status in statuses:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.log()[-5000:]}")

    def begin_stop(self) -> None:
        """Kill the server's process group (master and workers) at once.

        A test server has nothing to finish; gunicorn's own quick shutdown (SIGQUIT) takes
        over a second. The database notices the closed connections immediately.
        """
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        self.begin_stop()
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None) is not None:
            self._log.close()

    def log(self) -> str:
        """Everything the server wrote (gunicorn's and Django's logs)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class RedisServer:
    """A private `redis-server` on a free port (no persistence), in its own process group:
    stopped, paused and started again by the tests (never anyone else's Redis)."""

    def __init__(self, workdir: Path, *, port: int | None = None):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--loglevel",
                "warning",
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self.proc.returncode})")
            time.sleep(0.05)
        raise RuntimeError(f"redis-server not answering on {self.port} after {timeout} s")

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)

    def ping(self) -> bool:
        import redis

        client = self.client()
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def keys(self, pattern: str = "*") -> list[bytes]:
        client = self.client()
        try:
            return list(client.scan_iter(match=pattern, count=1000))
        finally:
            client.close()

    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, nothing answers (a hung host)."""
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGCONT)
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)


# --- A visitor ------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    def header_dict(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}


class Browser:
    """One visitor with its own cookies. A new TCP connection per request (sync workers
    close after each response anyway), so a server-side reset shows up as an exception."""

    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None, timeout=30):
        host_port = base_url.split("://", 1)[1].rstrip("/")
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        self.cookies: dict[str, str] = {}
        self.default_headers = headers or {}
        self.timeout = timeout

    def request(self, method: str, path: str, body: bytes | None = None, headers=None) -> Response:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            all_headers = {**self.default_headers, **(headers or {})}
            if self.cookies:
                all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
            for raw in response.headers.get_all("Set-Cookie") or []:
                jar = http.cookies.SimpleCookie()
                jar.load(raw)
                for key, morsel in jar.items():
                    if morsel.value and morsel["max-age"] != "0":
                        self.cookies[key] = morsel.value
                    else:
                        self.cookies.pop(key, None)
            return Response(response.status, response.headers, data)
        finally:
            conn.close()

    def get(self, path: str, **kwargs) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data, headers=None) -> Response:
        """A form POST; the CSRF token is added from the cookie unless `data` has one."""
        items = list(data.items()) if isinstance(data, dict) else list(data)
        if "csrftoken" in self.cookies and not any(k == "csrfmiddlewaretoken" for k, _ in items):
            items.append(("csrfmiddlewaretoken", self.cookies["csrftoken"]))
        return self.request(
            "POST",
            path,
            body=urlencode(items).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
        )

    def sign_in(self, username: str, password: str, *, totp_key: str | None = None) -> Response:
        """Sign in with the password and, for an account with a role, a real code computed
        from its device's secret (`totp_key`, hex; looked up in the test database if not
        given)."""
        self.get("/accounts/signin/")
        response = self.post("/accounts/signin/", {"username": username, "password": password})
        assert response.status == 302, (response.status, response.text[:2000])
        assert "sessionid" in self.cookies
        if "/accounts/second-factor/" in response.location:
            if totp_key is None:
                from django_otp.plugins.otp_totp.models import TOTPDevice

                totp_key = TOTPDevice.objects.get(user__username=username, confirmed=True).key
            path = response.location.split("://", 1)[-1]
            path = path[path.index("/") :] if "://" in response.location else path
            response = self.post(path, {"code": next_totp_code(totp_key)})
            assert response.status == 302, (response.status, response.text[:2000])
        return response


_last_step: dict[str, int] = {}


def next_totp_code(key_hex: str, step_seconds: int = 30) -> str:
    """A TOTP code the portal accepts now and has not seen: each code is accepted once, and
    one step early, so the next step's code is used when this one's was; past that, wait.
    (Only the test process signs in to these accounts, so it knows which it used.)"""
    from django_otp.oath import TOTP

    while True:
        now = time.time()
        current = int(now) // step_seconds
        step = max(current, _last_step.get(key_hex, -1) + 1)
        if step <= current + 1:
            break
        time.sleep(step_seconds - now % step_seconds + 0.05)
    _last_step[key_hex] = step
    totp = TOTP(bytes.fromhex(key_hex), step=step_seconds)
    totp.time = step * step_seconds
    return f"{totp.token():06d}"


# --- Forms, as a browser would send them ------------------------------------------------------


@dataclass
class Form:
    attrs: dict[str, str]
    fields: list[tuple[str, str]] = field(default_factory=list)

    def set(self, name: str, value: str) -> None:
        self.fields = [(k, v) for k, v in self.fields if k != name] + [(name, value)]

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.fields if k == name), None)


class _FormParser(html.parser.HTMLParser):
    SKIP_TYPES = {"submit", "button", "image", "reset", "file"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._textarea: tuple[str, list[str]] | None = None
        self._select: tuple[str, bool, list[tuple[str, bool]]] | None = None
        self._option: list | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = Form(a)
            self.forms.append(self._form)
        if self._form is None or ("name" not in a and tag not in ("option",)):
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in self.SKIP_TYPES or ("disabled" in a):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            default = "on" if kind in ("checkbox", "radio") else ""
            self._form.fields.append((a["name"], a.get("value", default)))
        elif tag == "textarea":
            self._textarea = (a["name"], [])
        elif tag == "select":
            self._select = (a["name"], "multiple" in a, [])
        elif tag == "option" and self._select is not None:
            self._option = [a.get("value"), "selected" in a, []]

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1].append(data)
        if self._option is not None:
            self._option[2].append(data)

    def handle_endtag(self, tag):
        if tag == "textarea" and self._textarea is not None:
            text = "".join(self._textarea[1])
            if text.startswith("\n"):  # browsers drop one newline after <textarea>
                text = text[1:]
            self._form.fields.append((self._textarea[0], text))
            self._textarea = None
        elif tag == "option" and self._option is not None:
            value, selected, text = self._option
            self._select[2].append((value if value is not None else "".join(text), selected))
            self._option = None
        elif tag == "select" and self._select is not None:
            name, multiple, options = self._select
            chosen = [v for v, selected in options if selected]
            if not chosen and not multiple and options:
                chosen = [options[0][0]]
            self._form.fields.extend((name, v) for v in chosen)
            self._select = None
        elif tag == "form":
            self._form = None


def forms_of(page: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(page)
    parser.close()
    return parser.forms


def form_by_id(page: str, form_id: str) -> Form:
    for form in forms_of(page):
        if form.attrs.get("id") == form_id:
            return form
    raise LookupError(f"no form with id={form_id!r}")


def feedback_form(page: str) -> Form:
    for form in forms_of(page):
        if "feedback-form" in form.attrs.get("class", "").split():
            return form
    raise LookupError("no feedback form on the page")


# --- Load: visitors reading pages and sending feedback ----------------------------------------


class Load:
    """Visitors in threads against one app server, until `stop` is set.

    Each visitor loops: GET a page (from `pages`, in turn), GET the feedback form, POST it
    with a unique comment. Every answer is recorded as (seconds since start, what, outcome):
    what is "page", "form" or "post"; outcome the HTTP status or the exception's class name
    (a refused or reset connection). Feedback acknowledged with the redirect to the
    thank-you page is remembered as comment -> tracking token.
    """

    def __init__(self, url: str, pages: list[str], feedback_path: str, *, timeout=20):
        self.url, self.pages, self.feedback_path = url, pages, feedback_path
        self.timeout = timeout
        self.started = time.monotonic()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.results: list[tuple[float, str, int | str]] = []
        self.durations: list[tuple[float, float]] = []  # (finished at, seconds taken)
        self.acknowledged: dict[str, str] = {}
        self.bad_503s: list[str] = []  # 503 answers without the 503 page or Retry-After
        self.threads: list[threading.Thread] = []

    def now(self) -> float:
        return time.monotonic() - self.started

    def start(self, visitors: int) -> Load:
        self.threads = [
            threading.Thread(target=self._visitor, args=(n,), daemon=True) for n in range(visitors)
        ]
        for thread in self.threads:
            thread.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        if any(thread.is_alive() for thread in self.threads):
            raise RuntimeError("a visitor thread did not finish")

    def _call(self, what, func):
        began = self.now()
        try:
            response = func()
        except (OSError, http.client.HTTPException) as exc:
            with self.lock:
                self.results.append((self.now(), what, type(exc).__name__))
                self.durations.append((self.now(), self.now() - began))
            return None
        with self.lock:
            self.results.append((self.now(), what, response.status))
            self.durations.append((self.now(), self.now() - began))
            if response.status == 503 and (
                response.headers.get("Retry-After") != "5" or "unavailable" not in response.text
            ):
                self.bad_503s.append(response.text[:500])
        return response

    def _visitor(self, n: int) -> None:
        browser = Browser(self.url, timeout=self.timeout)
        i = 0
        while not self.stop.is_set():
            i += 1
            page = self.pages[i % len(self.pages)]
            self._call("page", lambda page=page: browser.get(page))
            form_page = self._call("form", lambda: browser.get(self.feedback_path))
            if form_page is None or form_page.status != 200:
                time.sleep(0.05)
                continue
            form = feedback_form(form_page.text)
            comment = f"Load visitor {n}, message {i}, {secrets.token_hex(4)}."
            form.set("section", "definition")
            form.set("kind", "error")
            form.set("comment", comment)
            fields = form.fields
            sent = self._call("post", lambda f=fields: browser.post(self.feedback_path, f))
            if (
                sent is not None
                and sent.status == 302
                and sent.location.startswith("/feedback/thanks/")
            ):
                with self.lock:
                    self.acknowledged[comment] = sent.location.rstrip("/").rsplit("/", 1)[1]

    # --- summaries ---------------------------------------------------------------------------

    def outcomes(self) -> dict:
        counts: dict = {}
        for _, _, outcome in self.results:
            counts[outcome] = counts.get(outcome, 0) + 1
        return counts

    def first_success_after(self, moment: float, what: str | None = None) -> float | None:
        """Seconds after `moment` until the first 200/302 (of kind `what`, or any)."""
        for at, kind, outcome in sorted(self.results):
            if at > moment and (what is None or kind == what) and outcome in (200, 302):
                return at - moment
        return None
