"""Browser tests: Playwright (sync API) drives Debian's Chromium against the live server.

- `browser`: one Chromium for the whole e2e package. A missing /usr/bin/chromium fails the
  run when CI=true and skips it otherwise.
- `portal`: pytest-django's live server with the demo dataset and the demo accounts,
  created by the same code as `manage.py setup_demo`. Each test gets a fresh copy
  (transactional tests flush the database afterwards).
- `web`: opens browser contexts that record console errors, page errors and CSP
  violations. It runs axe-core, checks pages at 375 px and saves screenshots.
  `web.assert_clean()` ends every test.

Screenshots go to $E2E_ARTIFACTS (default: artifacts/e2e in the project, gitignored).
"""

import io
import json
import os
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.sql import emit_post_migrate_signal
from django.db import DEFAULT_DB_ALIAS
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from mitigations.management.commands.setup_demo import DEMO_ACCOUNTS
from portal.accounts import second_factor
from portal.lib import access

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
BASE_DIR = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS") or BASE_DIR / "artifacts" / "e2e")
AXE_JS = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
# Also run axe's best-practice rules (landmarks, heading order, …): recorded in the JSON
# reports, but only WCAG A/AA findings fail a test.
AXE_INFO_TAGS = ["best-practice"]
AXE_BLOCKING = ("serious", "critical")
PHONE_WIDTH = 375
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"

PASSWORDS = {username: password for username, _role, password in DEMO_ACCOUNTS}

# Injected by DevTools into every document before the page's own scripts (so CSP does not
# apply to it): collects CSP violations in the page and reports them to Python.
CSP_LISTENER = """
(() => {
  window.__cspViolations = [];
  document.addEventListener("securitypolicyviolation", (e) => {
    const v = {
      page: location.href,
      directive: e.effectiveDirective || e.violatedDirective,
      blocked: e.blockedURI,
      source: e.sourceFile,
      line: e.lineNumber,
      sample: e.sample,
    };
    window.__cspViolations.push(v);
    if (window.__e2eReportCsp) window.__e2eReportCsp(v);
  }, true);
})();
"""

AXE_RUN = """
async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, tags: v.tags, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), html: n.html,
                                summary: n.failureSummary})),
  }));
}
"""

OVERFLOWING = """
() => {
  const width = window.innerWidth;
  return [...document.querySelectorAll("body *")]
    .filter((el) => el.getBoundingClientRect().right > width + 0.5)
    .filter((el) => !el.closest(".visually-hidden, .visually-hidden-focusable, .honeypot"))
    .slice(0, 8)
    .map((el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
         (el.className && typeof el.className === "string" ? "." + el.className.trim()
           .replace(/\\s+/g, ".") : "") + " right=" + Math.round(el.getBoundingClientRect().right));
}
"""


# --- Reports -------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


_artifacts_used = []


def pytest_terminal_summary(terminalreporter):
    if _artifacts_used:
        terminalreporter.write_line(f"e2e screenshots and axe reports: {ARTIFACTS}")


# --- The browser ---------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser():
    """One headless Chromium for every test of this package.

    Playwright's sync API keeps an asyncio loop running in the main thread while it is
    started, and Django then refuses ORM calls from that thread (SynchronousOnlyOperation).
    DJANGO_ALLOW_ASYNC_UNSAFE is set only for as long as the browser runs (package scope:
    it stops before the rest of the suite, which keeps Django's check).
    """
    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


# --- The portal ----------------------------------------------------------------------------


def _recreate_permissions():
    """Content types and permissions, after an earlier transactional test's flush removed them."""
    if not Permission.objects.exists():
        emit_post_migrate_signal(0, False, DEFAULT_DB_ALIAS)


@pytest.fixture
def portal(browser, live_server, settings):
    """The live server with the demo dataset and the demo accounts (setup_demo's code)."""
    settings.FEEDBACK_MIN_SECONDS = 0
    _recreate_permissions()
    access.sync_roles()  # the role groups come from a migration; a flush removes them
    call_command("setup_demo", force=True, stdout=io.StringIO())
    return live_server


# --- The helper ----------------------------------------------------------------------------


