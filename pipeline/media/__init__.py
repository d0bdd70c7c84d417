"""Media I/O: the ffmpeg wrapper (the only subprocess caller), probing with PyAV, moviepy compositing."""
