/** The embedded store's part of presence (issue 19): one row per user not Available, replaced in one IMMEDIATE transaction with its audit records. */
import type { UserId } from '../../../shared/ids';
import type { AuditEvent } from '../../audit/AuditRecord';
import { PRESENCE_COLUMNS, presenceValues, toStoredPresence, type PresenceRow, type PresenceStore, type StoredPresence } from '../PresenceStore';
import type { SqliteDatabase } from './SqliteDatabase';

const INSERT = `INSERT INTO presence (${PRESENCE_COLUMNS.join(', ')}) VALUES (${PRESENCE_COLUMNS.map((c) => `$${c}`).join(', ')})`;

export class SqlitePresence implements PresenceStore {
  readonly #sql: SqliteDatabase;
  readonly #appendAudit: (events: readonly AuditEvent[]) => void;

  constructor(sql: SqliteDatabase, appendAudit: (events: readonly AuditEvent[]) => void) {
    this.#sql = sql;
    this.#appendAudit = appendAudit;
  }

  async setPresence(userId: UserId, presence: StoredPresence | null, audit: readonly AuditEvent[]): Promise<void> {
    this.#sql.immediate(() => {
      this.#sql.run('DELETE FROM presence WHERE user_id = $u', { u: userId });
      if (presence) {
        const values = presenceValues(presence);
        this.#sql.run(INSERT, Object.fromEntries(PRESENCE_COLUMNS.map((c, i) => [c, values[i] ?? null])));
      }
      this.#appendAudit(audit);
    });
  }

  async presenceOf(userIds: readonly UserId[]): Promise<StoredPresence[]> {
    if (userIds.length === 0) return [];
    return this.#sql.all<PresenceRow>('SELECT * FROM presence WHERE user_id IN (SELECT value FROM json_each($ids))', { ids: JSON.stringify(userIds) }).map(toStoredPresence);
  }
}
