"""survey_lib: the library behind the Inpainting Survey Companion course.

Conventions everywhere: images are float32 (B, C, H, W) in [0, 1]; masks are float32
(B, 1, H, W) with **1 = hole**. See ``docs/ARCHITECTURE.md`` for the module map.
"""

__version__ = "0.1.0"
