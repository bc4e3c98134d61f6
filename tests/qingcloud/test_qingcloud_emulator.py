"""The QingCloud emulator records the request signatures it verified (``GET /_emulator/qingcloud``), so the
credential scans can look for them: a signature sent, listed; a wrong one, not; the list bounded."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from airflow_joblogs.auth.qingcloud import QingCloudSignatureV1
from airflow_joblogs.emulators import EmulatorServer
from airflow_joblogs.emulators.qingcloud import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ZONE, QingCloudEmulator


def control(url: str) -> dict:
    return httpx.get(url + "/_emulator/qingcloud").raise_for_status().json()


def describe_jobs(url: str, secret: str = SECRET_ACCESS_KEY, times: int = 1) -> list[str]:
    """Signed DescribeJobs calls, as the hook signs them; the signatures that went over the wire."""
    sent: list[str] = []

    def capture(request: httpx.Request) -> None:
        sent.extend(parse_qs(urlsplit(str(request.url)).query)["signature"])

    auth = QingCloudSignatureV1(ACCESS_KEY_ID, secret)
    with httpx.Client(base_url=url, auth=auth, event_hooks={"request": [capture]}) as client:
        for offset in range(times):
            params = {"action": "DescribeJobs", "zone": ZONE, "limit": "1", "offset": str(offset)}
            ret_code = client.get("/iaas/", params=params).raise_for_status().json()["ret_code"]
            assert ret_code == (0 if secret == SECRET_ACCESS_KEY else 1200)
    assert len(sent) == times
    return sent


def test_every_verified_signature_is_listed_with_a_count(qc):
    before = control(qc.url)
    sent = describe_jobs(qc.url, times=3)
    after = control(qc.url)
    assert after["signatures_verified"][-3:] == sent
    assert after["signatures_verified_total"] == before["signatures_verified_total"] + 3


def test_a_signature_that_does_not_match_is_not_listed(qc):
    before = control(qc.url)
    (wrong,) = describe_jobs(qc.url, secret="not-the-secret")
    after = control(qc.url)
    assert wrong not in after["signatures_verified"]
    assert after["signatures_verified_total"] == before["signatures_verified_total"]


def test_the_hooks_signatures_are_listed(qc):
    from airflow_joblogs.hooks.qingcloud import QingCloudHook

    before = control(qc.url)["signatures_verified_total"]
    ok, message = QingCloudHook("qingcloud_default").test_connection()
    assert ok, message
    assert control(qc.url)["signatures_verified_total"] > before


def test_the_list_keeps_only_the_newest():
    with EmulatorServer(QingCloudEmulator(signatures_kept=3).app()) as server:
        sent = describe_jobs(server.url, times=5)
        state = control(server.url)
    assert state["signatures_verified"] == sent[-3:]
    assert state["signatures_verified_total"] == 5
