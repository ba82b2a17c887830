"""The web pages in a real browser: headless Chromium (Debian's package) driven by Playwright for Python.

`kaohe serve` runs as a real process on a temporary SQLite file; tokens come from
`kaohe token create`. The test signs in as admin (opens 2018), as the office (logs a meeting
with one absent district), as that district (sees 99.50, disputes the deduction), as the office
again (overturns it) and as the district again (100.00). Every page is saved as a screenshot
under tests/screenshots/ (or $KAOHE_SCREENSHOTS); with KAOHE_UPDATE_DOCS=1 two of them are
also copied to docs/screenshots/ for the README (a plain test run leaves the repository alone).

Chromium is installed from Debian's packages where missing (as root). Where it cannot be had
the test is skipped with the reason, unless KAOHE_REQUIRE_BROWSER=1 (set by .ci/run), which
makes a missing browser a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
DEBIAN_PACKAGES = ["chromium", "chromium-driver", "fonts-noto-cjk"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--lang=zh-CN"]
VIEWPORT = {"width": 1366, "height": 768}
DISTRICTS = ["中山区", "西岗区", "沙河口区", "甘井子区", "旅顺口区", "金州区", "普兰店区", "瓦房店市", "庄河市", "长海县"]
ABSENT = "中山区"
EXCUSED = "西岗区"
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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`kaohe serve` on a free port over a fresh SQLite file, with one token per role the story needs."""
    home = tmp_path_factory.mktemp("kaohe-serve")
    env = {**os.environ, "KAOHE_DATABASE_URL": f"sqlite:///{home}/kaohe.sqlite3"}
    kaohe = kaohe_command()

    def token(name: str, role: str, *scope: str) -> str:
        out = subprocess.run([*kaohe, "token", "create", "--name", name, "--role", role, *scope], env=env, cwd=home,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()[-1]

    tokens = {
        "admin": token("系统管理员", "admin"),
        "office": token("市总工会办公室", "office"),
        ABSENT: token(f"{ABSENT}总工会", "district", "--district", ABSENT),
    }
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
        yield {"base": base, "tokens": tokens}
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

    def shot(self, name: str, copy_to: Path | None = None) -> None:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path))
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

    def sign_out(self) -> None:
        self.page.click("form.signout button")
        self.page.wait_for_url(self.base + "/")


def test_meeting_absence_dispute_and_overturn_in_a_real_browser(page, server, screenshots, capsys):
    story = Story(page, server["base"], server["tokens"], screenshots)
    docs = ROOT / "docs" / "screenshots"

    # the admin opens the year
    story.sign_in("admin")
    assert page.url.endswith("/web/years")
    page.fill("#year", "2018")
    page.fill("#districts", "\n".join(DISTRICTS))
    story.shot("admin-open-year")
    page.click("#open-year-form button[type=submit]")
    page.wait_for_url("**/web/2018/ranking**")
    assert page.locator("#ranking tbody tr").count() == len(DISTRICTS)
    story.shot("admin-ranking")
    story.sign_out()

    # the office logs a meeting: one district absent, one excused
    story.sign_in("office")
    assert page.url.endswith("/web/2018/meetings")
    assert page.locator("table.rollcall tbody tr").count() == len(DISTRICTS)
    assert page.locator("table.rollcall input[value=present]:checked").count() == len(DISTRICTS)
    page.fill("#title", "全市工会工作会议")
    page.fill("#held_on", "2018-03-15")
    page.check(f"input[aria-label='{ABSENT} 缺席']")
    page.check(f"input[aria-label='{EXCUSED} 请假']")
    story.shot("office-roll-call", copy_to=docs / "office-roll-call.png")
    page.click("#meeting-form button[type=submit]")
    page.wait_for_url("**/web/2018/meetings?ok=meeting")
    listed = page.locator("#meeting-list tbody tr").first
    assert "全市工会工作会议" in listed.inner_text() and ABSENT in listed.inner_text()
    story.shot("office-meeting-logged")
    for label in ("报送材料", "临时任务"):
        page.click(f"nav a:text('{label}')")
        story.shot("office-" + {"报送材料": "reports", "临时任务": "tasks"}[label])
    page.click("nav a:text('指标考核')")
    cell = page.locator("#assess tr[data-indicator='8.2'] a").first
    assert cell.inner_text() == "3.50"
    story.shot("office-assess")
    cell.click()
    page.wait_for_url("**/assess/**/8.2")
    assert "未参加：全市工会工作会议" in page.locator("#clause-8\\.2\\.b").inner_text()
    story.shot("office-indicator-8.2")
    page.click("nav a:text('成绩排名')")
    assert page.locator(f"#ranking tr[data-district='{ABSENT}'] td.total").inner_text() == "99.50"
    story.shot("office-ranking")
    story.sign_out()

    # the district sees 99.50 and disputes the deduction
    story.sign_in(ABSENT)
    assert page.locator("#total").inner_text() == "99.50"
    assert "未参加：全市工会工作会议" in page.locator("#deductions").inner_text()
    story.shot("district-breakdown", copy_to=docs / "district-breakdown.png")
    page.click("#deductions a.dispute")
    page.wait_for_url("**/dispute")
    page.fill("#evidence", "请假条（2018-03-14）")
    page.click("#dispute-form button[type=submit]")  # no statement: refused next to the field, evidence kept
    assert page.locator(".field-error[data-field=statement]").is_visible()
    assert page.input_value("#evidence") == "请假条（2018-03-14）"
    story.shot("district-dispute-refused")
    page.fill("#statement", "我区已于会前书面请假，不应按缺席扣分。")
    story.shot("district-dispute-form")
    page.click("#dispute-form button[type=submit]")
    page.wait_for_url("**/web/2018/districts/**ok=dispute**")
    assert "回执" in page.locator(".flash").inner_text()
    assert "申诉待处理" in page.locator("#deductions").inner_text()
    story.shot("district-disputed")
    page.click("nav a:text('历史记录')")
    assert page.locator("#history tr[data-type=DisputeFiled]").count() == 1
    story.shot("district-history")
    page.click("nav a:text('回执')")
    head = page.locator("#head").inner_text()
    assert len(head) == 64
    story.shot("district-receipts")
    story.sign_out()

    # the office overturns it
    story.sign_in("office")
    page.click("nav a:text('申诉处理')")
    row = page.locator("#dispute-list tbody tr").first
    assert ABSENT in row.inner_text()
    row.locator("input[name=reason]").fill("经核实已提前请假，按请假处理。")
    story.shot("office-dispute-queue")
    row.locator("button[value=overturned]").click()
    page.wait_for_url("**/web/2018/disputes?ok=resolved")
    story.shot("office-dispute-resolved")
    story.sign_out()

    # the district's score is restored
    story.sign_in(ABSENT)
    assert page.locator("#total").inner_text() == "100.00"
    assert "申诉后撤销" in page.locator("#deductions").inner_text()
    story.shot("district-restored")
    page.goto(server["base"] + "/web/2018/districts/" + "西岗区")
    assert "无权访问" in page.content()
    story.shot("district-forbidden")

    with capsys.disabled():
        print(f"\nkaohe browser screenshots ({story.count}): {screenshots}")
