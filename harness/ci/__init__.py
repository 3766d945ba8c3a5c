"""Pipelines: `ffi-harness ci`, JUnit and SARIF reports, the OSS-Fuzz / ClusterFuzzLite export."""
