"""Times of the four services, read by airflow_joblogs.timestamps and shown in Airflow's ``[core] default_timezone``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from airflow_joblogs import timestamps
from airflow_joblogs.timestamps import BLUEKING_ZONE, esb_v2_from_ms, parse, render

UTC = timezone.utc
CST = timezone(timedelta(hours=8))


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch):
    """``zone(name)`` sets ``[core] default_timezone`` as the environment does and makes the module read it again."""

    def set_zone(name: str) -> None:
        monkeypatch.setenv("AIRFLOW__CORE__DEFAULT_TIMEZONE", name)
        timestamps.reset()

    yield set_zone
    monkeypatch.undo()
    timestamps.reset()


# -- parsing: every format each service sends ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "naive_zone", "expected"),
    [
        # BlueKing ESB v2, with the offset legacy-bk-paas documents and without one, as bk-job writes it (UTC+8)
        ("2018-03-15 14:39:30 +0800", None, datetime(2018, 3, 15, 6, 39, 30, tzinfo=UTC)),
        ("2018-03-15 14:39:30", BLUEKING_ZONE, datetime(2018, 3, 15, 6, 39, 30, tzinfo=UTC)),
        # BlueKing gateway v3: milliseconds since the epoch (seconds are told apart as bk-job does)
        (1521095970123, None, datetime(2018, 3, 15, 6, 39, 30, 123000, tzinfo=UTC)),
        (1521095970, None, datetime(2018, 3, 15, 6, 39, 30, tzinfo=UTC)),
        # CodeArts Build record times: no offset; Huawei IAM token times: UTC with microseconds
        ("2026-11-22 10:00:05", CST, datetime(2026, 11, 22, 2, 0, 5, tzinfo=UTC)),
        ("2026-11-23T10:00:00.000000Z", None, datetime(2026, 11, 23, 10, tzinfo=UTC)),
        # QingCloud: ISO 8601 UTC
        ("2018-03-04T05:37:58Z", None, datetime(2018, 3, 4, 5, 37, 58, tzinfo=UTC)),
        # AWS MGN: ISO 8601 UTC with a fraction (ISO8601DatetimeString), or a datetime from botocore
        ("2026-11-22T10:00:00.250Z", None, datetime(2026, 11, 22, 10, 0, 0, 250000, tzinfo=UTC)),
        (datetime(2026, 11, 22, 10, tzinfo=UTC), None, datetime(2026, 11, 22, 10, tzinfo=UTC)),
        # other ISO 8601 spellings (read by pendulum)
        ("2018-03-04T05:37:58-05:30", None, datetime(2018, 3, 4, 11, 7, 58, tzinfo=UTC)),
        ("20180304T053758Z", None, datetime(2018, 3, 4, 5, 37, 58, tzinfo=UTC)),
    ],
)
def test_each_service_format_is_read_as_the_same_instant(value, naive_zone, expected):
    assert parse(value, naive_zone=naive_zone) == expected


@pytest.mark.parametrize("value", ["2018-03-15 14:39:30", "2026-11-22 10:00:05", datetime(2026, 11, 22, 10)])
def test_a_time_without_offset_is_no_instant_unless_its_zone_is_known(value):
    assert parse(value) is None


@pytest.mark.parametrize("value", [None, "", "failed", "2018-13-45 25:00:00 +0800", True, {"a": 1}])
def test_what_is_not_a_time_is_not_read_as_one(value):
    assert parse(value, naive_zone=UTC) is None


# -- rendering in the configured zone --------------------------------------------------------------------------------
RENDERED = {
    # (value, naive_zone): UTC, Asia/Shanghai, America/New_York (EST until 11 March 2018, then EDT)
    ("2018-03-04T05:37:58Z", None): ("2018-03-04T05:37:58Z", "2018-03-04T13:37:58+08:00", "2018-03-04T00:37:58-05:00"),
    ("2018-06-04T05:37:58Z", None): ("2018-06-04T05:37:58Z", "2018-06-04T13:37:58+08:00", "2018-06-04T01:37:58-04:00"),
    ("2018-03-15 14:39:30 +0800", None): (
        "2018-03-15T06:39:30Z",
        "2018-03-15T14:39:30+08:00",
        "2018-03-15T02:39:30-04:00",
    ),
    ("2018-03-15 14:39:30", BLUEKING_ZONE): (
        "2018-03-15T06:39:30Z",
        "2018-03-15T14:39:30+08:00",
        "2018-03-15T02:39:30-04:00",
    ),
    (1521095970123, None): (
        "2018-03-15T06:39:30.123Z",
        "2018-03-15T14:39:30.123+08:00",
        "2018-03-15T02:39:30.123-04:00",
    ),
    ("2026-11-22T10:00:00.000Z", None): (
        "2026-11-22T10:00:00.000Z",
        "2026-11-22T18:00:00.000+08:00",
        "2026-11-22T05:00:00.000-05:00",
    ),
}
ZONES = ["UTC", "Asia/Shanghai", "America/New_York"]


@pytest.mark.parametrize("index", range(3), ids=ZONES)
@pytest.mark.parametrize(("value", "naive_zone"), list(RENDERED))
def test_times_are_shown_in_the_configured_zone_to_the_precision_sent(zone, index, value, naive_zone):
    zone(ZONES[index])
    assert render(value, naive_zone=naive_zone) == RENDERED[value, naive_zone][index]


def test_unknown_or_missing_times_are_shown_as_sent(zone):
    zone("Asia/Shanghai")
    assert render("2026-11-22 10:00:05") == "2026-11-22 10:00:05"  # no offset, zone not documented
    assert render("soon") == "soon"
    assert render(None) == render("") == "-"


def test_the_zone_is_read_once_per_process(zone, monkeypatch):
    zone("Asia/Shanghai")
    assert render("2018-03-04T05:37:58Z").endswith("+08:00")
    monkeypatch.setenv("AIRFLOW__CORE__DEFAULT_TIMEZONE", "America/New_York")
    assert render("2018-03-04T06:00:00Z") == "2018-03-04T14:00:00+08:00", "read again for a later line"
    timestamps.reset()
    assert render("2018-03-04T06:00:00Z") == "2018-03-04T01:00:00-05:00"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"AIRFLOW__CORE__DEFAULT_TIMEZONE": "America/New_York"}, "2018-03-04T00:37:58-05:00"),
        ({"AIRFLOW__CORE__DEFAULT_TIMEZONE": "utc"}, "2018-03-04T05:37:58Z"),
        ({"AIRFLOW__CORE__DEFAULT_TIMEZONE": "system", "TZ": "Asia/Tokyo"}, "2018-03-04T14:37:58+09:00"),
    ],
)
def test_a_fresh_process_reads_default_timezone_from_airflow_configuration(env, expected):
    code = "from airflow_joblogs.timestamps import render; print(render('2018-03-04T05:37:58Z'))"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == expected


def test_esb_v2_shaped_records_keep_bluekings_own_zone(zone):
    """Gateway v3 records are written in the ESB v2 shape (jsonl): the same bytes whatever Airflow's zone is."""
    zone("America/New_York")
    assert esb_v2_from_ms(1521095970123) == "2018-03-15 14:39:30 +0800"
    assert esb_v2_from_ms(None) is None and esb_v2_from_ms(0) is None


