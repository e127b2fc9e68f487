#!/usr/bin/env bash
# Run mailflow_daily through Airflow for N days from START, then say where the results are.
# Usage: scripts/demo_airflow.sh START N   (MAILFLOW_HOME must be set)
set -euo pipefail
start=$1 days=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
airflow=$repo/.venv/bin/airflow

export AIRFLOW_HOME
AIRFLOW_HOME=$(mktemp -d -t mailflow-airflow-XXXXXX)
trap 'rm -rf "$AIRFLOW_HOME"' EXIT
export AIRFLOW__CORE__DAGS_FOLDER=$repo/dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
export PYTHONPATH=$repo

"$airflow" db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/migrate.log"; exit 1; }
for i in $(seq 0 $((days - 1))); do
    day=$(date -u -d "$start + $i day" +%F)
    # the run whose data interval starts at $day 02:00 UTC loads the UTC day $day
    logical=$(date -u -d "$day + 1 day" +%F)T02:00:00+00:00
    log=$AIRFLOW_HOME/dags_test_$day.log
    if "$airflow" dags test mailflow_daily "$logical" >"$log" 2>&1 && grep -q "state=success" "$log"; then
        echo "mailflow_daily $day: success"
    else
        tail -40 "$log"
        echo "mailflow_daily $day: FAILED (log above)" >&2
        exit 1
    fi
done
"$repo/.venv/bin/python" -m etl status
echo "lake:      $MAILFLOW_HOME/lake  ($(ls -d "$MAILFLOW_HOME"/lake/trace/date=* | wc -l) day partitions)"
echo "warehouse: $MAILFLOW_HOME/warehouse.duckdb"
