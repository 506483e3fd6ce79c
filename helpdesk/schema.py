"""SQL schema of the stub's SQLite database, created (if missing) each time a Store opens it.

JSON-valued columns (tags, custom_fields, satisfaction_rating, history, audit_events.event) hold JSON text.
``MIGRATIONS`` adds columns that databases written by an older stub lack.
"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, email TEXT UNIQUE, created_at TEXT NOT NULL,
  role TEXT NOT NULL DEFAULT 'end-user');
CREATE TABLE IF NOT EXISTS tickets (
  id INTEGER PRIMARY KEY AUTOINCREMENT, external_id TEXT, subject TEXT NOT NULL, raw_subject TEXT NOT NULL,
  description TEXT NOT NULL, status TEXT NOT NULL, priority TEXT, type TEXT, tags TEXT NOT NULL,
  custom_fields TEXT NOT NULL, requester_id INTEGER, submitter_id INTEGER, satisfaction_rating TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, solved_at TEXT, closed_at TEXT);
CREATE INDEX IF NOT EXISTS tickets_by_external_id ON tickets (external_id);
CREATE TABLE IF NOT EXISTS comments (
  id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id INTEGER NOT NULL, author_id INTEGER, body TEXT NOT NULL,
  public INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS comments_by_ticket ON comments (ticket_id);
CREATE TABLE IF NOT EXISTS audits (
  id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id INTEGER NOT NULL, author_id INTEGER, channel TEXT NOT NULL,
  created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audits_by_ticket ON audits (ticket_id);
CREATE TABLE IF NOT EXISTS audit_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, audit_id INTEGER NOT NULL, event TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_events_by_audit ON audit_events (audit_id);
CREATE TABLE IF NOT EXISTS idempotency_keys (
  key TEXT PRIMARY KEY, request_hash TEXT NOT NULL, ticket_id INTEGER NOT NULL, status_code INTEGER NOT NULL,
  created_at REAL NOT NULL);
-- Every create drops the keys past their 24 hours: without this index, a scan of all the day's keys.
CREATE INDEX IF NOT EXISTS idempotency_keys_by_created_at ON idempotency_keys (created_at);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id INTEGER NOT NULL, event TEXT NOT NULL, url TEXT NOT NULL,
  payload TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
  last_status_code INTEGER, last_error TEXT, history TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, delivered_at TEXT);
"""

# (table, column, definition) added to a database created before the column existed.
MIGRATIONS = (
    ("users", "role", "TEXT NOT NULL DEFAULT 'end-user'"),
)
