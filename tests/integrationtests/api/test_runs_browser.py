"""Run history pages in a real browser, served by `pdip api` (gunicorn, two workers): the charts
draw, the console stays clean, hostile dead letters show as text, their table pages; /metrics
answers for both workers.

Headless Chromium under Selenium as in the Swagger UI test; without them the test is skipped on
a developer machine and fails under CI=true.
"""

import json
import os
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

from tests.integrationtests.api.served import served
from tests.integrationtests.api.test_swagger_browser import WAIT_SECONDS, browser
from tests.support.apps import application
from tests.unittests.api.test_runs_pages import HOSTILE, readings

FILES = {
    "application.yml": """
        API:
          WORKERS: 2
        CQRS:
          LOGGING: false
        OPERATIONS:
          load: operations/load.yml
    """,
    "readings.jsonl": readings(),
    "operations/load.yml": """
        name: load-readings
        executor: inline
        integrations:
          - name: readings
            source: {kind: jsonl, path: readings.jsonl, types: {id: int, n: int}}
            target: {kind: memory, store: loaded}
            batch_size: 10
            max_errors: 1000
    """,
}

# Drawn pixels of a canvas (any not fully transparent): proof the chart painted something.
PAINTED = """
const canvas = arguments[0].querySelector('canvas');
const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
let painted = 0;
for (let index = 3; index < pixels.length; index += 4) { if (pixels[index] > 0) painted++; }
return painted;
"""


def fetch(url, method="GET"):
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


class RunPagesInABrowserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._app = application(FILES)
        cls.root, _ = cls._app.__enter__()
        cls._server = served(cls.root)
        cls.base = cls._server.__enter__()
        try:
            cls.driver = browser()
        except BaseException:
            cls._server.__exit__(None, None, None)
            cls._app.__exit__(None, None, None)
            raise
        started = json.loads(fetch(f"{cls.base}/api/operations/load/executions", "POST"))
        cls.execution_id = started["execution_id"]
        cls.wait_until_finished()

    @classmethod
    def wait_until_finished(cls):
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                if json.loads(fetch(f"{cls.base}/api/executions/{cls.execution_id}"))["status"] == "finished":
                    return
            except urllib.error.HTTPError:  # the other worker knows it once its record is written
                pass
            time.sleep(0.2)
        raise AssertionError(f"execution {cls.execution_id} did not finish within {WAIT_SECONDS} s")

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        cls._server.__exit__(None, None, None)
        cls._app.__exit__(None, None, None)

    def console_errors(self):
        return [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def wait(self):
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, WAIT_SECONDS)

    def test_the_list_draws_a_sparkline_per_run(self):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as seen

        self.driver.get(f"{self.base}/runs")
        spark = self.wait().until(seen.presence_of_element_located((By.CSS_SELECTOR, "#runs .sparkline canvas")))
        self.assertGreater(self.driver.execute_script(PAINTED, spark.find_element(By.XPATH, "..")), 0)
        row = self.driver.find_element(By.CSS_SELECTOR, "#runs tbody tr")
        self.assertIn(self.execution_id, row.text)
        self.assertIn("load-readings finished", row.text)
        self.assertEqual(self.console_errors(), [])

    def test_a_run_charts_its_throughput_and_pages_its_dead_letters_shown_as_text(self):
        from selenium.common.exceptions import NoAlertPresentException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as seen

        driver = self.driver
        driver.get(f"{self.base}/runs/{self.execution_id}")
        chart = self.wait().until(seen.presence_of_element_located((By.CSS_SELECTOR, "#chart-readings canvas")))
        points = driver.execute_script("return window.pdipCharts['readings'].data[0].length")
        self.assertGreaterEqual(points, 6)  # twelve batches of ten read; some at the same millisecond join
        self.assertGreater(driver.execute_script(PAINTED, chart.find_element(By.XPATH, "..")), 0)
        screenshot = os.environ.get("PDIP_TEST_RUNS_SCREENSHOT") or str(self.root / "run.png")
        driver.save_screenshot(screenshot)
        self.assertGreater(Path(screenshot).stat().st_size, 10_000)

        rows = driver.find_elements(By.CSS_SELECTOR, "table.dead-letters tbody tr")
        self.assertEqual(len(rows), 50)
        self.assertIn(HOSTILE, rows[0].text)  # shown as text: the script never ran
        with self.assertRaises(NoAlertPresentException):
            driver.switch_to.alert.accept()
        driver.find_element(By.CSS_SELECTOR, "nav.pages a.next").click()
        self.wait().until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, "nav.pages .page"), "page 2 of 2"))
        numbers = [
            row.find_element(By.TAG_NAME, "td").text
            for row in driver.find_elements(By.CSS_SELECTOR, "table.dead-letters tbody tr")
        ]
        self.assertEqual(numbers, [str(number) for number in range(51, 61)])
        self.assertEqual(self.console_errors(), [])

    def test_metrics_answer_for_every_worker(self):
        labels = 'integration="readings",operation="load-readings"'
        for _ in range(4):  # gunicorn hands connections to either worker; each answers for both
            text = fetch(f"{self.base}/metrics")
            self.assertIn(f"pdip_rows_written_total{{{labels}}} 60.0", text)
            self.assertIn(f"pdip_rows_dead_lettered_total{{{labels}}} 60.0", text)
            self.assertIn('pdip_runs_total{operation="load-readings",status="finished"} 1.0', text)


if __name__ == "__main__":
    unittest.main()
