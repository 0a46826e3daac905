/**
 * SCIM groups belong to the provider that made them: each token has a `source` (its own name, or when it
 * replaces a token, the source of the token it replaces: `scim token create --replaces`), and each group the
 * source of the token that created it (`owner`). A token sees and changes only its own source's groups.
 * Groups made before this version go to the oldest unrevoked token (the only one, on most relays).
 */
export const name = 'scim-group-owners';

export const up = `
ALTER TABLE scim_tokens ADD COLUMN source TEXT;
UPDATE scim_tokens SET source = name;
ALTER TABLE scim_groups ADD COLUMN owner TEXT;
UPDATE scim_groups SET owner = (SELECT source FROM scim_tokens ORDER BY revoked_at IS NOT NULL, created_at, name LIMIT 1);
CREATE INDEX scim_groups_by_owner ON scim_groups (owner, created_at, id);
`;
