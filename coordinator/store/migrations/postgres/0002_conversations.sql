-- 0002 (PostgreSQL; as migrations/sqlite/0002): the built-in controller's conversations and each Agent Desk user's
-- capacity. Times are unix milliseconds (UTC); NULL means "not yet".

-- Conversations the built-in controller routes. seq is the arrival order
-- (the queue is served by it); user_name is the user it is assigned to, ''
-- while queued, and the last user once ended.
CREATE TABLE conversations (
	id              TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
	seq             BIGINT  NOT NULL UNIQUE,
	channel         TEXT    NOT NULL CHECK (channel IN ('chat', 'voice', 'video')),
	customer        TEXT    NOT NULL DEFAULT '',
	state           TEXT    NOT NULL CHECK (state IN ('queued', 'assigned', 'active', 'ended')),
	user_name       TEXT    NOT NULL DEFAULT '',
	created_at      BIGINT  NOT NULL,
	updated_at      BIGINT  NOT NULL,
	assigned_at     BIGINT,
	accepted_at     BIGINT,
	ended_at        BIGINT,
	rerouted_from   TEXT    NOT NULL DEFAULT '',
	logout_audit_id BIGINT,
	reroutes        INTEGER NOT NULL DEFAULT 0 CHECK (reroutes >= 0),
	CHECK ((state = 'queued') = (user_name = '') OR state = 'ended')
);
CREATE INDEX conversations_open ON conversations (seq) WHERE state <> 'ended';
CREATE INDEX conversations_user ON conversations (user_name, seq);
CREATE INDEX conversations_state ON conversations (state, seq);

-- How many open conversations the built-in controller gives a user at most.
-- No row means the coordinator's default.
CREATE TABLE desk_capacity (
	user_name  TEXT    NOT NULL PRIMARY KEY CHECK (user_name <> ''),
	capacity   INTEGER NOT NULL CHECK (capacity >= 0),
	updated_at BIGINT  NOT NULL
);
