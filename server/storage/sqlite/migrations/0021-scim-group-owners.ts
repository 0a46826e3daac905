/**
 * SCIM groups belong to the provider that made them: each token has a `source` (its own name, or when it
 * replaces a token, the source of the token it replaces: `scim token create --replaces`), and each group the
 * source of the token that created it (`owner`). A token sees and changes only its own source's groups.
 *
 * Groups made before this version go to the token that last wrote them (the `scim:NAME` of the group's latest
 * `group.provisioned` or `group.updated` audit record) when that token is still live (not revoked, not expired);
 * else to the oldest live token; else (no token is live) to the one that last wrote them. So a relay whose old token
 * expired unrevoked gives its groups to the token that pushes them now, not the dead one. A group that went to the
 * wrong token is taken back with `scim token create --replaces` (docs/deployment.md).
 */
export const name = 'scim-group-owners';

/** The statements, with each store's expression for the current time in ms (PostgreSQL's 0018 reads them too). */
export const groupOwners = (nowMs: string): string => `
ALTER TABLE scim_tokens ADD COLUMN source TEXT;
UPDATE scim_tokens SET source = name;
ALTER TABLE scim_groups ADD COLUMN owner TEXT;
CREATE TABLE scim_group_writers (subject TEXT PRIMARY KEY, actor TEXT NOT NULL);
INSERT INTO scim_group_writers (subject, actor) SELECT subject, actor FROM audit_log WHERE seq IN (
  SELECT max(seq) FROM audit_log WHERE type IN ('group.provisioned', 'group.updated') GROUP BY subject
);
UPDATE scim_groups SET owner = (
  SELECT t.source FROM scim_tokens t LEFT JOIN scim_group_writers w ON w.subject = scim_groups.id AND w.actor = 'scim:' || t.name
  WHERE (t.revoked_at IS NULL AND t.expires_at > ${nowMs}) OR w.subject IS NOT NULL
  ORDER BY (t.revoked_at IS NULL AND t.expires_at > ${nowMs}) DESC, w.subject IS NULL, t.created_at, t.name
  LIMIT 1
);
DROP TABLE scim_group_writers;
CREATE INDEX scim_groups_by_owner ON scim_groups (owner, created_at, id);
`;

export const up = groupOwners(`(CAST(unixepoch('now') AS INTEGER) * 1000)`);
