#!/usr/bin/python3
"""The coordinator's console in a real browser, against a real region.

Starts console_region (gateway, eleven agents and the console on loopback;
Veilig Thuis refers a family, regisseur-02 offers a case, the police's
records hold HTML and a script, Veilig Thuis' agent refuses its reports),
then drives Debian's headless chromium through chromedriver as a
casusregisseur would: accept the referral, open a case through the form
(after a wrong BSN), admit partners, ask the police after reading the
policy's explanation and see the answer, see a refusal with its reason, hand
the case over, take over the case offered. Saves a screenshot of every
screen in --out (the coordinator's guide, docs/console.md, shows them).

  browser_test.py --region build/tests/console/console_region --out DIR
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

import browser

SCRIPT_TITLE = "GEHACKT"  # what the police's script would set as the title, were it run


class Check:
    def __init__(self):
        self.failures = []

    def that(self, condition, what):
        print(("ok   " if condition else "FAIL ") + what, flush=True)
        if not condition:
            self.failures.append(what)


def wait_for(driver, condition, what, timeout=30):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: condition(d))
    except Exception:
        raise AssertionError(f"waited {timeout} s for {what}; page {driver.current_url}: "
                             f"{driver.find_element(By.TAG_NAME, 'body').text[:600]}")


def body_text(driver):
    return driver.find_element(By.TAG_NAME, "body").text


def flash(driver):
    found = driver.find_elements(By.CSS_SELECTOR, "main .melding.gelukt")
    return found[0].text if found else ""


def submit(driver, form_id, button_id=None):
    form = driver.find_element(By.ID, form_id)
    button = (driver.find_element(By.ID, button_id) if button_id
              else form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    button.click()


def run(driver, base, out, check):
    shot = lambda name: browser.screenshot(driver, os.path.join(out, name + ".png"))

    # Mijn casussen: the case offered, the referral waiting.
    driver.get(base + "/")
    check.that(driver.title.startswith("Mijn casussen"), "logged in: Mijn casussen")
    wait_for(driver, lambda d: "Aan u aangeboden" in body_text(d) and "aanmelding" in body_text(d),
             "the offer and the referral on Mijn casussen")
    shot("01-mijn-casussen")

    # Aanmelding: accept Veilig Thuis' referral.
    driver.get(base + "/aanmeldingen")
    forms = driver.find_elements(By.CSS_SELECTOR, "form[id^=aanmelding-][id$=-accepteren]")
    check.that(len(forms) == 1, "one referral waiting")
    check.that("VT-2026-0042" in body_text(driver), "the referral shows Veilig Thuis' reference")
    shot("02-aanmeldingen")
    forms[0].find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(driver, lambda d: "/casus/VT-" in d.current_url, "the case opened on the referral")
    referral_case = driver.current_url.rsplit("/", 1)[1]
    check.that("geopend" in flash(driver), f"case {referral_case} opened on the referral")
    shot("03-casus-uit-aanmelding")

    # Nieuwe casus: a wrong BSN first (elfproef), nothing opened.
    driver.get(base + "/casus/nieuw")
    Select(driver.find_element(By.ID, "doel")).select_by_value("veiligheidstaxatie")
    Select(driver.find_element(By.ID, "rol1")).select_by_value("victim")
    driver.find_element(By.ID, "bsn1").send_keys("123456789")
    driver.find_element(By.ID, "naam1").send_keys("Sanne de Vries")
    driver.find_element(By.ID, "geboortedatum1").send_keys("12-04-1988")
    submit(driver, "nieuwe-casus", "casus-openen")
    wait_for(driver, lambda d: d.find_elements(By.ID, "bsn1-fout"), "the BSN's message")
    check.that("elfproef" in driver.find_element(By.ID, "bsn1-fout").text, "a wrong BSN: the elfproef message")
    check.that(driver.find_element(By.ID, "naam1").get_attribute("value") == "Sanne de Vries",
               "what was typed is kept")
    shot("04-nieuwe-casus-fout")
    bsn = driver.find_element(By.ID, "bsn1")
    bsn.clear()
    bsn.send_keys("999990019")
    Select(driver.find_element(By.ID, "rol2")).select_by_value("child")
    driver.find_element(By.ID, "bsn2").send_keys("999990020")
    driver.find_element(By.ID, "naam2").send_keys("Mila de Vries")
    driver.find_element(By.ID, "geboortedatum2").send_keys("03-09-2015")
    submit(driver, "nieuwe-casus", "casus-openen")
    wait_for(driver, lambda d: "/casus/VT-" in d.current_url, "the new case")
    case_id = driver.current_url.rsplit("/", 1)[1]
    check.that(case_id != referral_case, f"case {case_id} opened through the form")

    # Partners.
    for partner in ("politie", "veilig-thuis"):
        Select(driver.find_element(By.CSS_SELECTOR, "form#toelaten select[name=partner]")).select_by_value(partner)
        submit(driver, "toelaten")
        wait_for(driver, lambda d: "toegelaten" in flash(d).lower(), f"{partner} admitted")
    check.that("Politie" in driver.find_element(By.ID, "partners").text, "the police are a partner of the case")
    shot("05-casus")

    # Informatie opvragen: what the policy allows, its explanation, then send.
    driver.find_element(By.ID, "opvragen").click()
    Select(driver.find_element(By.ID, "doel")).select_by_value("veiligheidstaxatie")
    for box in driver.find_elements(By.CSS_SELECTOR, "#betrokkenen input[name=betrokkene]"):
        if not box.is_selected():
            box.click()
    driver.find_element(By.ID, "toon").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "mogelijk"), "the table of what may be asked")
    police = driver.find_elements(By.CSS_SELECTOR, "#mogelijk input[name=keuze][value='politie/politie-incidenten']")
    check.that(len(police) == 1, "the police's incidents may be asked")
    shot("06-informatie-opvragen")
    police[0].click()
    driver.find_element(By.ID, "bekijk").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "uitleg"), "the policy's explanation")
    explanation = driver.find_element(By.ID, "uitleg").text
    check.that("R-POL-01" in explanation, "the explanation names the rule")
    check.that("Wpg" in explanation or "wpg" in explanation, "the explanation names the legal basis")
    check.that("datum" in explanation, "the explanation lists the fields that come back")
    shot("07-uitleg-voor-versturen")
    driver.find_element(By.ID, "verstuur").click()
    wait_for(driver, lambda d: f"/casus/{case_id}" in d.current_url and d.find_elements(By.ID, "antwoorden"),
             "the answer on the case page", timeout=60)
    answers = driver.find_element(By.ID, "antwoorden").text
    check.that("<script>" in answers and "<b>vet</b>" in answers,
               "the police's values with HTML are shown as text")
    check.that(SCRIPT_TITLE not in driver.title, "the script in the values did not run")
    check.that(not driver.find_elements(By.CSS_SELECTOR, "#antwoorden td b, #antwoorden img"),
               "no element made of the values")
    check.that("politie-agent" in answers, "the answer says who signed it")
    shot("08-antwoord")

    # A refusal: Veilig Thuis' agent does not answer for its reports.
    driver.get(f"{base}/casus/{case_id}/opvragen")
    Select(driver.find_element(By.ID, "doel")).select_by_value("veiligheidstaxatie")
    driver.find_element(By.ID, "toon").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "mogelijk"), "the table of what may be asked")
    vt = driver.find_elements(By.CSS_SELECTOR, "#mogelijk input[name=keuze][value='veilig-thuis/veilig-thuis-meldingen']")
    check.that(len(vt) == 1, "Veilig Thuis' reports may be asked by the policy")
    if vt:
        vt[0].click()
        driver.find_element(By.ID, "bekijk").click()
        wait_for(driver, lambda d: d.find_elements(By.ID, "verstuur"), "the explanation")
        driver.find_element(By.ID, "verstuur").click()
        wait_for(driver, lambda d: d.find_elements(By.ID, "weigeringen"), "the refusal on the case page", timeout=60)
        refusals = driver.find_element(By.ID, "weigeringen").text
        check.that("veilig-thuis-meldingen" in refusals or "Veilig Thuis" in refusals,
                   "the refusal names what was refused")
        check.that(len(refusals.strip()) > 40, "the refusal gives its reason")
        shot("09-weigering")

    # Handover: offer the case to another coordinator.
    driver.get(f"{base}/casus/{case_id}")
    naar = Select(driver.find_element(By.CSS_SELECTOR, "form#overdragen select[name=naar]"))
    choices = [o.get_attribute("value") for o in naar.options if o.get_attribute("value")]
    check.that(len(choices) > 0, "coordinators the case can go to")
    naar.select_by_value(choices[0])
    reden = Select(driver.find_element(By.CSS_SELECTOR, "form#overdragen select[name=reden]"))
    reden.select_by_index(len(reden.options) - 1)
    submit(driver, "overdragen")
    wait_for(driver, lambda d: flash(d) != "", "the handover's confirmation")
    check.that(choices[0] in body_text(driver), f"the case is offered to {choices[0]}")
    check.that(driver.find_elements(By.ID, "overdracht-intrekken"), "the offer can be taken back")
    shot("10-overdracht-aangeboden")

    # Take over the case regisseur-02 offered.
    driver.get(base + "/")
    driver.find_element(By.LINK_TEXT, "Bekijk en neem over").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "neem-over"), "the offer")
    shot("11-overnemen")
    driver.find_element(By.ID, "neem-over").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "overgenomen"), "the case taken over", timeout=60)
    check.that("VT-2026-0001" in body_text(driver), "VT-2026-0001 taken over")
    shot("12-overgenomen")

    driver.get(base + "/")
    check.that(case_id in driver.find_element(By.ID, "casussen").text, "Mijn casussen lists the new case")
    shot("13-mijn-casussen-daarna")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--region", required=True, help="the console_region program")
    ap.add_argument("--out", required=True, help="folder for the screenshots")
    a = ap.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(a.out)
    work = tempfile.mkdtemp(prefix="console_browser.")
    info = os.path.join(work, "info.json")
    log = open(os.path.join(a.out, "console_region.log"), "w")
    region = subprocess.Popen([a.region, "--dir", os.path.join(work, "region"), "--info", info, "--referral",
                               "--offer", "--html-values", "--refuse"], stdout=log, stderr=subprocess.STDOUT)
    check = Check()
    driver = None
    try:
        started = browser.wait_for_info(info, region, timeout=180)
        driver = browser.make_driver()
        driver.get(started["address"])
        run(driver, f"http://127.0.0.1:{started['port']}", a.out, check)
    except Exception:
        traceback.print_exc()
        check.failures.append("the test stopped: " + traceback.format_exc().splitlines()[-1])
        if driver is not None:
            try:
                browser.screenshot(driver, os.path.join(a.out, "zz-failure.png"))
            except Exception:
                pass
    finally:
        if driver is not None:
            driver.quit()
        region.send_signal(signal.SIGTERM)
        try:
            region.wait(timeout=60)
        except subprocess.TimeoutExpired:
            region.kill()
            check.failures.append("console_region did not stop on SIGTERM within 60 s")
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    if region.returncode not in (0, None, -signal.SIGKILL):
        check.failures.append(f"console_region exited with {region.returncode}")
    with open(os.path.join(a.out, "console_region.log")) as f:
        logged = f.read()
    for canary in ("999990019", "999990020", "Sanne de Vries", "Mila de Vries", "vet</b>"):
        check.that(canary not in logged, f"'{canary}' is in no log line")
    print(f"screenshots: {a.out}")
    if check.failures:
        print(f"{len(check.failures)} check(s) failed:\n  " + "\n  ".join(check.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
