"""`python -m emulator dead-letters list|replay`: inspect and replay events that ran out of attempts.

Talks to a running emulator's admin endpoints (`/.settings/deadLetters.json`), so replayed events
go straight back into delivery. The URL defaults to firebase.json's database host and port.
"""

import argparse
import json
import sys

import requests

from emulator.errors import ConfigError
from emulator.settings import load_settings

ADMIN = {"Authorization": "Bearer owner"}


def main(argv) -> int:
    p = argparse.ArgumentParser(prog="python -m emulator dead-letters",
                                description="List or replay dead-lettered events of a running emulator.")
    p.add_argument("action", choices=("list", "replay"))
    p.add_argument("--id", type=int, action="append", dest="ids", help="replay only this dead letter (repeatable)")
    p.add_argument("--url", help="emulator URL (default: from firebase.json, e.g. http://127.0.0.1:9000)")
    p.add_argument("--config", help="firebase.json to read the default URL from")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    try:
        url = args.url or _default_url(args.config)
        if args.action == "list":
            r = requests.get(f"{url}/.settings/deadLetters.json", headers=ADMIN, timeout=10)
        else:
            r = requests.post(f"{url}/.settings/deadLetters/replay.json", headers=ADMIN, timeout=10,
                              json={"ids": args.ids} if args.ids else {})
    except (requests.RequestException, ConfigError) as exc:
        print(f"dead-letters: cannot reach the emulator: {exc}", file=sys.stderr)
        return 2
    if r.status_code != 200:
        print(f"dead-letters: the emulator answered {r.status_code}: {r.text.strip()}", file=sys.stderr)
        return 1
    body = r.json()
    if args.json or args.action == "replay":
        print(json.dumps(body, indent=2))
    elif not body:
        print("No dead letters.")
    else:
        print(f"{'id':>6}  {'attempts':>8}  {'subject':<36} last error")
        for d in body:
            print(f"{d['id']:>6}  {d['attempts']:>8}  {d['subject']:<36} {d['last_error']}")
    return 0


def _default_url(config) -> str:
    s = load_settings(argparse.Namespace(config=config, host=None, port=None, data_dir=None, import_dir=None,
                                         export_on_exit=None, in_memory=True, hosting_port=None, project=None,
                                         keep_alive=None, triggers=None))
    return f"http://{s.host}:{s.port}"
