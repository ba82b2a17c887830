"""What every real-browser test shares: Chromium (Debian's package) driven by Playwright, a real
`kaohe serve` process on a fresh SQLite file with tokens from `kaohe token create`, and a `Story`
that signs in as each role and saves a screenshot of each page.

Chromium is installed from Debian's packages where missing (as root). Where it cannot be had
a browser test is skipped with the reason, unless KAOHE_REQUIRE_BROWSER=1 (set by .ci/run), which
makes a missing browser a failure. Import the fixtures into a test module to use them.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
DEBIAN_PACKAGES = ["chromium", "chromium-driver", "fonts-noto-cjk"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--lang=zh-CN"]
VIEWPORT = {"width": 1366, "height": 768}
DISTRICTS = ["中山区", "西岗区", "沙河口区", "甘井子区", "旅顺口区", "金州区", "普兰店区", "瓦房店市", "庄河市", "长海县"]
TIMEOUT_MS = 30_000


def unavailable(reason: str) -> None:
    """Skip, or fail when the browser is required (KAOHE_REQUIRE_BROWSER=1)."""
    if os.environ.get("KAOHE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser required (KAOHE_REQUIRE_BROWSER=1) but not available: {reason}")
    pytest.skip(f"no browser: {reason}")


def cjk_fonts_missing() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return True
    out = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True).stdout
    return not out.strip()


def install_debian_packages() -> str | None:
    """Install Chromium (and CJK fonts for readable screenshots) where missing; the reason when it cannot."""
    missing_browser = not Path(CHROMIUM).exists()
    if not missing_browser and shutil.which("chromedriver") and not cjk_fonts_missing():
        return None
    if os.geteuid() != 0:
        return None if not missing_browser else "chromium is not installed and this user is not root (apt-get needs root)"
    apt = shutil.which("apt-get")
    if apt is None:
        return None if not missing_browser else "chromium is not installed and there is no apt-get here"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run([apt, "update", "-q"], env=env, check=True, capture_output=True, timeout=900)
        subprocess.run([apt, "install", "-y", "-q", *DEBIAN_PACKAGES], env=env, check=True, capture_output=True,
                       timeout=1800)
    except subprocess.CalledProcessError as e:
        tail = (e.stderr or b"").decode(errors="replace")[-800:]
        return None if not missing_browser else f"apt-get install {' '.join(DEBIAN_PACKAGES)} failed: {tail}"
    except subprocess.TimeoutExpired:
        return None if not missing_browser else "apt-get install timed out"
    return None if Path(CHROMIUM).exists() else f"{CHROMIUM} still missing after apt-get install"


@pytest.fixture(scope="module")
def playwright_api():
    reason = install_debian_packages()
    if reason:
        unavailable(reason)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the Python package playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def screenshots() -> Path:
    folder = Path(os.environ.get("KAOHE_SCREENSHOTS") or ROOT / "tests" / "screenshots").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def kaohe_command() -> list[str]:
    script = Path(sys.executable).with_name("kaohe")
    if script.exists():
        return [str(script)]
    found = shutil.which("kaohe")
    if found:
        return [found]
    return [sys.executable, "-m", "api.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



@contextmanager
def running_server(home: Path, token_specs: dict[str, tuple[str, ...]]) -> Iterator[dict]:
    """`kaohe serve` on a free port over a fresh SQLite file in `home`; tokens made first, as
    {key: (name, role, *scope flags)}, before any year is open (so with --allow-unknown-scope).
    Yields {"base": url, "tokens": {key: token}, "env": env}."""
    env = {**os.environ, "KAOHE_DATABASE_URL": f"sqlite:///{home}/kaohe.sqlite3"}
    kaohe = kaohe_command()

    def token(name: str, role: str, *scope: str) -> str:
        out = subprocess.run([*kaohe, "token", "create", "--name", name, "--role", role, *scope,
                              "--allow-unknown-scope"], env=env, cwd=home,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()[-1]

    tokens = {key: token(*spec) for key, spec in token_specs.items()}
    port = free_port()
    log = open(home / "serve.log", "w")
    process = subprocess.Popen([*kaohe, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=home,
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"kaohe serve did not start:\n{(home / 'serve.log').read_text()}")
            time.sleep(0.2)
        yield {"base": base, "tokens": tokens, "env": env}
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def page(playwright_api, tmp_path):
    context = playwright_api.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
        viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai", accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.pages[0] if context.pages else context.new_page()
    finally:
        context.close()


class Story:
    """The browser session of the test: sign in and out as each role, save a screenshot of each page."""

    def __init__(self, page, base: str, tokens: dict[str, str], folder: Path):
        self.page, self.base, self.tokens, self.folder = page, base, tokens, folder
        self.count = 0

    def shot(self, name: str, copy_to: Path | None = None, full_page: bool = False) -> None:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        if copy_to is not None and os.environ.get("KAOHE_UPDATE_DOCS") == "1":
            copy_to.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy_to)

    def sign_in(self, who: str) -> None:
        self.page.goto(self.base + "/")
        assert "登录" in self.page.title()
        self.page.fill("#token", self.tokens[who])
        self.page.click("#signin-form button[type=submit]")
        self.page.wait_for_load_state()
        assert "/web" in self.page.url, self.page.url

    def open_year(self, year: int, districts: list[str], shot: str | None = None) -> None:
        """As the signed-in admin: open a year on the years page (a screenshot of the filled form if named)."""
        self.page.fill("#year", str(year))
        self.page.fill("#districts", "\n".join(districts))
        if shot:
            self.shot(shot)
        self.page.click("#open-year-form button[type=submit]")
        self.page.wait_for_url(f"**/web/{year}/ranking**")

    def sign_out(self) -> None:
        self.page.click("form.signout button")
        self.page.wait_for_url(self.base + "/")


