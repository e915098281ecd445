"""Channel adapters: processes that deliver the orchestrator's send commands.

`python -m services.orchestrator.channels email|webhook` subscribes (a durable JetStream
consumer) to `layercake.*.channel.<channel>.send`, delivers each command (SMTP with
aiosmtplib, or an HMAC-signed HTTP POST with httpx), publishes feedback on
`layercake.<tenant>.channel.<channel>.feedback`, retries transient failures with
back-off, and delivers a repeated command once (its send id is claimed in a local inbox).
"""
