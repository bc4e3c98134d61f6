"""The connection forms in Airflow's own UI, in a real browser (Debian's Chromium driven by Playwright).

For ``bk_job``, ``codearts_build`` and ``qingcloud``: the add-connection dialog shows our labels,
placeholders and descriptions, hides the fields we hide, masks every secret, and offers exactly the declared
choices in a dropdown (CodeArts' Authentication is chosen, then cleared: left empty); a connection saved through
the form reads back through the REST API with its secrets redacted, and ``airflow connections test`` passes
against the emulator with it. Screenshots of each form go to a temporary folder, or to
``docs/_static/screenshots/`` with ``JOBLOGS_UPDATE_SCREENSHOTS=1`` (``make screenshots``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_cluster import ROOT

from airflow_joblogs.get_provider_info import connection_type

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

CHROMIUM = Path("/usr/bin/chromium")
#: the flags a headless Chromium needs here (no sandbox as root, no GPU, nothing fetched from outside)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: choice fields the test clears again after choosing: an empty Authentication must save, and CodeArts then
#: picks the kind from the fields that are set
CLEARED = {"codearts_build": ["auth_type"]}
SCREENSHOTS = ROOT / "docs" / "_static" / "screenshots"
UI_TIMEOUT_MS = 30_000

#: connection type -> (the emulator, its connection whose values the test types into the form)
FORMS = {
    "bk_job": ("blueking", "bk_job_default"),
    "codearts_build": ("codearts", "codearts_build_default"),
    "qingcloud": ("qingcloud", "qingcloud_default"),
}


@pytest.fixture(scope="module")
def browser(e2e_stage) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (a dev dependency)")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 2200})
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory) -> Path:
    if os.environ.get("JOBLOGS_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


def open_add_connection_form(page: Any, url: str, conn_id: str, hook_name: str) -> Any:
    page.goto(f"{url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=connection_id]").fill(conn_id)
    chooser = dialog.get_by_role("combobox").first
    chooser.click()
    chooser.type(hook_name)
    page.get_by_role("option", name=hook_name, exact=True).click()
    dialog.locator("input[name=host]").wait_for()
    return dialog


def field_group(dialog: Any, label: str) -> Any:
    """The form field (label, control, description) whose label is ``label``."""
    return dialog.locator("[data-part=root][role=group]").filter(has=dialog.page.locator("label", has_text=label)).last


def set_extra_field(dialog: Any, name: str, spec: dict[str, Any], value: Any) -> None:
    schema = spec["schema"]
    if isinstance(value, bool):
        box = dialog.locator(f"input[name=element_{name}]")
        if box.is_checked() != value:
            field_group(dialog, spec["label"]).locator("[data-part=control]").click()
        assert box.is_checked() is value, name
    elif "enum" in schema:
        chooser = field_group(dialog, spec["label"]).get_by_role("combobox")
        chooser.click()
        # exactly the declared choices: no "null" (an empty field is a cleared choice)
        assert dialog.page.get_by_role("option").all_inner_texts() == schema["enum"], name
        chooser.fill(str(value))
        dialog.page.get_by_role("option", name=str(value), exact=True).click()
    else:
        dialog.locator(f"input[name=element_{name}]").fill(str(value))


def clear_choice(dialog: Any, spec: dict[str, Any]) -> None:
    """Empty a dropdown as a user would from the keyboard (Backspace in the empty search box)."""
    chooser = field_group(dialog, spec["label"]).get_by_role("combobox")
    chooser.focus()
    chooser.press("Backspace")


@pytest.mark.parametrize("conn_type", list(FORMS))
def test_connection_form(conn_type, e2e_stage, page, screenshot_dir):
    declaration = connection_type(conn_type)
    behaviour = declaration["ui-field-behaviour"]
    fields: dict[str, dict[str, Any]] = declaration["conn-fields"]
    emulator, source_conn_id = FORMS[conn_type]
    source = e2e_stage.servers[emulator].connections()[source_conn_id]
    conn_id = f"{conn_type}_from_form"
    airflow = e2e_stage.airflow

    dialog = open_add_connection_form(page, airflow.url, conn_id, declaration["hook-name"])

    # the standard fields: ours relabeled, with our placeholders; the hidden ones absent; the secret masked
    for field, label in behaviour["relabeling"].items():
        assert dialog.locator("label", has_text=label).count() == 1, label
        box = dialog.locator(f"input[name={field}]")
        assert box.get_attribute("placeholder") == behaviour["placeholders"][field], field
    for hidden in behaviour["hidden-fields"]:
        assert dialog.locator(f"input[name={hidden}]").count() == 0, hidden
        assert dialog.locator("label", has_text=hidden.capitalize()).count() == 0, hidden
    assert dialog.locator("input[name=password]").get_attribute("type") == "password"
    dialog.screenshot(path=str(screenshot_dir / f"{conn_type}-standard-fields.png"))

    # the extra fields: every declared one, with its label and description; secrets typed as passwords
    dialog.get_by_text("Extra Fields", exact=True).click()
    for name, spec in fields.items():
        group = field_group(dialog, spec["label"])
        assert group.count() == 1, name
        assert spec["description"] in group.inner_text(), name
        secret = spec["schema"].get("format") == "password"
        if secret:
            assert dialog.locator(f"input[name=element_{name}]").get_attribute("type") == "password", name

    # save one that points at the emulator, typed in as a user would
    for name, value in source["extra"].items():
        set_extra_field(dialog, name, fields[name], value)
    for name in CLEARED.get(conn_type, []):
        clear_choice(dialog, fields[name])
    expected_extra = {**source["extra"], **dict.fromkeys(CLEARED.get(conn_type, []))}
    dialog.screenshot(path=str(screenshot_dir / f"{conn_type}-extra-fields.png"))
    dialog.get_by_text("Standard Fields", exact=True).click()
    dialog.locator("input[name=host]").fill(source["host"])
    dialog.locator("input[name=login]").fill(source["login"])
    dialog.locator("input[name=password]").fill(source["password"])
    dialog.get_by_role("button", name="Save").click()
    dialog.wait_for(state="hidden")

    stored = airflow.api("GET", f"connections/{conn_id}")
    assert (stored["conn_type"], stored["host"], stored["login"]) == (conn_type, source["host"], source["login"])
    assert stored["password"] == "***", "the API redacts the secret"
    extra = json.loads(stored["extra"])
    secret_extras = {k for k in expected_extra if fields.get(k, {}).get("schema", {}).get("format") == "password"}
    assert {k: extra.get(k) for k in expected_extra} == {
        k: "***" if k in secret_extras and v else v for k, v in expected_extra.items()
    }, "the API shows the extras as saved, secret ones (bk_token ...) redacted"
    assert source["password"] not in json.dumps(stored)
    for k in secret_extras:
        assert not expected_extra[k] or expected_extra[k] not in json.dumps(stored), k

    result = airflow.run_cli("connections", "test", conn_id, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Connection success!" in output, output
    assert source["password"] not in output


def test_screenshots_are_committed_for_every_form():
    """The docs show the forms (``make screenshots`` refreshes them)."""
    for conn_type in FORMS:
        for part in ("standard-fields", "extra-fields"):
            shot = SCREENSHOTS / f"{conn_type}-{part}.png"
            assert shot.exists() and shot.stat().st_size < 300_000, shot
            page = ROOT / "docs" / "connections" / f"{conn_type}.rst"
            assert f"/_static/screenshots/{shot.name}" in page.read_text(), page
