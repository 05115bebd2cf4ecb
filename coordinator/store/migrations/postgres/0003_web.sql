-- 0003 (PostgreSQL; as migrations/sqlite/0003): named accounts for the web pages (admin, supervisor) and the
-- reference Agent Desk (agent), and their browser sessions. Times are unix
-- milliseconds (UTC); NULL means "not yet".

-- People who sign in to the web pages. name is case-folded; password_hash
-- is bcrypt. An agent account's name is its Agent Desk user.
CREATE TABLE accounts (
	name          TEXT   NOT NULL PRIMARY KEY CHECK (name <> ''),
	role          TEXT   NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
	password_hash BYTEA   NOT NULL,
	created_at    BIGINT NOT NULL,
	disabled_at   BIGINT
);

-- Browser sessions. id_hash is SHA-256 of the cookie's random value (the
-- value itself is never stored); csrf is the token every form of the
-- session carries. A session is over at expires_at, or when deleted
-- (logout, account disabled).
CREATE TABLE web_sessions (
	id_hash    BYTEA   NOT NULL PRIMARY KEY,
	account    TEXT   NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	csrf       TEXT   NOT NULL CHECK (csrf <> ''),
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_account ON web_sessions (account);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
