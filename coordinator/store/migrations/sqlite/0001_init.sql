-- 0001: the coordinator's first schema. Never edit a released migration; add
-- 0002_….sql instead. Times are unix milliseconds (UTC) in BIGINT columns;
-- booleans are 0/1 integers; NULL means "not yet" (revoked_at, delivered_at).

-- The admin's settings: one row, id = 1. No row means the defaults.
CREATE TABLE settings (
	id              INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	enabled         INTEGER NOT NULL CHECK (enabled IN (0, 1)),
	timeout_seconds INTEGER NOT NULL CHECK (timeout_seconds > 0),
	title_pattern   TEXT    NOT NULL,
	updated_at      BIGINT  NOT NULL
);

-- Bearer tokens for the HTTP API, stored hashed.
CREATE TABLE api_tokens (
	id         TEXT   NOT NULL PRIMARY KEY,
	name       TEXT   NOT NULL CHECK (name <> ''),
	role       TEXT   NOT NULL CHECK (role IN ('admin', 'supervisor', 'integration')),
	hash       BLOB   NOT NULL UNIQUE,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT
);
-- A name means one live token, so "admin:<name>" in the audit is unambiguous.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- Tokens a device enrolls with, stored hashed.
CREATE TABLE enrollments (
	id         TEXT    NOT NULL PRIMARY KEY,
	hash       BLOB    NOT NULL UNIQUE,
	note       TEXT    NOT NULL DEFAULT '',
	created_by TEXT    NOT NULL DEFAULT '',
	created_at BIGINT  NOT NULL,
	expires_at BIGINT  NOT NULL,
	max_uses   INTEGER NOT NULL CHECK (max_uses > 0),
	uses       INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
	revoked_at BIGINT
);

-- Enrolled workstations; token_hash is the hash of the device's own token.
CREATE TABLE devices (
	id            TEXT   NOT NULL PRIMARY KEY,
	host          TEXT   NOT NULL,
	os            TEXT   NOT NULL,
	token_hash    BLOB   NOT NULL UNIQUE,
	status        TEXT   NOT NULL CHECK (status IN ('pending', 'approved', 'revoked')),
	enrollment_id TEXT   REFERENCES enrollments (id),
	created_at    BIGINT NOT NULL,
	last_seen_at  BIGINT NOT NULL
);
CREATE INDEX devices_enrollment ON devices (enrollment_id);

-- Agent Desk users the coordinator knows.
CREATE TABLE desk_users (
	name       TEXT   NOT NULL PRIMARY KEY CHECK (name <> ''),
	created_at BIGINT NOT NULL
);

-- Explicit OS user → Agent Desk user mappings; os_user is case-folded.
CREATE TABLE identity_mappings (
	os_user    TEXT   NOT NULL PRIMARY KEY CHECK (os_user <> ''),
	desk_user  TEXT   NOT NULL CHECK (desk_user <> ''),
	created_at BIGINT NOT NULL
);

-- OS users sensors reported that map to no Agent Desk user; os_user is
-- case-folded.
CREATE TABLE unmapped_os_users (
	os_user       TEXT   NOT NULL PRIMARY KEY CHECK (os_user <> ''),
	host          TEXT   NOT NULL,
	first_seen_at BIGINT NOT NULL,
	last_seen_at  BIGINT NOT NULL
);

-- The engine's per-user state (engine.Snapshot as JSON), for restarts.
CREATE TABLE engine_snapshots (
	user_name TEXT   NOT NULL PRIMARY KEY,
	taken_at  BIGINT NOT NULL,
	data      TEXT   NOT NULL
);

-- The instant the coordinator last recorded it was running, so a restart
-- after a crash knows how long it was down. One row, id = 1.
CREATE TABLE coordinator_state (
	id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	alive_until BIGINT  NOT NULL
);

-- The audit log: append-only. detail is JSON or NULL.
CREATE TABLE audit (
	id        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	at        BIGINT  NOT NULL,
	actor     TEXT    NOT NULL CHECK (actor <> ''),
	kind      TEXT    NOT NULL CHECK (kind <> ''),
	user_name TEXT    NOT NULL DEFAULT '',
	detail    TEXT
);
CREATE INDEX audit_user ON audit (user_name, id);
CREATE INDEX audit_kind ON audit (kind, id);
CREATE INDEX audit_at ON audit (at, id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit is append-only');
END;

-- Events for webhooks, written in the transaction that decided them and
-- delivered afterwards. idem_key is the receiver's idempotency key.
CREATE TABLE outbox (
	id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	idem_key        TEXT    NOT NULL UNIQUE CHECK (idem_key <> ''),
	kind            TEXT    NOT NULL CHECK (kind <> ''),
	payload         TEXT    NOT NULL,
	created_at      BIGINT  NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at BIGINT  NOT NULL,
	delivered_at    BIGINT,
	last_error      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL;
