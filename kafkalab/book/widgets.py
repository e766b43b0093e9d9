"""Widget panels: change an experiment's settings and re-run it with a Run button."""
from __future__ import annotations

import functools
import inspect
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
    """An interact_manual panel (Run button) over fn, its settings listed, then fn run once.

    The static site shows no controls (no kernel runs there), so the settings are also printed
    with their ranges, and where the panel runs; the preview run with the defaults follows.
    Errors in fn are reported, not raised. Returns nothing, so no repr is left under the panel.
    """
    from ipywidgets import interact_manual
    shown = interact_manual.options(manual_name="Run")(guarded(fn), **controls)
    for control in shown.widget.children[:len(controls)]:
        control.style.description_width = "initial"  # JupyterLab shows each whole name, its unit too
    print(describe(fn, controls))
    if preview:
        print("\nWith the defaults:")
        guarded(fn)()


def describe(fn: Callable[..., Any], controls: dict[str, Any]) -> str:
    """The panel's settings, one line each: range or choices, and the value the control starts at."""
    from ipywidgets import interactive
    params = inspect.signature(fn).parameters
    lines = ["Try it in JupyterLab (`make lab`): change these settings, then press Run."]
    for name, spec in controls.items():
        default = params[name].default if name in params else inspect.Parameter.empty
        widget = interactive.widget_from_abbrev(spec, default)
        if isinstance(spec, tuple):
            what = f"{spec[0]:,} to {spec[1]:,}"
        elif isinstance(spec, (list, dict)):
            what = " | ".join(map(str, spec))
        else:
            what = {bool: "on or off", str: "text"}.get(type(spec), type(widget).__name__)
        lines.append(f"  {name:<24} {what} (starts at {widget.value})")
    return "\n".join(lines)


def check_range(name: str, value: float, low: float, high: float, unit: str = "") -> None:
    """Raise ValueError naming the setting when value lies outside [low, high]."""
    if not low <= value <= high:
        raise ValueError(f"{name} = {value}{unit} is out of range: use {low}..{high}{unit}")
