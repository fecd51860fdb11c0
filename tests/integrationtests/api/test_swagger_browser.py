"""Swagger UI in a real browser: headless Chromium sends a request with "Try it out" and shows the answer.

The CRUD example is served by its own `python app.py serve`; Selenium drives Debian's chromium
through chromedriver (`.ci/run` installs both). Without them the test is skipped on a developer
machine and fails under CI=true.
"""

import os
import shutil
import tempfile
import unittest
from pathlib import Path

from tests.integrationtests.api.served import served
from tests.support.servers import server_missing

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "crud_api"
CHROMIUM = os.environ.get("PDIP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PDIP_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT_SECONDS = 30


def browser():
    """A headless Chromium under Selenium, or a skip (a failure under CI=true) saying what is missing."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:
        server_missing(f"selenium is not installed ({error}); it comes with the dev extra")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            server_missing(f"{path} is missing: apt-get install chromium chromium-driver")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for drivers online
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--window-size=1280,2000",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for driver.get_log("browser")
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


class SwaggerUiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = Path(tempfile.mkdtemp(prefix="pdip-swagger-"))
        root = cls.folder / "crud_api"
        shutil.copytree(EXAMPLE, root)
        cls._server = served(root, script="app.py")
        cls.base = cls._server.__enter__()
        try:
            cls.driver = browser()
        except BaseException:
            cls._server.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        cls._server.__exit__(None, None, None)
        shutil.rmtree(cls.folder, ignore_errors=True)

    def test_try_it_out_creates_a_note_and_shows_the_response(self):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as seen
        from selenium.webdriver.support.ui import WebDriverWait

        driver, wait = self.driver, WebDriverWait(self.driver, WAIT_SECONDS)
        driver.get(f"{self.base}/api/docs")
        operation = wait.until(seen.presence_of_element_located((By.ID, "operations-Notes-post_Notes")))
        self.assertIn("pdip", driver.page_source.lower())
        operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
        wait.until(
            seen.element_to_be_clickable((By.CSS_SELECTOR, "#operations-Notes-post_Notes .try-out__btn"))
        ).click()

        body = wait.until(
            seen.presence_of_element_located(
                (By.CSS_SELECTOR, "#operations-Notes-post_Notes textarea.body-param__text")
            )
        )
        body.clear()
        body.send_keys('{"title": "written from Swagger UI", "body": "headless"}')
        tenant = operation.find_element(By.CSS_SELECTOR, "input[placeholder='X-Tenant-Id']")
        tenant.send_keys("acme")
        operation.find_element(By.CSS_SELECTOR, "button.execute").click()

        answered = "#operations-Notes-post_Notes .live-responses-table tbody tr.response"
        status = wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, f"{answered} td.response-col_status")))
        shown = driver.find_element(By.CSS_SELECTOR, f"{answered} td.response-col_description pre").text
        driver.save_screenshot(os.environ.get("PDIP_TEST_SCREENSHOT") or str(self.folder / "swagger.png"))
        self.assertEqual(status.text.split()[0], "201")
        self.assertNotIn("Undocumented", status.text)  # @status(201) put it in the spec
        self.assertIn('"title": "written from Swagger UI"', shown)
        self.assertIn('"done": false', shown)


if __name__ == "__main__":
    unittest.main()
