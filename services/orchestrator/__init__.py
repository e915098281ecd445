"""The orchestrator: when, where and how a person is reached (journeys, timers, sends)."""
