"""What leaves the pipeline: the tamper-evident archive and the compliance email."""
