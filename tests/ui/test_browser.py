"""The page in a real browser: Debian's headless Chromium driven by Playwright against `streamlit run ui/app.py`.

Watches new log lines arrive on a running job (the console follows the tail,
pauses when scrolled up, resumes at the bottom), then the job completes and the
Descriptions tab shows its hits. Nothing from a job runs as markup or script.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from blastflow.hits import ARCHIVE_FILE, HITS_FILE, write_hits
from blastflow.model import StepName

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)  # a first page load fetches Streamlit's lazily loaded chunks

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
CONSOLE = ".st-key-console_run"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('browser') / 'state.db'}"


@pytest.fixture(scope="module")
def server(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`streamlit run ui/app.py -- --store URL` on a free port, until the module's tests are done."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("streamlit") / "server.log").open("w")
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "ui" / "app.py"),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--",
        "--store",
        store_url,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLASTFLOW_")}
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start; see {log.name}") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed (apt-get install chromium); the browser tests need it")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    dialogs: list[str] = []
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield tab
    context.close()
    assert dialogs == [], f"a job's text ran as script: {dialogs}"


@pytest.fixture
def seeded_here(seeder_for: Callable[[str], Any], store_url: str) -> Any:
    """A seeder writing to the store the server reads."""
    return seeder_for(store_url)


def _scroll(page: Page) -> dict[str, float]:
    return page.eval_on_selector(CONSOLE, "e => ({top: e.scrollTop, height: e.offsetHeight, total: e.scrollHeight})")


def _below(page: Page) -> float:
    """Pixels of console content below the visible part."""
    s = _scroll(page)
    return s["total"] - s["top"] - s["height"]


def _at_bottom(page: Page) -> bool:
    return _below(page) < 2


def _wheel_up(page: Page, console: Any) -> float:
    """One wheel turn up over the console; pixels below the view after it.

    The console is brought into the viewport first (the wheel acts where the
    mouse is), and the caller repeats the turn: a rerun that redraws the
    console between two turns may take one of them.
    """
    console.scroll_into_view_if_needed()
    box = console.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -600)
    page.wait_for_timeout(200)
    return _below(page)


def _eventually(check: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def _blastx_archive(sample_fasta: dict[str, Path], results: Path) -> None:
    """A real (small) blastx archive in the results directory, for the Alignments tab."""
    db = results.parent / "db_prot"
    subprocess.run(["makeblastdb", "-in", str(sample_fasta["db_prot"]), "-dbtype", "prot", "-out", str(db)],
                   capture_output=True, check=True)  # fmt: skip
    subprocess.run(["blastx", "-query", str(sample_fasta["query_nucl"]), "-db", str(db), "-max_target_seqs", "3",
                    "-outfmt", "11", "-out", str(results / ARCHIVE_FILE)], capture_output=True, check=True)  # fmt: skip


def test_live_log_lines_appear_then_completion_shows_descriptions(
    seeded_here: Any, server: str, page: Page, tmp_path: Path, sample_fasta: dict[str, Path]
) -> None:
    seeder = seeded_here
    job_id = seeder.running()
    seeder.log(job_id, StepName.RUN, [f"early line {n}" for n in range(1, 61)])
    page.goto(f"{server}/?job={job_id}")
    console = page.locator(CONSOLE)
    expect(console).to_contain_text("early line 60")
    expect(page.get_by_role("heading", name="Fire ant transcripts vs proteins")).to_be_visible()

    # A hostile line shows as the text it is: no element made of it, no script run.
    expect(console).to_contain_text(seeder.HOSTILE)
    assert console.locator("script, img, a, strong").count() == 0
    assert page.evaluate("() => window.__pwned") is None

    # New lines appear by themselves, once each, and the console follows the tail.
    seeder.log(job_id, StepName.RUN, ["live line A", "live line B"])
    expect(console).to_contain_text("live line B", timeout=15_000)
    assert console.inner_text().count("live line A") == 1
    _eventually(lambda: _at_bottom(page), "the console follows the tail")

    # Scrolled up by the user: new lines arrive below, and the view is not dragged down to them.
    _eventually(lambda: _wheel_up(page, console) > 400, "the wheel scrolls the console up")
    seeder.log(job_id, StepName.RUN, [f"while reading {n}" for n in range(1, 6)])
    expect(console).to_contain_text("while reading 5", timeout=15_000)
    page.wait_for_timeout(1_000)
    assert _below(page) > 400, "the console followed the tail although the user had scrolled up"

    # Dragged back to the bottom (a drag is a run of scroll steps), it follows again.
    for left in (300, 200, 100, 0):
        page.eval_on_selector(CONSOLE, "(e, left) => { e.scrollTop = e.scrollHeight - e.offsetHeight - left; }", left)
        page.wait_for_timeout(150)
    seeder.log(job_id, StepName.RUN, [f"after resuming {n}" for n in range(1, 6)])
    expect(console).to_contain_text("after resuming 5", timeout=15_000)
    _eventually(lambda: _at_bottom(page), "the console follows the tail again")
    page.screenshot(path=tmp_path / "running.png", full_page=True)

    # The job completes with hits: the page moves from Run to Descriptions by itself.
    results = tmp_path / job_id / "results"  # the job's own folder: the page serves no other
    results.mkdir(parents=True)
    write_hits(results / HITS_FILE, seeder.hits())
    _blastx_archive(sample_fasta, results)
    seeder.complete(job_id, results)
    descriptions = page.get_by_role("tab", name="Descriptions")
    expect(descriptions).to_have_attribute("aria-selected", "true", timeout=20_000)
    expect(page).to_have_url(f"{server}/?job={job_id}&tab=Descriptions")  # the tab is in the URL
    expect(page.get_by_text("rows 1–12 of 12 filtered (12 total; 3 queries with hits)")).to_be_visible()
    table = page.get_by_test_id("stDataFrame")
    expect(table).to_be_visible()
    expect(page.get_by_text("Search completed. Results are ready.")).to_be_visible()
    page.screenshot(path=tmp_path / "descriptions.png", full_page=True)

    # The Alignments tab shows the first query's hits as BLAST's pairwise text.
    page.get_by_role("tab", name="Alignments").click()
    expect(page).to_have_url(f"{server}/?job={job_id}&tab=Alignments")
    alignment = page.get_by_test_id("stCode").filter(has_text="Score =").first
    expect(alignment).to_be_visible()
    assert re.search(r"^Query  1 +[A-Z]+  \d+$", alignment.inner_text(), re.M)

    # Back on Run by hand: the timeline shows every step done, no spinner.
    page.get_by_role("tab", name="Run").click()
    expect(page.get_by_role("tab", name="Run")).to_have_attribute("aria-selected", "true")
    expect(page).to_have_url(f"{server}/?job={job_id}&tab=Run")  # the chosen tab stays in the URL (fix L2)
    expect(page.get_by_text("Finalize & export · done in")).to_be_visible()
    assert page.get_by_test_id("stExpanderIconSpinner").count() == 0


def test_clicking_a_job_in_the_list_opens_its_page(seeded_here: Any, server: str, page: Page) -> None:
    job_id = seeded_here.failed_with_orphan()  # the newest job: first row
    page.goto(server)
    table = page.get_by_test_id("stDataFrame")
    expect(table).to_be_visible()
    expect(page.get_by_text("jobs, newest first")).to_be_visible()
    page.wait_for_timeout(500)  # the grid draws on a canvas after it appears
    box = table.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 12, box["y"] + 35 + 17)  # the first row's selection marker
    page.wait_for_url(f"**/?job={job_id}*")
    expect(page.get_by_text("AttributeError: module 'x' has no attribute '_tail_text'").first).to_be_visible()
    expect(page.get_by_text("Job failed at Submit job")).to_be_visible()
    heading = page.get_by_role("heading", level=3).first
    expect(heading).to_contain_text("Crashed submit <script>window.__pwned = 1</script>")
    assert page.evaluate("() => window.__pwned") is None
