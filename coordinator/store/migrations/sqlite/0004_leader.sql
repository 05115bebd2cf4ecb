-- 0004: the leader's lease. Several coordinator replicas on one PostgreSQL
-- database elect one leader, which alone runs the engine and records
-- decisions; a SQLite coordinator is alone and never takes the lease (the
-- table is here so that a version means the same schema on both).
-- One row, id = 1. epoch grows by one at each takeover: it is the fencing
-- token every decision's transaction checks. Times are unix milliseconds
-- of the database's clock, so the replicas' clocks do not matter.
CREATE TABLE leader_lease (
	id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	holder      TEXT    NOT NULL,
	address     TEXT    NOT NULL,
	epoch       BIGINT  NOT NULL,
	acquired_at BIGINT  NOT NULL,
	expires_at  BIGINT  NOT NULL
);
INSERT INTO leader_lease (id, holder, address, epoch, acquired_at, expires_at) VALUES (1, '', '', 0, 0, 0);
