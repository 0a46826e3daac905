/**
 * A key of `scim.roleGroups` belongs to one token source, and a SCIM deactivation records its source: the embedded
 * store's migration 0023 (see there for what and why), with PostgreSQL's types; its backfill reads the same here.
 */
import { apply, collect } from '../../sqlite/migrations/0023-scim-role-keys';

export const name = 'scim-role-keys';

export const up = `
CREATE TABLE scim_role_keys (
  key TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  bound_at BIGINT NOT NULL
);
${collect}${apply}`;
