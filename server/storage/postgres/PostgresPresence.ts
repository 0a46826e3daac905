/** The PostgreSQL store's part of presence (issue 19): one row per user not Available, shared by every relay instance. */
import type pg from 'pg';
import type { UserId } from '../../../shared/ids';
import type { AuditEvent } from '../../audit/AuditRecord';
import { PRESENCE_COLUMNS, presenceValues, toStoredPresence, type PresenceRow, type PresenceStore, type StoredPresence } from '../PresenceStore';
import type { PostgresDatabase } from './PostgresDatabase';

/** Every column but the key, from the row that was to be inserted. */
const REPLACED = PRESENCE_COLUMNS.filter((c) => c !== 'user_id').map((c) => `${c} = excluded.${c}`).join(', ');
const INSERT = `INSERT INTO presence (${PRESENCE_COLUMNS.join(', ')}) VALUES (${PRESENCE_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`;

export class PostgresPresence implements PresenceStore {
  readonly #db: PostgresDatabase;
  readonly #appendAudit: (client: pg.PoolClient, events: readonly AuditEvent[]) => Promise<void>;
  readonly #changed: (client: pg.PoolClient, userId: UserId) => Promise<void>;

  /** `changed` tells the other relay instances at commit (a NOTIFY: no lock, nothing kept), so they tell their devices. */
  constructor(db: PostgresDatabase, appendAudit: (client: pg.PoolClient, events: readonly AuditEvent[]) => Promise<void>, changed: (client: pg.PoolClient, userId: UserId) => Promise<void>) {
    this.#db = db;
    this.#appendAudit = appendAudit;
    this.#changed = changed;
  }

  async setPresence(userId: UserId, presence: StoredPresence | null, audit: readonly AuditEvent[]): Promise<void> {
    await this.#db.transaction(async (client) => {
      if (presence) {
        // One statement that inserts or replaces: two instances setting one user's status at once cannot collide.
        await client.query(`${INSERT} ON CONFLICT (user_id) DO UPDATE SET ${REPLACED}`, presenceValues(presence));
      } else {
        await client.query('DELETE FROM presence WHERE user_id = $1', [userId]);
      }
      await this.#changed(client, userId);
      await this.#appendAudit(client, audit);
    });
  }

  async presenceOf(userIds: readonly UserId[]): Promise<StoredPresence[]> {
    if (userIds.length === 0) return [];
    return (await this.#db.query<PresenceRow>('SELECT * FROM presence WHERE user_id = ANY($1::text[])', [[...userIds]])).rows.map(toStoredPresence);
  }
}
