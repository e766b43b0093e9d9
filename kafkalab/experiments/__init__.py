"""The chapters' experiments, one module per chapter (two where a chapter needs them); none
imports another: what two chapters share lives in `workloads`, `oracles`, `logfile` or `probes`."""
