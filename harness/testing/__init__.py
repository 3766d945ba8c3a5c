"""hypothesis and pytest integration: forked examples, isolated state machines, strategies for
data at a C boundary, isolated child processes, the pytest plugin."""
