import { appendLocalAudit } from '../audit/LocalAudit';
import type { MessageStore } from './MessageStore';
import type { SqlRunner } from './ProfileDatabase';

/**
 * Org retention policy: messages older than `days` are deleted from the profile, and the deletion is
 * recorded in the local audit log (how many, and the cut-off; never what they said).
 */
export function applyRetention(db: SqlRunner, messages: MessageStore, days: number, now: number): number {
  const before = now - days * 24 * 3600_000;
  return db.transaction(() => {
    const count = messages.deleteOlderThan(before);
    if (count > 0) appendLocalAudit(db, now, 'retention.deleted', { count, before, days });
    return count;
  });
}
