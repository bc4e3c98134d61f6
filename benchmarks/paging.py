"""Paging cost: each hook's full-log fetch versus the bare minimum over identical pages, against the same emulator.

The bare loops send the same requests with the same authentication (the provider's httpx.Auth classes, or
boto3's own signing for MGN) over one keep-alive connection, and only decode the JSON: no retries, no program
driver, no chunk objects, no readable lines. Both clients are made once, before the timing (so a boto3 client's
creation is not counted). Each round times both loops back to back, in alternating order (hook first in one round,
bare first in the next). The figure is the median, over the rounds, of the hook's wall-clock time for the whole fetch
divided by the bare loop's in the same round: on a machine shared with other work, the two loops of a round meet
about the same load, where the best times of separate rounds may not (a lucky round of one loop decided the figure).
The client's CPU time is compared the same way; the best times of both loops are in the details.

Both loops read each unit's log text (MGN: each item's ``event``, the hook from the chunk's record). A hook builds
a chunk's readable header, archive record and resume cursor when they are first read
(:class:`~airflow_joblogs.models.LazyLogChunk`); what that costs is shown apart: every other round also times the
hook reading every field of every chunk, as an archive in either format reads them ("all fields").

* CodeArts Build: a 50 MB build log in pages of 1,000 lines.
* BlueKing JOB: the 1,000-host job through the API gateway, one batch at a time (the bare loop asks for the
  same batches: a 1-host probe, then 500 and 499 hosts); and 1,000 hosts with 64 KiB logs each (a large log).
* AWS MGN: 10,000 log items in pages of 1,000, against a bare boto3 paginator.
* QingCloud: 5,000 cluster job records in pages of 100.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks._support import Row, emulator_process, run_child

TARGET = 1.10
#: rounds per case, times ``rounds``: the shorter a fetch, the more rounds it takes to see through the noise (the
#: 1,000-host job takes about 20 ms; QingCloud's fetch, about 5 s, is mostly the emulator's time)
ROUND_FACTOR = {"blueking": 8, "qingcloud": 1}

ROUNDS = """
def read_all(chunk):
    # what an archive reads of a chunk, in the text format or the jsonl one
    return (chunk.header, chunk.record, chunk.cursor, chunk.truncated_upstream)

def measure(loops, rounds):
    hook_loop, bare_loop = loops
    bare_loop(); hook_loop(); hook_loop(read_all)  # warm-up: imports done, the emulator's data built
    timed = []  # per round: {loop: [wall-clock s, CPU s]}
    sizes = {}
    for number in range(rounds):
        order = [("hook", hook_loop), ("bare", bare_loop)]
        if number % 2:
            order.reverse()
        if number % 2 == 0:
            order.append(("hook_all", lambda: hook_loop(read_all)))
        timed.append({})
        for name, run in order:
            started, started_cpu = time.perf_counter(), time.process_time()
            sizes[name] = run()
            timed[-1][name] = [time.perf_counter() - started, time.process_time() - started_cpu]
    assert sizes["hook"] == sizes["bare"] == sizes["hook_all"], sizes
    print(json.dumps({"size": sizes["bare"], "rounds": timed}))
"""

CODEARTS = """
import httpx
from airflow_joblogs.auth.huawei import HuaweiAkSkAuth
from airflow_joblogs.emulators.codearts import LARGE_JOB
from airflow_joblogs.hooks.codearts import CodeArtsBuildHook
conn = {conn!r}

hook = CodeArtsBuildHook("codearts_build_default")
client = httpx.Client(
    base_url=conn["host"], auth=HuaweiAkSkAuth(conn["login"], conn["password"], conn["extra"]["project_id"])
)

def hook_loop(read=None):
    n_bytes = pages = 0
    for chunk in hook.iter_build_log(LARGE_JOB, 3):
        n_bytes += len(chunk.text)
        pages += 1
        if read:
            read(chunk)
    return n_bytes, pages

def bare_loop():
    offset = n_bytes = pages = 0
    while True:
        page = client.get(
            f"/v1/log/{{LARGE_JOB}}/3/real-time-log",
            params={{"start_offset": offset, "end_offset": 0, "sort": "AES", "size": 1000}},
        ).json()["result"]
        n_bytes += len(page["log"])
        pages += 1
        offset = int(page["end_offset"])
        if not page["has_more"]:
            return n_bytes, pages
