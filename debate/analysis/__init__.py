"""Generic measures over run records: estimates with n and bootstrap CIs, ratings, answer
grading, the run summary and report, plots. Knows no feature; features register their
own measures (`debate.core.registry.Measure`)."""
