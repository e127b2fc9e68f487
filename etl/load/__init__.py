"""One day into the lake (ingest), the warehouse (aggregates) and through the quality gate."""
