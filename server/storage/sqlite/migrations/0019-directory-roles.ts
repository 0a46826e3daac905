/**
 * Issue 18/19 leftovers. SCIM tokens expire: `expires_at` (ms); a token made before expiry existed gets
 * a year from its creation, but never less than 30 days from this upgrade, so no relay's provisioning stops
 * the moment it is upgraded and every token has an end the relay warns about (scimTokenExpiry.ts). Shifts
 * may come from the directory: a SCIM group or LDAP group mapped to a role makes its members the role's
 * standing holders (source 'scim' or 'ldap'); SQLite cannot change a CHECK in place, so the table is rebuilt.
 */
export const name = 'directory-roles';

export const up = `
ALTER TABLE scim_tokens ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
UPDATE scim_tokens SET expires_at = max(created_at + 31536000000, CAST(unixepoch('now') AS INTEGER) * 1000 + 2592000000);
CREATE TABLE oncall_shifts_next (
  id TEXT PRIMARY KEY,
  role_id TEXT NOT NULL REFERENCES oncall_roles (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users (id),
  starts_at INTEGER NOT NULL,
  ends_at INTEGER NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('app', 'csv', 'ics', 'cli', 'scim', 'ldap')),
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  CHECK (ends_at > starts_at)
) STRICT;
INSERT INTO oncall_shifts_next SELECT id, role_id, user_id, starts_at, ends_at, source, created_at, created_by FROM oncall_shifts;
DROP TABLE oncall_shifts;
ALTER TABLE oncall_shifts_next RENAME TO oncall_shifts;
CREATE INDEX oncall_shifts_by_role_time ON oncall_shifts (role_id, starts_at, ends_at);
CREATE INDEX oncall_shifts_by_source ON oncall_shifts (role_id, source);
`;
