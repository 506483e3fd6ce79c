"""Fixtures: a real emulator process on a free port, and firebase-admin pointed at it."""

import os
import uuid

import firebase_admin
import pytest
import requests
from firebase_admin import db

from tests.support.procs import start_emulator

NS = "demo-tickets-default-rtdb"
ADMIN = {"Authorization": "Bearer owner"}


@pytest.fixture(scope="session")
def emulator():
    """One in-memory emulator shared by the session (tests write under unique paths)."""
    proc = start_emulator("--keep-alive", "1")
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def sdk_app(emulator):
    """A firebase-admin app that reaches the emulator exactly as Firebase documents it."""
    previous = os.environ.get("FIREBASE_DATABASE_EMULATOR_HOST")
    os.environ["FIREBASE_DATABASE_EMULATOR_HOST"] = f"127.0.0.1:{emulator.port}"
    app = firebase_admin.initialize_app(
        options={"databaseURL": f"https://{NS}.firebaseio.com", "projectId": "demo-tickets"},
        name=f"test-{uuid.uuid4().hex[:8]}",
    )
    yield app
    firebase_admin.delete_app(app)
    if previous is None:
        os.environ.pop("FIREBASE_DATABASE_EMULATOR_HOST", None)
    else:
        os.environ["FIREBASE_DATABASE_EMULATOR_HOST"] = previous


@pytest.fixture
def ref(sdk_app):
    """A firebase-admin reference to a fresh, unique location."""
    return db.reference(f"/t/{uuid.uuid4().hex[:12]}", app=sdk_app)


@pytest.fixture
def base(emulator):
    """REST URL prefix of a fresh, unique location (append `.json`)."""
    return f"{emulator.url}/t/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def http():
    """A requests session that cleans up after itself."""
    with requests.Session() as session:
        yield session
