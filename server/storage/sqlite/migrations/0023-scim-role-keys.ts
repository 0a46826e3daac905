/**
 * Issue 18, review of the SCIM sources. A key of `scim.roleGroups` belongs to one token source (`scim_role_keys`):
 * the source of the oldest group it matched when the relay first looked (scimRoleGroupWrites.ts), so a group of
 * another source that takes the key's name or externalId neither grants the role nor makes the key ambiguous.
 * A leaver SCIM deactivated records which source did (`deactivated_by_scim`), and only that source reactivates
 * them. Those deactivated before this version: the source of the token named by their latest deactivation's audit
 * record (`scim:NAME`), none when the log names no token still known (then any SCIM source may reactivate them).
 */
export const name = 'scim-role-keys';

/**
 * The same statements read the same in PostgreSQL (its 0019 adds the table with its own types). The audit log is
 * read (`collect`) before `users` is altered: on PostgreSQL the ALTER locks the table until the commit, and relays
 * still serving during an upgrade must not wait on a scan of the whole log.
 */
export const collect = `
CREATE TABLE scim_deactivations (subject TEXT PRIMARY KEY, actor TEXT NOT NULL);
INSERT INTO scim_deactivations (subject, actor) SELECT subject, actor FROM audit_log WHERE seq IN (
  SELECT max(seq) FROM audit_log WHERE type = 'account.deactivated' GROUP BY subject
) AND actor LIKE 'scim:%';
`;

export const apply = `
ALTER TABLE users ADD COLUMN deactivated_by_scim TEXT;
UPDATE users SET deactivated_by_scim = (
  SELECT t.source FROM scim_deactivations d JOIN scim_tokens t ON d.actor = 'scim:' || t.name WHERE d.subject = users.id
) WHERE deactivated_by_source = 'scim';
DROP TABLE scim_deactivations;
`;

export const up = `
CREATE TABLE scim_role_keys (
  key TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  bound_at INTEGER NOT NULL
) STRICT;
${collect}${apply}`;
