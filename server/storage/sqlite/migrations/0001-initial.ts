/** The first schema of the relay. Times are milliseconds since the epoch. */
export const name = 'initial';

export const up = `
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('clinician', 'admin', 'compliance')),
  status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'deactivated')),
  password_hash TEXT,
  totp_secret TEXT,
  created_at INTEGER NOT NULL,
  last_active_at INTEGER NOT NULL,
  locked_until INTEGER,
  deactivated_at INTEGER
) STRICT;

CREATE TABLE enrollment_codes (
  code_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  expires_at INTEGER NOT NULL,
  used_at INTEGER
) STRICT;

CREATE TABLE pending_enrollments (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  code_hash TEXT NOT NULL,
  totp_secret TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;

CREATE TABLE devices (
  user_id TEXT NOT NULL REFERENCES users(id),
  device_id INTEGER NOT NULL CHECK (device_id BETWEEN 1 AND 127),
  name TEXT NOT NULL,
  credential_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER,
  registration_id INTEGER NOT NULL,
  identity_key TEXT NOT NULL,
  signed_prekey TEXT NOT NULL,
  last_resort_kyber TEXT NOT NULL,
  PRIMARY KEY (user_id, device_id)
) STRICT;

CREATE TABLE one_time_prekeys (
  user_id TEXT NOT NULL,
  device_id INTEGER NOT NULL,
  key_id INTEGER NOT NULL,
  public_key TEXT NOT NULL,
  PRIMARY KEY (user_id, device_id, key_id)
) STRICT;

CREATE TABLE one_time_kyber_prekeys (
  user_id TEXT NOT NULL,
  device_id INTEGER NOT NULL,
  key_id INTEGER NOT NULL,
  public_key TEXT NOT NULL,
  signature TEXT NOT NULL,
  PRIMARY KEY (user_id, device_id, key_id)
) STRICT;

CREATE TABLE envelopes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  recipient_user TEXT NOT NULL,
  recipient_device INTEGER NOT NULL,
  sender_user TEXT NOT NULL,
  sender_device INTEGER NOT NULL,
  type TEXT NOT NULL,
  content TEXT NOT NULL,
  accepted_at INTEGER NOT NULL
) STRICT;
CREATE INDEX envelopes_by_recipient ON envelopes (recipient_user, recipient_device, seq);
CREATE INDEX envelopes_by_age ON envelopes (accepted_at);

CREATE TABLE login_failures (
  scope TEXT NOT NULL,
  at INTEGER NOT NULL
) STRICT;
CREATE INDEX login_failures_by_scope ON login_failures (scope, at);

CREATE TABLE emergency_grants (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  code_hash TEXT NOT NULL,
  reason TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER
) STRICT;

CREATE TABLE audit_log (
  seq INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  type TEXT NOT NULL,
  actor TEXT NOT NULL,
  subject TEXT NOT NULL,
  details TEXT NOT NULL,
  flagged INTEGER NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_by_time ON audit_log (at);

-- The audit log is append-only: the database itself refuses changes and deletions.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;

-- Changes made by admin commands that a running relay must act on (revocations, deactivations).
CREATE TABLE control_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  user_id TEXT NOT NULL,
  device_id INTEGER,
  at INTEGER NOT NULL
) STRICT;
`;
