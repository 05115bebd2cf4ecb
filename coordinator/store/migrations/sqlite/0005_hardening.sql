-- 0005: enrollment token scope, and the unmapped list bounded per device.

-- An enrollment token may be limited to host names matching a pattern (a
-- shell-style glob, case-insensitive; '' allows any), and says whether the
-- devices enrolled with it are approved at once (1) or wait pending (0).
ALTER TABLE enrollments ADD COLUMN host_pattern TEXT NOT NULL DEFAULT '';
ALTER TABLE enrollments ADD COLUMN auto_approve INTEGER NOT NULL DEFAULT 0 CHECK (auto_approve IN (0, 1));
-- Tokens made before this release approved their devices, unless the
-- coordinator required approval: admins' tokens keep doing so. The token
-- the first start made (created_by 'system') leaves devices pending from
-- now on, and lasts at most 24 hours from its creation.
UPDATE enrollments SET auto_approve = 1 WHERE created_by <> 'system';
UPDATE enrollments SET expires_at = MIN(expires_at, created_at + 86400000) WHERE created_by = 'system';

-- The device that last reported an unmapped OS user ('' before this
-- release): the list is bounded per device and in total, oldest dropped.
ALTER TABLE unmapped_os_users ADD COLUMN device_id TEXT NOT NULL DEFAULT '';
CREATE INDEX unmapped_os_users_device ON unmapped_os_users (device_id, last_seen_at);
CREATE INDEX unmapped_os_users_seen ON unmapped_os_users (last_seen_at);
