"""A CloudEvent function that does nothing: what functions-framework alone costs per event (`bench/framework.py`).

Served by `python -m bench.framework` only; never deployed.
"""

import functions_framework


@functions_framework.cloud_event
def empty(cloud_event):
    """Accept the event and do nothing with it."""
    return None
