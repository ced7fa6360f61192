//! Event transport between ingest and the detection pipeline.
