"""Provider metadata, read by Airflow through the ``apache_airflow_provider`` entry point.

The connection forms are declared here (``conn-fields`` / ``ui-field-behaviour``, Airflow >= 3.2); the
hooks' ``get_connection_form_widgets`` / ``get_ui_field_behaviour`` (Airflow 3.0 and 3.1) are built from
the same declarations, so the two can never disagree.
"""

from __future__ import annotations

from typing import Any

from airflow_joblogs import __version__

_COMMON_FIELDS: dict[str, dict[str, Any]] = {
    "verify": {
        "label": "Verify TLS certificates",
        "description": "Check the server's certificate (turn off only for a test server with a self-signed certificate).",
        "schema": {"type": "boolean", "default": True},
    },
    "ca_bundle": {
        "label": "CA bundle path",
        "description": "Path to a PEM file of CA certificates to trust instead of the system's.",
        "schema": {"type": ["string", "null"]},
    },
    "allow_http": {
        "label": "Allow plain http://",
        "description": "Permit an http:// URL (local emulators only; credentials travel unencrypted).",
        "schema": {"type": "boolean", "default": False},
    },
    "timeout": {
        "label": "Read timeout (seconds)",
        "description": "How long to wait for a response before retrying.",
        "schema": {"type": ["number", "null"], "minimum": 1, "default": 60},
    },
    "max_attempts": {
        "label": "Attempts per request",
        "description": "Tries per request on transient faults (5xx, 429, timeouts, dropped connections), 1-20.",
        "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 20, "default": 6},
    },
}

