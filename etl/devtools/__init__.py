"""For developers: sample exports, a synthetic Postfix log, benchmarks."""
