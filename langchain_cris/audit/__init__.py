"""Audit trail: the JSONL audit sink, CloudTrail / invocation-log readers, the served-Region
reconciler and the compliance report. Import the submodules directly."""
