"""A real browser on the real page: headless Chromium (Debian's chromium + chromium-driver, driven
by Selenium) opens ``ensemble/serve.py``'s page, uploads a demo recording with a transcript and
sees the predicted emotion appear; then the Results and Corpus pages, with their figures.

Screenshots go to the test's folder, and also to $KEMDY_SCREENSHOTS when set. The README's
pictures are made this way, of the demo run: ``KEMDY_WEB_RUN=. KEMDY_SCREENSHOTS=docs/images
.venv/bin/python -m pytest tests/test_web_browser.py`` after ``scripts/demo.sh``. Without Chromium the test is skipped, unless
$KEMDY_REQUIRE_BROWSER=1 (CI sets it, after installing the browser), when it fails.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEXT = "오늘 진짜 좋았어 그래도 다행이야"


def _browser() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        message = "headless Chromium is not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("KEMDY_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return chromium, driver


@pytest.fixture
def run_folders(request) -> dict[str, Path]:
    """weights/, features/ and reports/ to serve: the tiny test run, or those inside $KEMDY_WEB_RUN
    (a folder where the demo ran, for the README's screenshots)."""
    given = os.environ.get("KEMDY_WEB_RUN")
    if given:
        return {name: Path(given) / name for name in ("weights", "features", "reports")}
    return {name: request.getfixturevalue(f"tiny_{name}") for name in ("weights", "features", "reports")}


@pytest.fixture
def server(run_folders, tmp_path):
    """serve.py started as a user starts it, on a free port; its address. Stopped with SIGTERM after the test."""
    _browser()
    env = {**os.environ, "TMPDIR": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "ensemble" / "serve.py"), "--weights", str(run_folders["weights"]), "--features",
         str(run_folders["features"]), "--reports", str(run_folders["reports"]), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    address = None
    lines = []
    for line in process.stdout:
        lines.append(line)
        found = re.search(r"serving on (http://\S+)", line)
        if found:
            address = found.group(1)
            break
    assert address, "serve.py did not start:\n" + "".join(lines)
    yield address
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert not list(tmp_path.glob("kemdy-serve-*")), "the server left its temporary folders behind"


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = _browser()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,1500", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    session = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    session.set_page_load_timeout(60)
    yield session
    session.quit()


def _screenshot(browser, tmp_path: Path, name: str) -> None:
    browser.save_screenshot(str(tmp_path / name))
    assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    target = os.environ.get("KEMDY_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / name, Path(target) / name)


def _api_prediction(address: str, wav: Path, text: str) -> dict:
    """The same input through the page's API, as multipart form data."""
    boundary = "----kemdy-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n{text}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"wav\"; filename=\"{wav.name}\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode() + wav.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{address}api/predict", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_upload_a_recording_and_see_the_emotion(server, browser, run_folders, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    from preprocessing.storage.feature_store import FeatureSet

    fs = FeatureSet.load(run_folders["features"])
    row = int(fs.rows("test")[0])
    wav = Path(fs.manifest["corpus"]["root"]) / fs.segments["wav"][row]
    text = fs.text[row]["text"] or TEXT  # the recording's own transcript
    browser.get(server)
    wait.until(lambda b: b.find_element(By.ID, "models").text.startswith("models: wav"))

    # Nothing given: the server's message appears on the page.
    browser.find_element(By.ID, "predict").click()
    wait.until(seen.visibility_of_element_located((By.ID, "error")))
    assert "nothing to predict" in browser.find_element(By.ID, "error").text

    browser.find_element(By.ID, "wav").send_keys(str(wav))
    browser.find_element(By.ID, "text").send_keys(text)
    browser.find_element(By.ID, "predict").click()
    wait.until(seen.visibility_of_element_located((By.ID, "result")))
    assert not browser.find_element(By.ID, "error").is_displayed()
    expected = _api_prediction(server, wav, text)
    assert browser.find_element(By.ID, "emotion").text == expected["emotion"]
    sources = browser.find_elements(By.CSS_SELECTOR, "#bars .source")
    assert [s.find_element(By.TAG_NAME, "h3").text.split(" ")[0] for s in sources] == ["combined", "wav", "text"]
    shown = {bar.get_attribute("data-emotion"): float(bar.find_element(By.CLASS_NAME, "value").text)
             for bar in sources[0].find_elements(By.CLASS_NAME, "bar")}
    assert shown == {e: round(p, 3) for e, p in expected["probabilities"].items()}
    assert "valence" in browser.find_element(By.ID, "dimensions").text
    _screenshot(browser, tmp_path, "web_try.png")

    browser.find_element(By.CSS_SELECTOR, '.tab[data-page="results"]').click()
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#results table")) >= 3)
    images = browser.find_elements(By.CSS_SELECTOR, "#results img")
    assert images
    for image in images:
        browser.execute_script("arguments[0].scrollIntoView()", image)
        wait.until(lambda b, i=image: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i))
    browser.execute_script("window.scrollTo(0, 0)")
    _screenshot(browser, tmp_path, "web_results.png")

    browser.find_element(By.CSS_SELECTOR, '.tab[data-page="corpus"]').click()
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#corpus img")) == 6)
    for image in browser.find_elements(By.CSS_SELECTOR, "#corpus img"):
        browser.execute_script("arguments[0].scrollIntoView()", image)
        wait.until(lambda b, i=image: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i))
    browser.execute_script("window.scrollTo(0, 0)")
    _screenshot(browser, tmp_path, "web_corpus.png")
