"""Widget panels: change an experiment's settings and re-run it with a Run button."""
from __future__ import annotations

import functools
import html
import inspect
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaException

from ..errors import LabError, NotAvailable

WIDGET = "application/vnd.jupyter.widget-view+json"
WHERE = "This panel runs in JupyterLab (<code>make lab</code>): change the settings, then press Run."


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


def panel(fn: Callable[..., Any], **controls: Any) -> None:
    """Show a Run-button panel over fn (live in JupyterLab, drawn on the site); fn runs when Run is pressed.

    One output carries both views: JupyterLab renders the live widget, and the site, whose
    executed copies keep no widget state (site.save_executed drops the view), shows the same
    controls as disabled HTML. Errors in fn are reported, not raised; returns nothing.
    """
    from IPython.display import display
    from ipywidgets import interactive
    shown = interactive(guarded(fn), {"manual": True, "manual_name": "Run"}, **controls)
    for control in shown.children[:len(controls)]:
        control.style.description_width = "initial"  # JupyterLab shows each whole name, its unit too
    display({WIDGET: shown._repr_mimebundle_()[WIDGET], "text/html": static(shown),
             "text/plain": describe(fn, controls)}, raw=True)


def _number(value: float) -> str:
    """A control's number as a reader writes it: 60,000 and 0.5."""
    return f"{value:,}" if isinstance(value, int) else f"{value:,g}"


def _control(w: Any) -> str:
    """One control as disabled HTML: its name, the control at its start value, its range."""
    name = html.escape(w.description)
    if hasattr(w, "options"):
        labels = [str(o[0] if isinstance(o, tuple) else o) for o in w.options]
        options = "".join(f"<option{' selected' if o == w.label else ''}>{html.escape(o)}</option>"
                          for o in labels)
        return (f"<label>{name} <select disabled>{options}</select></label> "
                f"<span class='kl-range'>one of {html.escape(', '.join(labels))}</span>")
    if isinstance(w.value, bool):
        return (f"<label>{name} <input type='checkbox' disabled{' checked' if w.value else ''}>"
                f"</label> <b>{'on' if w.value else 'off'}</b> <span class='kl-range'>on or off</span>")
    if hasattr(w, "min"):
        field = (f"<input type='range' disabled min='{w.min}' max='{w.max}' step='{w.step}' "
                 f"value='{w.value}'>")
        return (f"<label>{name} {field}</label> <b>{_number(w.value)}</b> "
                f"<span class='kl-range'>{_number(w.min)} to {_number(w.max)}</span>")
    return f"<label>{name} <input type='text' disabled value='{html.escape(str(w.value))}'></label>"


def static(shown: Any) -> str:
    """The panel's controls as the site shows them: disabled, with names, ranges, start values."""
    from ipywidgets import Button, Output
    rows = [f"<div class='kl-control'>{_control(w)}</div>" for w in shown.children
            if not isinstance(w, (Button, Output))]
    return (f"<div class='kl-panel'><p class='kl-where'>{WHERE}</p>{''.join(rows)}"
            "<button type='button' disabled>Run</button></div>")


def describe(fn: Callable[..., Any], controls: dict[str, Any]) -> str:
    """The panel's settings as text, one line each: range or choices, and the value the control starts at."""
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
