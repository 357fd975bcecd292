"""Drives Debian's chromium through chromedriver (Selenium's WebDriver client) over the mirror's
web pages, as an operator would: open each page, search by typing into the form, follow a result
to its artifact page, and look at it on a phone-sized window. Reads a plan (JSON file, argv[1]),
writes screenshots into plan["shots"], and prints what it saw as JSON: every page's title, text
and console messages, each search's result names, and whether a phone-sized page scrolls
sideways. Asserts nothing itself: the Rust test decides."""

import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

with open(sys.argv[1]) as f:
    plan = json.load(f)
base, shots = plan["base"], plan["shots"]
os.makedirs(shots, exist_ok=True)

opts = webdriver.ChromeOptions()
opts.binary_location = plan.get("chromium", "/usr/bin/chromium")
for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900", "--no-first-run", "--disable-extensions"]:
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
# The driver named explicitly: Selenium Manager would otherwise try to download one.
driver = webdriver.Chrome(service=Service(plan.get("chromedriver", "/usr/bin/chromedriver")), options=opts)
driver.set_page_load_timeout(30)
out = {"pages": {}, "searches": {}, "artifacts": {}, "phone": {}}


def seen(label):
    """The current page as the test needs it, with its screenshot."""
    shot = os.path.join(shots, label + ".png")
    driver.save_screenshot(shot)
    return {
        "url": driver.current_url,
        "title": driver.title,
        "text": driver.find_element(By.TAG_NAME, "body").text,
        "console": [{"level": e["level"], "message": e["message"]} for e in driver.get_log("browser")],
        "screenshot": shot,
        "scroll_width": driver.execute_script("return document.documentElement.scrollWidth"),
        "inner_width": driver.execute_script("return window.innerWidth"),
    }


try:
    for label, path in plan["pages"]:
        driver.get(base + path)
        out["pages"][label] = seen(label)
    for i, s in enumerate(plan["searches"]):
        driver.get(base + "/")
        box = driver.find_element(By.NAME, "q")
        box.send_keys(s["q"])
        driver.find_element(By.CSS_SELECTOR, "form.search button[type=submit]").click()
        WebDriverWait(driver, 10).until(EC.url_contains("/ui/search"))
        links = driver.find_elements(By.CSS_SELECTOR, "main td a")
        names = [a.text for a in links]
        out["searches"][s["q"]] = {"names": names, "page": seen("search-%d" % i)}
        # Follow the result the test expects, as a click.
        for a in driver.find_elements(By.CSS_SELECTOR, "main td a"):
            if a.text == s["open"]:
                a.click()
                WebDriverWait(driver, 10).until(EC.url_contains("/ui/artifact"))
                out["artifacts"][s["open"]] = seen("artifact-%d" % i)
                break
    driver.set_window_size(390, 844)
    for label, path in plan["phone"]:
        driver.get(base + path)
        out["phone"][label] = seen("phone-" + label)
finally:
    driver.quit()
print(json.dumps(out))