# -- what the hooks render ---------------------------------------------------------------------------------------------
def test_qingcloud_lines_and_failure_report_use_the_configured_zone(qc, zone):
    from airflow_joblogs.emulators.qingcloud import APP_ID
    from airflow_joblogs.hooks.qingcloud import QingCloudHook

    zone("Asia/Shanghai")
    hook = QingCloudHook()
    chunks = list(hook.iter_cluster_job_chunks(app=APP_ID))
    assert chunks[-1].text == "2018-03-04T13:37:58+08:00  CeaseResources  successful  cl-xi3aoihf  -"
    assert chunks[-1].record["create_time"] == "2018-03-04T05:37:58Z", "records keep the service's value"

    zone("America/New_York")
    deadline = datetime.now() + timedelta(seconds=20)
    ref = {"jobs": ["j-resize0001"], "app": APP_ID}
    while not (status := hook.job_status_from_ref(ref)).state.is_terminal:
        assert datetime.now() < deadline
        time.sleep(0.05)
    [unit] = hook.failed_units(ref, status, tail_lines=3)
    assert unit.log_tail.splitlines()[:2] == [
        "2026-11-21T21:02:00-05:00  ResizeCluster  failed  cl-chronus01  2500",
        "status_time 2026-11-21T21:02:03-05:00",
    ]


