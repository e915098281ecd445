"""Journey instances: one event-sourced stream per tenant, journey and profile.

`events` are what happens to a run, `instance` the aggregate that checks the rules
(re-entry, one run at a time) before recording them, `walk` the step engine that
moves a run through the journey version it entered with, `profiles` what the
engine knows of a person, `local_time` and `buckets` the time-zone wait and the
split's deterministic assignment. Pure: no I/O.
"""
