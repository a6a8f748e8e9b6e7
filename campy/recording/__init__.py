"""Recording: ffmpeg copies go2rtc's restream into segments; SQLite indexes them;
retention decides what goes; playback and export read them back (docs/recording.md)."""