def test_qingcloud_live_lines_use_the_configured_zone(qc, zone):
    from airflow_joblogs.emulators.qingcloud import APP_ID
    from airflow_joblogs.hooks.qingcloud import QingCloudHook

    zone("Asia/Shanghai")
    lines: list[str] = []

    class Collect:
        def info(self, fmt, *args):
            lines.append(fmt % args)

    QingCloudHook().tail_logs({"jobs": ["j-addnodes01"], "app": APP_ID}, None, Collect())
    [line] = lines  # the job moves on while the test runs: its status and time vary, the zone does not
    assert re.fullmatch(
        r"\[j-addnodes01\] AddClusterNodes on cl-chronus01 is \w+ since 2026-11-22T10:01:0\d\+08:00", line
    )


def test_mgn_lines_and_failure_report_use_the_configured_zone(mgn, zone):
    pytest.importorskip("airflow.providers.amazon.aws.hooks.base_aws", reason="needs airflow-joblogs[amazon]")
    from airflow_joblogs.emulators.mgn import CANCELLED_JOB
    from airflow_joblogs.hooks.mgn import MgnHook

    zone("America/New_York")
    hook = MgnHook()
    deadline = datetime.now() + timedelta(seconds=20)
    while not (status := hook.get_job_status(CANCELLED_JOB)).state.is_terminal:
        assert datetime.now() < deadline
        time.sleep(0.05)
    chunks = list(hook.iter_log_chunks(CANCELLED_JOB))
    raw = chunks[0].record["logDateTime"]
    assert raw.endswith("Z"), "records keep the service's value"
    shown = datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(ZoneInfo("America/New_York"))
    assert chunks[0].text.split("  ")[0] == shown.isoformat(timespec="milliseconds")
    cancel = next(c.record["logDateTime"] for c in chunks if c.record["event"] == "JOB_CANCEL")
    assert f"JOB_CANCEL at {render(cancel)}" in status.failures[0].reason
    assert render(cancel).endswith(shown.isoformat()[-6:]) and not render(cancel).endswith("Z")


def test_blueking_gateway_records_match_esb_v2_whatever_the_zone(bk, zone):
    from airflow_joblogs.hooks.blueking import BlueKingJobHook

    zone("America/New_York")
    records = {}
    for conn_id in ("bk_job_default", "bk_job_esb"):
        hook = BlueKingJobHook(conn_id)
        deadline = datetime.now() + timedelta(seconds=20)
        while not hook.get_job_status(1001, bk_biz_id=2).state.is_terminal:
            assert datetime.now() < deadline
            time.sleep(0.05)
        records[conn_id] = [c.record for c in hook.iter_host_logs(1001, bk_biz_id=2)]
    gateway, esb = records["bk_job_default"], records["bk_job_esb"]
    assert gateway[0]["start_time"].endswith(" +0800"), "the gateway's records say their offset"
    # ESB v2 as bk-job writes it has no offset (UTC+8 by default): the same instants
    from airflow_joblogs.timestamps import BLUEKING_ZONE, parse

    def instants(rows: list[dict]) -> list[tuple]:
        return [tuple(parse(r.get(key), naive_zone=BLUEKING_ZONE) for key in ("start_time", "end_time")) for r in rows]

    assert instants(gateway) == instants(esb)


@pytest.mark.parametrize("name", [*ZONES, "Australia/Lord_Howe", "Asia/Kolkata"])
def test_lines_across_a_daylight_saving_change_show_the_right_offset(zone, name):
    """QingCloud's and MGN's times are converted a minute at a time: the offset must still change on the instant."""
    import pendulum

    zone(name)
    start = datetime(2018, 3, 11, 6, 58, tzinfo=UTC)  # New York springs forward at 07:00 UTC
    for step in range(0, 240, 7):
        moment = start + timedelta(seconds=step)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S") + ".250Z"
        expected = pendulum.instance(moment).in_timezone(name).isoformat(timespec="milliseconds")
        expected = expected[:-6] + "Z" if expected.endswith("+00:00") else expected
        assert render(text) == expected.replace(".000", ".250")
    assert render("2018-10-07T15:30:00Z") == pendulum.parse("2018-10-07T15:30:00Z").in_timezone(
        name
    ).isoformat().replace("+00:00", "Z")
