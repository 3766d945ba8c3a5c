"""The crash store (one folder per distinct bug) and replay of stored or given inputs."""
