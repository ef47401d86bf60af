"""Evaluation of qa-service against gold answers: metrics, runner, reports, benchmarks."""
