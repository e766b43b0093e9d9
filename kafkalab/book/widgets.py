"""Widget panels: change an experiment's settings and re-run it with a Run button."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaException

from ..errors import LabError, NotAvailable


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a panel's run function so bad settings print a message instead of a traceback."""
    @functools.wraps(fn)
    def run(**kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except NotAvailable as e:
            print(f"Skipped: {e}")
        except (ValueError, LabError, KafkaException) as e:
            print(f"Not run: {e}")
        except KeyboardInterrupt:
            print("Interrupted; every broker the run touched has been restored.")
        return None
    return run


def panel(fn: Callable[..., Any], preview: bool = True, **controls: Any) -> None:
    """An interact_manual panel (Run button) over fn, then fn run once with its default settings.

    The preview is what the static site shows where no kernel runs the panel; errors in fn are
    reported, not raised. Returns nothing, so no function repr is left under the panel.
    """
    from ipywidgets import interact_manual
    interact_manual.options(manual_name="Run")(guarded(fn), **controls)
    if preview:
        print("With the default settings (change them above and press Run):")
        guarded(fn)()


def check_range(name: str, value: float, low: float, high: float, unit: str = "") -> None:
    """Raise ValueError naming the setting when value lies outside [low, high]."""
    if not low <= value <= high:
        raise ValueError(f"{name} = {value}{unit} is out of range: use {low}..{high}{unit}")
