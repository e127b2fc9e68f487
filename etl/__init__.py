"""Mail-flow TLS compliance pipeline: message-trace exports -> lake -> warehouse -> weekly report.

Layers, lowest first; a module imports only from its own layer or those below (tests/test_layers.py):
    errors, config, contract, shares,      settings, vocabularies, the rounding rule, DuckDB and
    duck, sql, version                     SQL-file helpers, the code version
    storage                                every location, and how things are written there
    sources                                export files -> batches of contract records
    load                                   ingest into the lake, warehouse aggregates, quality gate
    report                                 views -> typed report model -> rendered outputs
    delivery                               archive, mail
    pipeline                               the steps chained: load_day, issue_report
    ops                                    backfill, status
    devtools, cli                          sample data, benchmarks, the command line
"""
