/**
 * An export looks through the audit log for its few landmarks (the key rotations it must ship, the earlier
 * exports whose trees it proves it extends, the restores a log began with). Without an index that was a
 * read of the whole log before every export (about a second for a million records); this partial index
 * holds only those records, so appending the rest costs nothing more. The list is SqliteAuditLog's
 * LANDMARK_TYPES, which its queries repeat word for word (SQLite uses a partial index only then).
 */
export const name = 'audit-landmarks';

export const up = `
CREATE INDEX audit_log_landmarks ON audit_log (seq) WHERE type IN ('audit.key_rotated', 'audit.exported', 'audit.log_restored');
`;