"""

BLUEKING = """
import httpx
from airflow_joblogs.auth.blueking import BlueKingCredentials, BlueKingGatewayAuth
from airflow_joblogs.hooks.blueking import BlueKingJobHook
conn = {conn!r}
JOB = {job}
REF = {{"bk_scope_type": "biz", "bk_scope_id": "2", "job_instance_id": JOB}}
hook = BlueKingJobHook("bk_job_default")
client = httpx.Client(
    base_url=conn["host"],
    auth=BlueKingGatewayAuth(BlueKingCredentials(conn["login"], conn["password"], bk_token=conn["extra"]["bk_token"])),
)
while not hook.get_job_status(JOB, bk_biz_id=2).state.is_terminal:
    time.sleep(0.05)

def hook_loop(read=None):
    n_bytes = hosts = 0
    for chunk in hook.iter_host_logs(JOB, bk_biz_id=2, concurrency=1):
        n_bytes += len(chunk.text)
        hosts += 1
        if read:
            read(chunk)
    return n_bytes, hosts

def bare_loop():
    # the same batches as the hook: a 1-host probe, then as many hosts as fit 8 MiB at the volume seen so far
    status = client.get("/api/v3/get_job_instance_status", params={{**REF, "return_ip_result": "true"}}).json()
    step = status["data"]["step_instance_list"][0]
    ids = [h["bk_host_id"] for h in step["step_ip_result_list"]]
    n_bytes = hosts = position = 0
    while position < len(ids):
        size = min(500, int((8 << 20) // max(n_bytes / hosts, 1.0))) if hosts else 1
        body = {{**REF, "step_instance_id": step["step_instance_id"], "host_id_list": ids[position:position + size]}}
        data = client.post("/api/v3/batch_get_job_instance_ip_log", json=body).json()["data"]
        for entry in data["script_task_logs"]:
            n_bytes += len(entry["log_content"])
            hosts += 1
        position += size
    return n_bytes, hosts
"""

MGN = """
import boto3
from airflow_joblogs.emulators.mgn import WAVE_JOB
from airflow_joblogs.hooks.mgn import MgnHook
conn = {conn!r}

hook = MgnHook("aws_default")
client = boto3.client(
    "mgn",
    endpoint_url=conn["extra"]["endpoint_url"],
    region_name=conn["extra"]["region_name"],
    aws_access_key_id=conn["login"],
    aws_secret_access_key=conn["password"],
)
while not hook.get_job_status(WAVE_JOB).state.is_terminal:
    time.sleep(0.05)

def hook_loop(read=None):
    n_bytes = items = 0
    for chunk in hook.iter_log_chunks(WAVE_JOB, max_results=1000):
        n_bytes += len(chunk.record.get("event", ""))
        items += 1
        if read:
            read(chunk)
            len(chunk.text)  # the readable line: the text archive's
    return n_bytes, items

def bare_loop():
    n_bytes = items = 0
    for page in client.get_paginator("describe_job_log_items").paginate(
        jobID=WAVE_JOB, PaginationConfig={{"PageSize": 1000}}
    ):
        for item in page["items"]:
            n_bytes += len(item.get("event", ""))
            items += 1
    return n_bytes, items
"""

QINGCLOUD = """
import httpx, uuid
from airflow_joblogs.auth.qingcloud import QingCloudSignatureV1, flatten_params
from airflow_joblogs.emulators.qingcloud import APP_ID
from airflow_joblogs.hooks.qingcloud import QingCloudHook
conn = {conn!r}

hook = QingCloudHook("qingcloud_default")
client = httpx.Client(base_url=conn["host"], auth=QingCloudSignatureV1(conn["login"], conn["password"]))
while not hook.get_job_status(["j-resize0001", "j-addnodes01"], APP_ID).state.is_terminal:
    time.sleep(0.05)

def hook_loop(read=None):
    records = 0
    for chunk in hook.iter_cluster_job_chunks(app=APP_ID, page_size=100):
        records += 1
        if read:
            read(chunk)
            len(chunk.text)  # the readable line: the text archive's
    return records

def bare_loop():
    offset = records = 0
    while True:
        params = {{"action": "DescribeClusterJobs", "app": APP_ID, "verbose": 0, "offset": offset, "limit": 100,
                  "zone": conn["extra"]["zone"], "req_id": uuid.uuid4().hex}}
        body = client.get("/iaas/", params=flatten_params(params)).json()
        page = body["job_set"]
        records += len(page)
        offset += len(page)
        if not page or offset >= body["total_count"]:
            return records
"""

CASES: dict[str, dict[str, Any]] = {
    "codearts": {"code": CODEARTS, "conn": "codearts_build_default"},
    "blueking": {"code": BLUEKING, "conn": "bk_job_default", "job": 1004},
    "blueking-large": {"code": BLUEKING, "conn": "bk_job_default", "job": 1005, "emulator": "blueking"},
    "mgn": {"code": MGN, "conn": "aws_default"},
    "qingcloud": {"code": QINGCLOUD, "conn": "qingcloud_default"},
}


def paired(rounds: list[dict[str, list[float]]], loop: str, measure: int) -> float:
    """The median over ``rounds`` of ``loop``'s time divided by the bare loop's in the same round (``measure``: 0
    wall-clock, 1 CPU)."""
    return statistics.median(r[loop][measure] / r["bare"][measure] for r in rounds if loop in r)


def best(rounds: list[dict[str, list[float]]], loop: str, measure: int) -> float:
    return min(r[loop][measure] for r in rounds if loop in r)


def run(*, smoke: bool = False, rounds: int = 9, services: tuple[str, ...] = tuple(CASES)) -> list[Row]:
    sizes = {
        # emulator knobs, and what the figure is about
        "codearts": ({"large_log_bytes": (1 if smoke else 50) << 20}, f"a {1 if smoke else 50} MB build log"),
        "blueking": ({"speed": 100.0}, "the 1,000-host job (gateway v3, one batch at a time)"),
        "blueking-large": (
            {"speed": 100.0, "large_hosts": 100 if smoke else 1000, "large_log_bytes": (100 if smoke else 1000) << 16},
            f"{100 if smoke else 1000:,} hosts x 64 KiB (gateway v3, one batch at a time)",
        ),
        "mgn": ({"speed": 100.0, "wave_servers": 20 if smoke else 2000}, None),
        "qingcloud": ({"speed": 100.0, "history": 97 if smoke else 4997}, None),
    }
    rows = []
    for service in services:
        case = CASES[service]
        knobs, what = sizes[service]
        with emulator_process(case.get("emulator", service), **knobs) as emulator:
            code = case["code"].format(conn=emulator.connections[case["conn"]], job=case.get("job"))
            repeat = 1 if smoke else rounds * ROUND_FACTOR.get(service, 2)
            result = run_child(code + ROUNDS + f"\nmeasure((hook_loop, bare_loop), {repeat})\n", emulator.connections)
        size = result["size"]
        if service == "mgn":
            what = f"{size[1]:,} log items (pages of 1,000)"
        elif service == "qingcloud":
            what = f"{size:,} cluster job records (pages of 100)"
        timed = result["rounds"]
        ratio = paired(timed, "hook", 0)
        rows.append(
            Row(
                "paging",
                f"{service.split('-')[0]}: {what}, hook / bare loop",
                round(ratio, 3),
                "x",
                f"<= {TARGET:.2f}x",
                ratio <= TARGET,
                f"median of {repeat} rounds; best hook {best(timed, 'hook', 0):.3f} s, bare {best(timed, 'bare', 0):.3f} s; "
                f"client CPU {paired(timed, 'hook', 1):.2f}x (best hook {best(timed, 'hook', 1):.3f} s, "
                f"bare {best(timed, 'bare', 1):.3f} s); reading all fields: {paired(timed, 'hook_all', 0):.2f}x, "
                f"CPU {paired(timed, 'hook_all', 1):.2f}x ({sum('hook_all' in r for r in timed)} rounds)",
                {"result": result},
            )
        )
    return rows
