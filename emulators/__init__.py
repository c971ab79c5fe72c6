"""Local HTTP emulators of debrid providers (Real-Debrid API + CDN) for tests and demos."""

from .content import file_bytes
from .ratelimit import SlidingWindow, busiest_window
from .sample import sample_library
from .server import Emulator
from .world import EmuClock, World

__all__ = ["EmuClock", "Emulator", "SlidingWindow", "World", "busiest_window", "file_bytes",
           "sample_library"]
