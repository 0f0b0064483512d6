"""The two pluggy markers. Plugins import ``paygate.hookimpl``; nothing else."""

import pluggy

PROJECT = "paygate"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
