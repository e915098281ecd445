"""The Segment-compatible HTTP door: Segment's Tracking API on the gateway's ingest."""
