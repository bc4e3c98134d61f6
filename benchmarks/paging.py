"""Archive cost: what a log operator does (fetch every page, render every unit, write a file) against a bare loop
that fetches the same pages with a plain client and writes the same bytes, in both archive formats, with the
emulator answering at once and 5 ms late (a near network).

*Ours* is the log operator's archive work: the operator's ``log_chunks`` (the hook's log iterator, with the
operator's options) into :func:`~airflow_joblogs.archive.archive_chunks`, to a file (written under a temporary name,
hashed, counted, moved into place). That is what ``execute`` does after its status check, which is left out: it is
one request whatever the log's size (for MGN a second read of the log, when the verdict depends on it).

*Bare* sends the same requests with the same authentication over one keep-alive connection (a plain ``httpx``
client with the provider's ``httpx.Auth`` class; a bare boto3 paginator for MGN) and writes each unit's bytes to a
plain file as it goes: the ``text`` format's header line and log text, or the ``jsonl`` record. It renders them with
the project's own formatting helpers where the format is defined by one (MGN's readable line, QingCloud's line and
record, BlueKing's status names and ESB v2 times), so both loops produce byte-identical files: each case checks
that (sha256) after its rounds. No retries, no programs, no chunk objects, no checksums, no temporary file.

Both loops' clients (the hook, the httpx client, the boto3 client) are made once, before the timing. Each round
times both loops back to back, in alternating order; the figures are the medians, over the rounds, of ours divided
by bare in the same round (on a shared machine the two loops of a round meet about the same load), for the
client's CPU time and for the wall-clock time. Targets: CPU at most 1.15x with the emulator answering at once (the
client's own work is all there is to see), wall-clock at most 1.05x with 5 ms a request (what a task waits for).

* CodeArts Build: a 10 MB build log in pages of 1,000 lines.
* BlueKing JOB: the 1,000-host job through the API gateway (345 B a host), and 1,000 hosts with 64 KiB logs each;
  one batch at a time (``concurrency=1``), so both loops send the same batches: a 1-host probe, then 500 and 499.
* AWS MGN: 10,000 log items in pages of 1,000.
* QingCloud: 1,000 cluster job records in pages of 100.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from benchmarks import _support
from benchmarks._support import Row, emulator_process, run_child

CPU_TARGET = 1.15
WALL_TARGET = 1.05
FORMATS = ("text", "jsonl")
#: seconds the emulator waits before each answer
DELAYS = (0.0, 0.005)
#: rounds per case, times ``rounds``: the shorter an archive, the more rounds it takes to see through the noise
#: (the 1,000-host job takes about 30 ms, the others 0.1 to 2 s)
ROUND_FACTOR = {"blueking": 5}

ROUNDS = """
import atexit, hashlib, os, shutil, tempfile
from airflow_joblogs.archive import archive_chunks

folder = tempfile.mkdtemp(prefix="paging-", dir={folder!r})
atexit.register(shutil.rmtree, folder, True)
FILES = {{"ours": os.path.join(folder, "ours.out"), "bare": os.path.join(folder, "bare.out")}}

def ours(fmt):
    op = OPERATORS[fmt]
    manifest = archive_chunks(
        op.log_chunks(HOOK, REF), destination=FILES["ours"], default_name=op.archive_name(REF), log_format=fmt,
        overwrite=True, job=REF, service=op.service_name,
    )
    return manifest["bytes"]

def bare(fmt):
    with open(FILES["bare"], "wb") as out:
        bare_loop(fmt, out.write)
        return out.tell()

def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()

def measure(rounds):
    results = {{}}
    for fmt in {formats!r}:
        ours(fmt); bare(fmt)  # warm-up: imports done, the emulator's data built
        timed = []  # per round: {{loop: [wall-clock s, CPU s]}}
        for number in range(rounds):
            order = [("ours", ours), ("bare", bare)]
            if number % 2:
                order.reverse()
            timed.append({{}})
            for name, run in order:
                started, started_cpu = time.perf_counter(), time.process_time()
                run(fmt)
                timed[-1][name] = [time.perf_counter() - started, time.process_time() - started_cpu]
        same = sha256(FILES["ours"]) == sha256(FILES["bare"])
        assert same, f"{{fmt}}: the two loops wrote different bytes"
        results[fmt] = {{"bytes": os.path.getsize(FILES["ours"]), "rounds": timed}}
    print(json.dumps(results))
