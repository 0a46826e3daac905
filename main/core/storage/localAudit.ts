import type { SqlRunner } from './ProfileDatabase';

/**
 * Appends a record to the profile's local audit log (inside the encrypted database). Details hold ids,
 * counts and codes only, never message text or names.
 */
export function appendLocalAudit(db: SqlRunner, at: number, type: string, details: Record<string, string | number | null>): void {
  db.run('INSERT INTO local_audit (at, type, details) VALUES ($at, $type, $details)', { at, type, details: JSON.stringify(details) });
}
