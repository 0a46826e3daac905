/**
 * Issue 18, SCIM provisioning: the bearer tokens identity providers use (SHA-256 only; names unique for
 * good, so the audit trail's `scim:<name>` names one token), the accounts SCIM deleted (deactivated and
 * hidden from SCIM, kept for the audit trail), and SCIM's groups (care teams, departments) with their
 * members. `name_key` is the display name without regard to case (unique, as SCIM's displayName is).
 */
export const name = 'scim';

export const up = `
CREATE TABLE scim_tokens (
  name TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE TABLE scim_deleted_users (
  user_id TEXT PRIMARY KEY REFERENCES users (id),
  deleted_at INTEGER NOT NULL
);
CREATE TABLE scim_groups (
  id TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  name_key TEXT NOT NULL UNIQUE,
  external_id TEXT,
  created_at INTEGER NOT NULL,
  last_modified_at INTEGER NOT NULL
);
CREATE INDEX scim_groups_external_id ON scim_groups (external_id);
CREATE INDEX scim_groups_order ON scim_groups (created_at, id);
CREATE TABLE scim_group_members (
  group_id TEXT NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users (id),
  seq INTEGER NOT NULL,
  PRIMARY KEY (group_id, user_id)
);
CREATE INDEX scim_group_members_user ON scim_group_members (user_id);
`;