"""

CODEARTS = """
import httpx
from airflow_joblogs.auth.huawei import HuaweiAkSkAuth
from airflow_joblogs.emulators.codearts import LARGE_JOB
from airflow_joblogs.operators.codearts import CodeArtsBuildLogOperator
conn = {conn!r}

OPERATORS = {{f: CodeArtsBuildLogOperator(task_id="a", job_id=LARGE_JOB, build_no=3, log_format=f) for f in FORMATS}}
REF = OPERATORS["text"].job_ref()
HOOK = OPERATORS["text"].hook_class(conn_id=OPERATORS["text"].conn_id)
client = httpx.Client(
    base_url=conn["host"], auth=HuaweiAkSkAuth(conn["login"], conn["password"], conn["extra"]["project_id"])
)

def bare_loop(fmt, write):
    offset = 0
    last = "\\n"
    while True:
        page = client.get(
            f"/v1/log/{{LARGE_JOB}}/3/real-time-log",
            params={{"start_offset": offset, "end_offset": 0, "sort": "AES", "size": 1000}},
        ).json()["result"]
        if page["log"]:
            if fmt == "text":
                write(page["log"].encode())
                last = page["log"][-1]
            else:
                record = {{"job_id": LARGE_JOB, "build_no": 3, **page}}
                write((json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\\n").encode())
        offset = int(page["end_offset"])
        if not page["has_more"]:
            break
    if last != "\\n":
        write(b"\\n")
"""

BLUEKING = """
import httpx
from airflow_joblogs.auth.blueking import BlueKingCredentials, BlueKingGatewayAuth
from airflow_joblogs.hooks.blueking import HOST_STATUS_NAMES, JOB_STATUS_NAMES
from airflow_joblogs.operators.blueking import BlueKingJobLogOperator
from airflow_joblogs.timestamps import esb_v2_from_ms
conn = {conn!r}
JOB = {job}
OPERATORS = {{
    f: BlueKingJobLogOperator(task_id="a", job_instance_id=JOB, bk_biz_id=2, concurrency=1, log_format=f)
    for f in FORMATS
}}
REF = OPERATORS["text"].job_ref()
HOOK = OPERATORS["text"].hook_class(conn_id=OPERATORS["text"].conn_id)
client = httpx.Client(
    base_url=conn["host"],
    auth=BlueKingGatewayAuth(BlueKingCredentials(conn["login"], conn["password"], bk_token=conn["extra"]["bk_token"])),
)
while not HOOK.get_job_status(JOB, bk_biz_id=2).state.is_terminal:
    time.sleep(0.05)

def dumps(record):
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\\n").encode()

def bare_loop(fmt, write):
    # the same batches as the hook: a 1-host probe, then as many hosts as fit 8 MiB at the volume seen so far
    status = client.get("/api/v3/get_job_instance_status", params={{**REF, "return_ip_result": "true"}}).json()
    steps = status["data"]["step_instance_list"]
    n_bytes = hosts = 0
    for index, step in enumerate(steps, 1):
        code = step["status"]
        step_text = (
            f"step {{index}}/{{len(steps)}} {{step['name']!r}} (id {{step['step_instance_id']}}, "
            f"status {{code}} {{JOB_STATUS_NAMES.get(code, 'undocumented')}})"
        )
        base = {{"job_instance_id": JOB, "is_finished": code not in (1, 2, 7, 10, 15),
                "step_instance_id": step["step_instance_id"], "name": step["name"], "status": code}}
        listed = step["step_ip_result_list"]
        position = 0
        while position < len(listed):
            size = min(500, int((8 << 20) // max(n_bytes / hosts, 1.0))) if hosts else 1
            batch = listed[position:position + size]
            body = {{**REF, "step_instance_id": step["step_instance_id"], "host_id_list": [h["bk_host_id"] for h in batch]}}
            data = client.post("/api/v3/batch_get_job_instance_ip_log", json=body).json()["data"]
            for host, entry in zip(batch, data["script_task_logs"], strict=True):
                content = entry["log_content"]
                n_bytes += len(content)
                hosts += 1
                if fmt == "text":
                    ip_status = host["status"]
                    header = (
                        f"===== {{step_text}} | host {{host['bk_cloud_id']}}:{{host['ip']}} (ip_status {{ip_status}} "
                        f"{{HOST_STATUS_NAMES.get(ip_status, 'undocumented')}}, exit code {{host['exit_code']}}) =====\\n"
                    )
                    write((header + content + ("" if content.endswith("\\n") else "\\n")).encode())
                else:
                    write(dumps({{**base, "ip_status": host["status"], "tag": host["tag"], "retry_count": 0,
                                 "total_time": (host["total_time"] or 0) / 1000,
                                 "start_time": esb_v2_from_ms(host["start_time"]),
                                 "end_time": esb_v2_from_ms(host["end_time"]), "ip": host["ip"],
                                 "bk_cloud_id": host["bk_cloud_id"], "bk_host_id": host["bk_host_id"],
                                 "error_code": host["error_code"], "exit_code": host["exit_code"],
                                 "log_content": content}}))
            position += size
"""

MGN = """
import boto3
from airflow_joblogs.emulators.mgn import WAVE_JOB
from airflow_joblogs.hooks.mgn_model import render_item
from airflow_joblogs.operators.mgn import MgnJobLogOperator
conn = {conn!r}

OPERATORS = {{f: MgnJobLogOperator(task_id="a", job_id=WAVE_JOB, log_format=f) for f in FORMATS}}
REF = OPERATORS["text"].job_ref()
HOOK = OPERATORS["text"].hook_class(conn_id=OPERATORS["text"].conn_id)
client = boto3.client(
    "mgn",
    endpoint_url=conn["extra"]["endpoint_url"],
    region_name=conn["extra"]["region_name"],
    aws_access_key_id=conn["login"],
    aws_secret_access_key=conn["password"],
)
while not HOOK.get_job_status(WAVE_JOB).state.is_terminal:
    time.sleep(0.05)

def bare_loop(fmt, write):
    for page in client.get_paginator("describe_job_log_items").paginate(
        jobID=WAVE_JOB, PaginationConfig={{"PageSize": 1000}}
    ):
        for item in page["items"]:
            if fmt == "text":
                write((render_item(item) + "\\n").encode())
            else:
                write((json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\\n").encode())
"""

QINGCLOUD = """
import httpx, uuid
from airflow_joblogs.auth.qingcloud import QingCloudSignatureV1, flatten_params
from airflow_joblogs.emulators.qingcloud import APP_ID
from airflow_joblogs.hooks.qingcloud import job_line, normalize_job
from airflow_joblogs.operators.qingcloud import QingCloudClusterJobsOperator
conn = {conn!r}

OPERATORS = {{f: QingCloudClusterJobsOperator(task_id="a", app=APP_ID, log_format=f) for f in FORMATS}}
REF = OPERATORS["text"].job_ref()
HOOK = OPERATORS["text"].hook_class(conn_id=OPERATORS["text"].conn_id)
client = httpx.Client(base_url=conn["host"], auth=QingCloudSignatureV1(conn["login"], conn["password"]))
while not HOOK.get_job_status(["j-resize0001", "j-addnodes01"], APP_ID).state.is_terminal:
    time.sleep(0.05)

def bare_loop(fmt, write):
    offset = 0
    while True:
        params = {{"action": "DescribeClusterJobs", "app": APP_ID, "verbose": 0, "offset": offset, "limit": 100,
                  "zone": conn["extra"]["zone"], "req_id": uuid.uuid4().hex}}
        body = client.get("/iaas/", params=flatten_params(params)).json()
        page = body["job_set"]
        for job in page:
            if fmt == "text":
                line = job_line(job)
                write((line + ("" if line.endswith("\\n") else "\\n")).encode())
            else:
                write((json.dumps(normalize_job(job), ensure_ascii=False, separators=(",", ":")) + "\\n").encode())
        offset += len(page)
        if not page or offset >= body["total_count"]:
            return
"""

CASES: dict[str, dict[str, Any]] = {
    "codearts": {"code": CODEARTS, "conn": "codearts_build_default"},
    "blueking": {"code": BLUEKING, "conn": "bk_job_default", "job": 1004},
    "blueking-large": {"code": BLUEKING, "conn": "bk_job_default", "job": 1005, "emulator": "blueking"},
    "mgn": {"code": MGN, "conn": "aws_default"},
    "qingcloud": {"code": QINGCLOUD, "conn": "qingcloud_default"},
}


def paired(rounds: list[dict[str, list[float]]], measure: int) -> float:
    """The median over ``rounds`` of ours divided by bare in the same round (``measure``: 0 wall-clock, 1 CPU)."""
    return statistics.median(r["ours"][measure] / r["bare"][measure] for r in rounds)


def best(rounds: list[dict[str, list[float]]], loop: str, measure: int) -> float:
    return min(r[loop][measure] for r in rounds)


def sizes(smoke: bool) -> dict[str, tuple[dict[str, Any], str]]:
    """Emulator knobs per case, and what the case archives."""
    return {
        "codearts": ({"large_log_bytes": (1 if smoke else 10) << 20}, f"a {1 if smoke else 10} MB build log"),
        "blueking": ({"speed": 100.0}, "the 1,000-host job"),
        "blueking-large": (
            {"speed": 100.0, "large_hosts": 100 if smoke else 1000, "large_log_bytes": (100 if smoke else 1000) << 16},
            f"{100 if smoke else 1000:,} hosts x 64 KiB",
        ),
        "mgn": ({"speed": 100.0, "wave_servers": 20 if smoke else 2000}, "log items in pages of 1,000"),
        "qingcloud": ({"speed": 100.0, "history": 97 if smoke else 997}, "cluster job records in pages of 100"),
    }


def run(
    *,
    smoke: bool = False,
    rounds: int = 3,
    services: tuple[str, ...] = tuple(CASES),
    delays: tuple[float, ...] = DELAYS,
) -> list[Row]:
    rows = []
    for service in services:
        case = CASES[service]
        knobs, what = sizes(smoke)[service]
        for delay in delays:
            with emulator_process(case.get("emulator", service), **knobs) as emulator:
                emulator.faults(latency=delay)
                code = case["code"].format(conn=emulator.connections[case["conn"]], job=case.get("job"))
                repeat = 1 if smoke else rounds * ROUND_FACTOR.get(service, 1)
                prologue = f"FORMATS = {FORMATS!r}\n"
                _support.RESULTS.mkdir(parents=True, exist_ok=True)  # the files written go there (and are removed)
                rounds_code = ROUNDS.format(formats=FORMATS, folder=str(_support.RESULTS))
                started = time.monotonic()
                result = run_child(prologue + code + rounds_code + f"\nmeasure({repeat})\n", emulator.connections)
            print(f"  {service}, {delay * 1000:g} ms: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
            for fmt in FORMATS:
                timed = result[fmt]["rounds"]
                cpu, wall = paired(timed, 1), paired(timed, 0)
                # at once: the client's CPU is the figure; 5 ms late: the wall-clock time a task waits
                value, target = (cpu, CPU_TARGET) if delay == 0 else (wall, WALL_TARGET)
                rows.append(
                    Row(
                        "paging",
                        f"{service.split('-')[0]}: {what}, {fmt}, {delay * 1000:g} ms a request: ours / bare "
                        f"({'CPU' if delay == 0 else 'wall-clock'})",
                        round(value, 3),
                        "x",
                        f"<= {target:.2f}x",
                        value <= target,
                        f"median of {repeat} rounds; CPU {cpu:.2f}x (best ours {best(timed, 'ours', 1):.3f} s, "
                        f"bare {best(timed, 'bare', 1):.3f} s); wall-clock {wall:.2f}x (best ours "
                        f"{best(timed, 'ours', 0):.3f} s, bare {best(timed, 'bare', 0):.3f} s); "
                        f"{result[fmt]['bytes']:,} bytes, identical",
                        {
                            "service": service,
                            "format": fmt,
                            "delay_ms": delay * 1000,
                            "cpu": cpu,
                            "wall": wall,
                            "result": result[fmt],
                        },
                    )
                )
    return rows