class Web:
    """Browser contexts that record problems, plus axe, phone-width and screenshot checks."""

    def __init__(self, browser, base_url, name):
        self.browser = browser
        self.base_url = base_url
        self.name = name
        self.contexts = []
        self.console_errors = []
        self.page_errors = []
        self.csp_violations = []
        self.axe_failures = {}
        self.overflows = {}

    # contexts and pages

    def context(self, *, width=1280, height=900, **options):
        context = self.browser.new_context(
            base_url=self.base_url, viewport={"width": width, "height": height}, **options
        )
        context.set_default_timeout(10_000)
        context.expose_binding("__e2eReportCsp", lambda _source, v: self._csp(v))
        context.add_init_script(CSP_LISTENER)
        context.on("console", self._console)
        context.on("weberror", lambda e: self.page_errors.append(str(e.error)))
        self.contexts.append(context)
        return context

    def page(self, **options):
        return self.context(**options).new_page()

    def _console(self, message):
        if message.type == "error":
            location = message.location or {}
            self.console_errors.append(f"{message.text} ({location.get('url', '?')})")

    def _csp(self, violation):
        if violation not in self.csp_violations:
            self.csp_violations.append(violation)

    def sign_in(self, page, username):
        """Fill in and send the portal's sign-in form (the page must show it), then the
        second factor with a real code computed from the account's device."""
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORDS[username])
        page.get_by_role("button", name="Sign in").click()
        self.enter_code(page, username)

    def enter_code(self, page, username):
        """The second step of signing in: the code the account's authenticator shows now."""
        expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
        device = TOTPDevice.objects.get(user__username=username, confirmed=True)
        page.get_by_label("Code").fill(second_factor.fresh_code(device))
        page.get_by_role("button", name="Continue").click()

    # checks

    def shot(self, page, name):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
        _artifacts_used.append(name)

    def axe(self, page, name):
        """Run axe-core (WCAG 2.0/2.1/2.2 A and AA) and record serious or critical findings.

        The script is evaluated through DevTools, which CSP does not restrict; the page's
        own CSP stays as it is.
        """
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(AXE_JS.read_text(encoding="utf-8"))
        violations = page.evaluate(AXE_RUN, AXE_TAGS + AXE_INFO_TAGS)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(violations, indent=2))
        blocking = [
            v
            for v in violations
            if v["impact"] in AXE_BLOCKING and any(tag in AXE_TAGS for tag in v["tags"])
        ]
        if blocking:
            self.axe_failures[f"{name} ({page.url})"] = blocking
        return violations

    def fits_phone(self, page, name):
        """At 375 px the page must not scroll sideways; records the widest elements if it does."""
        page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
        fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        if not fits:
            self.overflows[f"{name} ({page.url})"] = page.evaluate(OVERFLOWING)
        return fits

    def assert_clean(self):
        """Every test ends here: no console or page errors, no CSP violations, axe, 375 px."""
        for context in self.contexts:
            for page in context.pages:
                if not page.is_closed():
                    for violation in page.evaluate("window.__cspViolations || []"):
                        self._csp(violation)
        problems = []
        if self.console_errors:
            problems.append("Console errors:\n" + "\n".join(f"  {e}" for e in self.console_errors))
        if self.page_errors:
            problems.append("Page errors:\n" + "\n".join(f"  {e}" for e in self.page_errors))
        if self.csp_violations:
            problems.append(
                "CSP violations:\n"
                + "\n".join(
                    f"  {v['directive']} blocked {v['blocked'] or '-'} on {v['page']}"
                    f" (source {v['source'] or '-'}:{v['line']}, sample {v['sample']!r})"
                    for v in self.csp_violations
                )
            )
        if self.axe_failures:
            problems.append("axe (serious/critical):\n" + format_axe(self.axe_failures))
        if self.overflows:
            problems.append(
                f"Horizontal scroll at {PHONE_WIDTH} px:\n"
                + "\n".join(f"  {page}: {', '.join(els)}" for page, els in self.overflows.items())
            )
        assert not problems, "\n\n".join(problems)

    def close(self):
        for context in self.contexts:
            context.close()


def format_axe(failures):
    lines = []
    for page, violations in failures.items():
        lines.append(f"  {page}")
        for v in violations:
            lines.append(f"    [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
            for node in v["nodes"][:5]:
                lines.append(f"      - {node['target']}: {node['html'][:160]}")
                summary = " ".join(node["summary"].split())
                lines.append(f"        {summary[:300]}")
            if len(v["nodes"]) > 5:
                lines.append(f"      … and {len(v['nodes']) - 5} more")
    return "\n".join(lines)


@pytest.fixture
def web(request, browser, portal):
    helper = Web(browser, portal.url, re.sub(r"\W+", "-", request.node.name).strip("-"))
    yield helper
    report = getattr(request.node, "rep_call", None)
    try:
        if report is not None and report.failed:
            for i, context in enumerate(helper.contexts):
                for j, page in enumerate(context.pages):
                    if not page.is_closed():
                        helper.shot(page, f"failed-{helper.name}-{i}-{j}")
    finally:
        helper.close()