CONNECTION_TYPES: list[dict[str, Any]] = [
    {
        "connection-type": "bk_job",
        "hook-class-name": "airflow_joblogs.hooks.blueking.BlueKingJobHook",
        "hook-name": "Tencent BlueKing JOB",
        "ui-field-behaviour": {
            "hidden-fields": ["port", "schema"],
            "relabeling": {
                "host": "ESB / API gateway URL",
                "login": "App code (bk_app_code)",
                "password": "App secret (bk_app_secret)",
            },
            "placeholders": {
                "host": "https://bkapi.example.com/api/bk-job/prod  (ESB v2: https://paas.example.com)",
                "login": "my-app",
                "password": "app secret",
                "extra": '{"api_style": "gateway_v3", "bk_token": "<a user\'s bk_token>"}',
            },
        },
        "conn-fields": {
            "api_style": {
                "label": "API style",
                "description": "gateway_v3: the BlueKing API gateway (X-Bkapi-Authorization header); esb_v2: the legacy ESB (/api/c/compapi/v2/job/).",
                "schema": {"type": "string", "enum": ["gateway_v3", "esb_v2"], "default": "gateway_v3"},
            },
            "bk_username": {
                "label": "BlueKing user name",
                "description": "The user the app acts for, unverified: the API gateway and ESB accept it alone only for an app they exempt from user verification (white list). Otherwise set bk_token or access_token.",
                "schema": {"type": ["string", "null"]},
            },
            "bk_token": {
                "label": "bk_token",
                "description": "A user's login token (the bk_token cookie of BlueKing login): verifies the user. This or access_token is needed unless the app is exempted.",
                "schema": {"type": ["string", "null"], "format": "password"},
            },
            "access_token": {
                "label": "Access token",
                "description": "A user access token (bkauth/ssm; ESB: its bk_access_token): verifies the user instead of bk_token.",
                "schema": {"type": ["string", "null"], "format": "password"},
            },
            "console_url": {
                "label": "JOB web console URL",
                "description": "The JOB web address (e.g. https://job.example.com): run operators link each job they start to this address followed by /api_execute/ and the job instance id.",
                "schema": {"type": ["string", "null"]},
            },
            "tenant_id": {
                "label": "Tenant id",
                "description": "Sent as X-Bk-Tenant-Id on multi-tenant installations (API gateway only).",
                "schema": {"type": ["string", "null"]},
            },
            **_COMMON_FIELDS,
        },
    },
    {
        "connection-type": "qingcloud",
        "hook-class-name": "airflow_joblogs.hooks.qingcloud.QingCloudHook",
        "hook-name": "QingCloud",
        "ui-field-behaviour": {
            "hidden-fields": ["port", "schema"],
            "relabeling": {
                "host": "API host",
                "login": "Access key id",
                "password": "Secret access key",
            },
            "placeholders": {
                "host": "https://api.qingcloud.com  (private cloud: its own API host)",
                "login": "QYACCESSKEYIDEXAMPLE",
                "password": "secret access key",
                "extra": '{"zone": "pek3a"}',
            },
        },
        "conn-fields": {
            "zone": {
                "label": "Zone",
                "description": "The zone every call is made in (e.g. pek3, pek3a, sh1a, gd2); a task may override it.",
                "schema": {"type": "string", "pattern": "^[a-z]{2,10}[0-9]{1,3}[a-z]{0,2}$"},
            },
            **_COMMON_FIELDS,
        },
    },
    {
        "connection-type": "codearts_build",
        "hook-class-name": "airflow_joblogs.hooks.codearts.CodeArtsBuildHook",
        "hook-name": "Huawei Cloud CodeArts Build",
        "ui-field-behaviour": {
            "hidden-fields": ["port", "schema"],
            "relabeling": {
                "host": "Endpoint (optional, overrides the region's)",
                "login": "Access key (AK) or IAM user name",
                "password": "Secret key (SK) or IAM user password",
            },
            "placeholders": {
                "host": "https://cloudbuild-ext.cn-north-4.myhuaweicloud.com  (leave empty: derived from the region)",
                "login": "HPUAEXAMPLEACCESSKEY",
                "password": "secret key, or the IAM user's password",
                "extra": '{"region": "cn-north-4", "project_id": "0123456789abcdef0123456789abcdef"}',
            },
        },
        "conn-fields": {
            "region": {
                "label": "Region",
                "description": "e.g. cn-north-4, ap-southeast-3, eu-west-101; the endpoint and the IAM endpoint derive from it.",
                "schema": {"type": ["string", "null"], "pattern": "^[a-z]{2}-[a-z]+-[0-9]+$"},
            },
            "project_id": {
                "label": "Project id",
                "description": "The region's project id (32 characters): sent as X-Project-Id, and the IAM token's scope.",
                "schema": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9]{32}$"},
            },
            "auth_type": {
                "label": "Authentication",
                "description": "aksk: sign with the AK/SK in login/password; token: send the IAM token below; password: get a token with the IAM user in login/password (and the account below). Left empty: token when an IAM token is set, password when an account name is set, else aksk.",
                # no None among the choices (the form would list it as "null"): the field may be left empty
                # (its type allows null) and the hook then picks the kind from the fields that are set
                "schema": {"type": ["string", "null"], "enum": ["aksk", "token", "password"]},
            },
            "security_token": {
                "label": "Security token",
                "description": "For temporary AK/SK (sent as X-Security-Token).",
                "schema": {"type": ["string", "null"], "format": "password"},
            },
            "iam_token": {
                "label": "IAM token",
                "description": "A project-scoped IAM token (X-Subject-Token of POST /v3/auth/tokens); it expires after 24 hours.",
                "schema": {"type": ["string", "null"], "format": "password"},
            },
            "domain_name": {
                "label": "Account (domain) name",
                "description": "The account the IAM user belongs to (auth_type password).",
                "schema": {"type": ["string", "null"]},
            },
            "console_url": {
                "label": "Console URL",
                "description": "The CodeArts Build console address (e.g. https://devcloud.cn-north-4.huaweicloud.com/cloudbuild): run operators link each build they start to this address followed by /detail/history/, the job id and the build number.",
                "schema": {"type": ["string", "null"]},
            },
            "iam_endpoint": {
                "label": "IAM endpoint",
                "description": "Overrides https://iam.{region}.myhuaweicloud.com (auth_type password).",
                "schema": {"type": ["string", "null"]},
            },
            **_COMMON_FIELDS,
        },
    },
]


