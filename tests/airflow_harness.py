"""Runs inside a child process with AIRFLOW_HOME and MAILFLOW_HOME set by the test.

usage: python tests/airflow_harness.py dagbag
       python tests/airflow_harness.py alerts
       python tests/airflow_harness.py test DAG_ID LOGICAL_DATE [RUN_CONF_JSON]
Prints one JSON line with what the test checks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DAGS = Path(__file__).resolve().parent.parent / "dags"


def main() -> None:
    from airflow.dag_processing.dagbag import BundleDagBag

    # as Airflow parses a bundle: its folder on the import path, for the DAGs' shared alerts module
    bag = BundleDagBag(dag_folder=str(DAGS), bundle_path=DAGS)
    if sys.argv[1] == "alerts":
        print(json.dumps({dag_id: {
            "deadlines": [[type(d.reference).__name__, d.interval.total_seconds(), d.callback.path,
                           d.callback.kwargs["to"]] for d in (dag.deadline or [])],
            "on_failure": [[type(n).__name__, n.to] for n in dag.default_args.get("on_failure_callback") or []],
        } for dag_id, dag in bag.dags.items()}))
        return
    if sys.argv[1] == "dagbag":
        print(json.dumps({"dag_ids": sorted(bag.dag_ids), "import_errors": {k: str(v) for k, v in
                                                                             bag.import_errors.items()}}))
        return
    import pendulum

    dag = bag.get_dag(sys.argv[2])
    conf = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
    run = dag.test(logical_date=pendulum.parse(sys.argv[3]), run_conf=conf)
    instances = run.get_task_instances()
    states = {ti.task_id: str(ti.state) for ti in instances}
    labels = {ti.task_id: sorted(t.rendered_map_index for t in instances if t.task_id == ti.task_id)
              for ti in instances if ti.map_index >= 0}
    print(json.dumps({"state": str(run.state), "tasks": states, "labels": labels}))


if __name__ == "__main__":
    main()
