/**
 * Issue 18/19 leftovers. SCIM tokens expire: `expires_at` (ms); a token made before expiry existed gets
 * a year from its creation, but never less than 30 days from this upgrade, so no relay's provisioning stops
 * the moment it is upgraded and every token has an end the relay warns about (scimTokenExpiry.ts). Shifts
 * may come from the directory: a SCIM group or LDAP group mapped to a role makes its members the role's
 * standing holders (source 'scim' or 'ldap').
 */
export const name = 'directory-roles';

export const up = `
ALTER TABLE scim_tokens ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
UPDATE scim_tokens SET expires_at = GREATEST(created_at + 31536000000, (extract(epoch FROM now()) * 1000)::BIGINT + 2592000000);
ALTER TABLE oncall_shifts DROP CONSTRAINT oncall_shifts_source_check;
ALTER TABLE oncall_shifts ADD CONSTRAINT oncall_shifts_source_check CHECK (source IN ('app', 'csv', 'ics', 'cli', 'scim', 'ldap'));
CREATE INDEX oncall_shifts_by_source ON oncall_shifts (role_id, source);
`;
