/**
 * Issue 18: what the hospital's directory says of each account (department, job title, a contact line), which
 * kind of source provisions it and the source's id for the person (unique per kind), the source kind that
 * deactivated it, and the folded text the directory search looks in (filled by the store, which folds case
 * and accents the same way on every store; rows from before are filled when the store opens).
 */
export const name = 'directory-attributes';

export const up = `
ALTER TABLE users
  ADD COLUMN department TEXT,
  ADD COLUMN job_title TEXT,
  ADD COLUMN contact TEXT,
  ADD COLUMN source TEXT NOT NULL DEFAULT 'admin' CHECK (source IN ('admin', 'scim', 'ldap', 'oidc')),
  ADD COLUMN external_id TEXT,
  ADD COLUMN deactivated_by_source TEXT CHECK (deactivated_by_source IN ('admin', 'scim', 'ldap', 'oidc')),
  ADD COLUMN search_text TEXT;
CREATE UNIQUE INDEX users_source_external_id ON users (source, external_id);
`;
