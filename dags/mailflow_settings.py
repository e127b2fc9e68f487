"""The pipeline's settings inside an Airflow task: the environment, as everywhere, plus the object
store's credentials from an Airflow connection when MAILFLOW_AWS_CONN_ID names one, and the
archive's signing key from one when MAILFLOW_SIGNING_KEY_CONN_ID names one (its password holds the
private key's PEM; it stays in the task's memory, never in a file, a log or XCom).

The connection (type `aws`): login = access key id, password = secret access key; extra may hold
`endpoint_url` (a store other than AWS), `region_name` and `aws_session_token`. They become the
standard AWS variables of the task's own process, where pyarrow's S3 client reads them; they are
never logged, and never reach XCom.
"""

from __future__ import annotations

import os


def settings():
    conn_id = os.environ.get("MAILFLOW_AWS_CONN_ID")
    if conn_id:
        from airflow.sdk import Connection

        connection = Connection.get(conn_id)
        extra = connection.extra_dejson
        values = {"AWS_ACCESS_KEY_ID": connection.login, "AWS_SECRET_ACCESS_KEY": connection.password,
                  "AWS_SESSION_TOKEN": extra.get("aws_session_token"), "AWS_ENDPOINT_URL": extra.get("endpoint_url"),
                  "AWS_REGION": extra.get("region_name")}
        os.environ.update({name: value for name, value in values.items() if value})
    from etl.config import settings as from_environment

    found = from_environment()
    key_conn_id = os.environ.get("MAILFLOW_SIGNING_KEY_CONN_ID")
    if key_conn_id:
        import dataclasses

        from airflow.sdk import Connection

        found = dataclasses.replace(found, signing_key=Connection.get(key_conn_id).password)
    return found
