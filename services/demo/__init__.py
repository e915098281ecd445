"""The seed's story, end to end, driven only through the gateway (`make demo`, and
`tests/e2e/test_seed_story.py`, which asserts what the demo prints)."""
