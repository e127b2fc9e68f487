#!/usr/bin/env bash
# Airflow 3 on this machine for real: scheduler, dag-processor, triggerer and api-server
# (`airflow standalone`) with AIRFLOW_HOME under $MAILFLOW_HOME, the project's DAGs unpaused.
# The UI address and the admin password are printed once Airflow is up. Ctrl-C stops it all.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export MAILFLOW_HOME=${MAILFLOW_HOME:-$repo/data}
export AIRFLOW_HOME=${AIRFLOW_HOME:-$MAILFLOW_HOME/airflow}
export AIRFLOW__CORE__DAGS_FOLDER=$repo/dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
export AIRFLOW__API__PORT=${AIRFLOW_PORT:-8080}
# this machine only (Airflow's default is every interface); AIRFLOW_HOST=0.0.0.0 to serve others
export AIRFLOW__API__HOST=${AIRFLOW_HOST:-127.0.0.1}
# tasks report to the API server: it must be the address and port the API server listens on
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$AIRFLOW__API__PORT/execution/
export PYTHONPATH=$repo
export PATH=$repo/.venv/bin:$PATH   # standalone starts its components as `airflow ...`
mkdir -p "$AIRFLOW_HOME"
echo "AIRFLOW_HOME=$AIRFLOW_HOME  MAILFLOW_HOME=$MAILFLOW_HOME"
echo "UI: http://$AIRFLOW__API__HOST:$AIRFLOW__API__PORT  (user admin; password below, also in"
echo "    $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)"
exec airflow standalone
