#!/usr/bin/env bash
# Run mailflow_daily through Airflow for N days from START, then mailflow_weekly_report for the
# last sample week, and say where the results are.
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

# the weekly report for the last complete sample week: the Monday after it, 06:00 UTC
last=$(date -u -d "$start + $((days - 1)) day" +%F)
monday=$(date -u -d "$last + $((8 - $(date -u -d "$last" +%u))) day" +%F)
log=$AIRFLOW_HOME/dags_test_weekly.log
if ! "$airflow" dags test mailflow_weekly_report "${monday}T06:00:00+00:00" >"$log" 2>&1 || ! grep -q "state=success" "$log"; then
    tail -40 "$log"
    echo "mailflow_weekly_report: FAILED (log above)" >&2
    exit 1
fi
report=$MAILFLOW_HOME/reports/$(date -u -d "$monday - 7 day" +%F)_$(date -u -d "$monday - 1 day" +%F)
echo "mailflow_weekly_report $(date -u -d "$monday - 7 day" +%F) to $(date -u -d "$monday - 1 day" +%F): success"
echo
echo "lake:      $MAILFLOW_HOME/lake  ($(ls -d "$MAILFLOW_HOME"/lake/trace/date=* | wc -l) day partitions)"
echo "warehouse: $MAILFLOW_HOME/warehouse.duckdb"
echo "report:    $report/report.html (and email.html, report.txt, report.json)"
echo "archive:   $MAILFLOW_HOME/archive ($("$repo/.venv/bin/python" -m etl archive list | tail -1))"
