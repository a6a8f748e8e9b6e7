"""Detection: per-camera workers decode the sub stream, find motion cheaply, run an object
detector only on motion regions, track objects and turn them into events (docs/detection.md)."""
