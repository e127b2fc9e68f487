"""Export files of every kind -> batches of contract records with their line numbers."""