def connection_type(name: str) -> dict[str, Any]:
    for entry in CONNECTION_TYPES:
        if entry["connection-type"] == name:
            return entry
    raise KeyError(name)


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-joblogs",
        "name": "Job logs (BlueKing JOB, CodeArts Build, QingCloud, AWS MGN)",
        "description": "Sensors that gate pipelines on remote jobs, and operators that show and archive their logs.",
        "versions": [__version__],
        "state": "ready",
        "source-date-epoch": 1795305600,
        "integrations": [
            {
                "integration-name": "Tencent BlueKing JOB",
                "external-doc-url": "https://github.com/TencentBlueKing/bk-job",
                "how-to-guide": ["/docs/airflow-joblogs/blueking.rst"],
                "tags": ["service"],
            },
            {
                "integration-name": "QingCloud AppCenter",
                "external-doc-url": "https://docsv3.qingcloud.com/",
                "how-to-guide": ["/docs/airflow-joblogs/qingcloud.rst"],
                "tags": ["service"],
            },
            {
                "integration-name": "Huawei Cloud CodeArts Build",
                "external-doc-url": "https://support.huaweicloud.com/intl/en-us/api-codeci/",
                "how-to-guide": ["/docs/airflow-joblogs/codearts.rst"],
                "tags": ["service"],
            },
            {
                "integration-name": "AWS Application Migration Service",
                "external-doc-url": "https://docs.aws.amazon.com/mgn/latest/APIReference/",
                "how-to-guide": ["/docs/airflow-joblogs/mgn.rst"],
                "tags": ["aws"],
            },
        ],
        "hooks": [
            {"integration-name": "Tencent BlueKing JOB", "python-modules": ["airflow_joblogs.hooks.blueking"]},
            {"integration-name": "QingCloud AppCenter", "python-modules": ["airflow_joblogs.hooks.qingcloud"]},
            {"integration-name": "Huawei Cloud CodeArts Build", "python-modules": ["airflow_joblogs.hooks.codearts"]},
            {"integration-name": "AWS Application Migration Service", "python-modules": ["airflow_joblogs.hooks.mgn"]},
        ],
        "sensors": [
            {"integration-name": "Tencent BlueKing JOB", "python-modules": ["airflow_joblogs.sensors.blueking"]},
            {"integration-name": "QingCloud AppCenter", "python-modules": ["airflow_joblogs.sensors.qingcloud"]},
            {"integration-name": "Huawei Cloud CodeArts Build", "python-modules": ["airflow_joblogs.sensors.codearts"]},
            {
                "integration-name": "AWS Application Migration Service",
                "python-modules": ["airflow_joblogs.sensors.mgn"],
            },
        ],
        "operators": [
            {"integration-name": "Tencent BlueKing JOB", "python-modules": ["airflow_joblogs.operators.blueking"]},
            {"integration-name": "QingCloud AppCenter", "python-modules": ["airflow_joblogs.operators.qingcloud"]},
            {
                "integration-name": "Huawei Cloud CodeArts Build",
                "python-modules": ["airflow_joblogs.operators.codearts"],
            },
            {
                "integration-name": "AWS Application Migration Service",
                "python-modules": ["airflow_joblogs.operators.mgn"],
            },
        ],
        "triggers": [
            {"integration-name": "Tencent BlueKing JOB", "python-modules": ["airflow_joblogs.triggers.blueking"]},
            {"integration-name": "QingCloud AppCenter", "python-modules": ["airflow_joblogs.triggers.qingcloud"]},
            {
                "integration-name": "Huawei Cloud CodeArts Build",
                "python-modules": ["airflow_joblogs.triggers.codearts"],
            },
            {
                "integration-name": "AWS Application Migration Service",
                "python-modules": ["airflow_joblogs.triggers.mgn"],
            },
        ],
        "extra-links": ["airflow_joblogs.operators.run.JobConsoleLink"],
        "connection-types": CONNECTION_TYPES,
        "config": {
            "joblogs": {
                "description": "Settings of the airflow-joblogs provider.",
                "options": {
                    "gc_freeze": {
                        "description": (
                            "When the first of this provider's triggers starts in a process (the triggerer), "
                            "move the objects that exist then (Airflow's and every provider's imported modules) "
                            "out of the garbage collector's full passes with gc.freeze(), as Airflow's DAG "
                            "processor does after start-up. A full pass over them stops the event loop every "
                            "trigger shares for 100-300 ms. Frozen objects are still freed when nothing refers "
                            "to them; only reference cycles among them are never collected. Off by default: a "
                            "provider changes nothing global in its host process unless asked; recommended for "
                            "triggerers that run many deferred sensors."
                        ),
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "True",
                        "default": "False",
                    }
                },
            }
        },
    }
