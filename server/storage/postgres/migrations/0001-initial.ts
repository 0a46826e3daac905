/**
 * The relay's schema on PostgreSQL: what the SQLite store holds at its version 10, for a store that several
 * relay instances share. Times are milliseconds since the epoch (BIGINT). Envelope and control-event
 * numbers come from sequences, never given twice (a delivery cursor is one). The audit log is append-only
 * in the database itself; each queue's total is a row of queue_shares (sender ''), one row to lock per
 * queue when senders on several instances race for its last places.
 */
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
  created_at BIGINT NOT NULL,
  last_active_at BIGINT NOT NULL,
  locked_until BIGINT,
  deactivated_at BIGINT,
  totp_last_step BIGINT NOT NULL DEFAULT -1
);

CREATE TABLE enrollment_codes (
  code_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  expires_at BIGINT NOT NULL,
  used_at BIGINT
);

CREATE TABLE pending_enrollments (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  code_hash TEXT NOT NULL,
  totp_secret TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);

CREATE TABLE devices (
  user_id TEXT NOT NULL REFERENCES users(id),
  device_id INTEGER NOT NULL CHECK (device_id BETWEEN 1 AND 127),
  name TEXT NOT NULL,
  credential_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  last_seen_at BIGINT NOT NULL,
  expires_at BIGINT,
  revoked_at BIGINT,
  registration_id INTEGER NOT NULL,
  identity_key TEXT NOT NULL,
  signed_prekey TEXT NOT NULL,
  last_resort_kyber TEXT NOT NULL,
  PRIMARY KEY (user_id, device_id)
);

CREATE TABLE one_time_prekeys (
  user_id TEXT NOT NULL,
  device_id INTEGER NOT NULL,
  key_id INTEGER NOT NULL,
  public_key TEXT NOT NULL,
  PRIMARY KEY (user_id, device_id, key_id)
);

CREATE TABLE one_time_kyber_prekeys (
  user_id TEXT NOT NULL,
  device_id INTEGER NOT NULL,
  key_id INTEGER NOT NULL,
  public_key TEXT NOT NULL,
  signature TEXT NOT NULL,
  PRIMARY KEY (user_id, device_id, key_id)
);

CREATE TABLE envelopes (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  recipient_user TEXT NOT NULL,
  recipient_device INTEGER NOT NULL,
  -- '' is the sender of each queue's total in queue_shares: no envelope may claim it.
  sender_user TEXT NOT NULL CHECK (sender_user <> ''),
  sender_device INTEGER NOT NULL,
  type TEXT NOT NULL,
  content TEXT NOT NULL,
  accepted_at BIGINT NOT NULL
);
CREATE INDEX envelopes_by_recipient ON envelopes (recipient_user, recipient_device, seq);
CREATE INDEX envelopes_by_age ON envelopes (accepted_at);

-- Each queue's total (sender_user '') and each sending account's share of it, kept by the triggers below.
CREATE TABLE queue_shares (
  user_id TEXT NOT NULL,
  device_id INTEGER NOT NULL,
  sender_user TEXT NOT NULL,
  envelopes BIGINT NOT NULL,
  bytes BIGINT NOT NULL,
  PRIMARY KEY (user_id, device_id, sender_user)
);

CREATE FUNCTION queue_shares_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO queue_shares (user_id, device_id, sender_user, envelopes, bytes)
  VALUES (NEW.recipient_user, NEW.recipient_device, '', 1, length(NEW.content) * 3 / 4),
         (NEW.recipient_user, NEW.recipient_device, NEW.sender_user, 1, length(NEW.content) * 3 / 4)
  ON CONFLICT (user_id, device_id, sender_user)
  DO UPDATE SET envelopes = queue_shares.envelopes + 1, bytes = queue_shares.bytes + excluded.bytes;
  RETURN NULL;
END $$;
CREATE TRIGGER queue_shares_on_insert AFTER INSERT ON envelopes FOR EACH ROW EXECUTE FUNCTION queue_shares_on_insert();

CREATE FUNCTION queue_shares_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE queue_shares SET envelopes = envelopes - 1, bytes = bytes - length(OLD.content) * 3 / 4
  WHERE user_id = OLD.recipient_user AND device_id = OLD.recipient_device AND sender_user IN ('', OLD.sender_user);
  DELETE FROM queue_shares
  WHERE user_id = OLD.recipient_user AND device_id = OLD.recipient_device AND sender_user IN ('', OLD.sender_user) AND envelopes = 0;
  RETURN NULL;
END $$;
CREATE TRIGGER queue_shares_on_delete AFTER DELETE ON envelopes FOR EACH ROW EXECUTE FUNCTION queue_shares_on_delete();

CREATE TABLE login_failures (
  scope TEXT NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX login_failures_by_scope ON login_failures (scope, at);
CREATE INDEX login_failures_by_time ON login_failures (at);

CREATE TABLE login_streaks (
  scope TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  first_at BIGINT NOT NULL,
  last_at BIGINT NOT NULL
);

CREATE TABLE emergency_grants (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  code_hash TEXT NOT NULL,
  reason TEXT NOT NULL,
  issued_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT
);

CREATE TABLE audit_log (
  seq BIGINT PRIMARY KEY,
  at BIGINT NOT NULL,
  type TEXT NOT NULL,
  actor TEXT NOT NULL,
  subject TEXT NOT NULL,
  details TEXT NOT NULL,
  flagged BOOLEAN NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  details_line BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX audit_log_by_time ON audit_log (at);

-- One row per log begun after the first (the first log, from seq 1, takes its origin from the relay's keys).
CREATE TABLE audit_logs (
  first_seq BIGINT PRIMARY KEY,
  origin TEXT NOT NULL,
  at BIGINT NOT NULL
);

-- The audit log and its list of logs are append-only: the database itself refuses changes and deletions.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- The current log's tree: its tiles (the last of each level partial, rewritten as it fills) and how far it reaches.
CREATE TABLE audit_tiles (
  level INTEGER NOT NULL,
  idx BIGINT NOT NULL,
  hashes BYTEA NOT NULL,
  PRIMARY KEY (level, idx)
);
CREATE TABLE audit_tree (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  first_seq BIGINT NOT NULL,
  size BIGINT NOT NULL,
  head TEXT NOT NULL,
  broken_at BIGINT,
  broken_reason TEXT
);

-- Changes made by admin commands that every running relay must act on (revocations, deactivations).
CREATE TABLE control_events (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind TEXT NOT NULL,
  user_id TEXT NOT NULL,
  device_id INTEGER,
  at BIGINT NOT NULL
);
`;
