"""`python -m stack`: run the whole local stack until Ctrl-C (what `make up` runs)."""

import argparse
import signal
import sys
import threading

from stack import Ports, Stack, wait_until_stopped
from stack.procs import ROOT

CURL_TICKET = (
    '{"subject": "Cannot log in since this morning", '
    '"description": "Every login attempt fails with an error. Production is down for our whole team!", '
    '"contact": {"name": "Ada Lovelace", "email": "ada@example.com"}, "category": "authentication", '
    '"type": "issue", "impact": 4, "experience": "experienced", "seniority": 3, '
    '"created_at": {".sv": "timestamp"}, "status": "new"}'
)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    p.add_argument("--data-dir", default=str(ROOT / ".data"), help="where the database and helpdesk keep data")
    p.add_argument("--quiet", action="store_true", help="do not echo each process's output")
    args = p.parse_args(argv)
    stack = Stack(ports=Ports.from_config(ROOT / "firebase.json"), data_dir=__import__("pathlib").Path(args.data_dir),
                  echo=not args.quiet)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stack.start()
    except RuntimeError as exc:
        print(f"stack: could not start: {exc}", file=sys.stderr)
        return 1
    db = stack.urls["database"]
    print(f"""
Ticket enrichment stack is up.
  Web form           {stack.urls['hosting']}
  Agent queue        {stack.urls['hosting']}queue.html   (sign in: agent@example.com / agent-password)
  Realtime Database  {db}/.json?ns={stack.namespace}
  Auth emulator      {stack.urls['auth']}   (connectAuthEmulator; firebase-admin: FIREBASE_AUTH_EMULATOR_HOST)
  Helpdesk (stub)    {stack.urls['helpdesk']}
  enrich_ticket      {stack.urls['enrich']}
  helpdesk_webhook   {stack.urls['webhook']}

Submit a ticket and watch it get enriched (as the admin: the rules let customers in only when signed in):
  curl -s -X POST '{db}/tickets.json?access_token=owner' -d '{CURL_TICKET}'
  curl -s '{db}/tickets.json?print=pretty&access_token=owner'

Ctrl-C stops everything.
""", flush=True)
    wait_until_stopped(stack, stop)
    print("stack: stopping...", flush=True)
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
