/**
 * How relay instances sharing one PostgreSQL database hear of each other's changes: LISTEN/NOTIFY, which
 * PostgreSQL delivers at commit to every listening connection (no broker of our own). A send's transaction
 * notifies the queues it grew (`rounds_queued`); a revocation or deactivation notifies `rounds_control`; a status
 * change `rounds_presence`.
 * Each instance listens on one connection of its own. Notifications sent while that connection is down
 * are lost, so after every reconnect the instance looks at everything again (`resync`), and until it is
 * back the relay is not ready (/readyz: the load balancer sends its clients elsewhere).
 */
import pg from 'pg';
import { DeviceIdSchema, UserIdSchema, type DeviceAddress, type UserId } from '../../../shared/ids';
import type { StoreEvents } from '../RelayStore';
import type { PostgresDatabase } from './PostgresDatabase';

export const QUEUED_CHANNEL = 'rounds_queued';
export const CONTROL_CHANNEL = 'rounds_control';
/** `<instance> <user>`: that user's status changed (issue 19); each instance tells its own connected devices. */
export const PRESENCE_CHANNEL = 'rounds_presence';
/** PostgreSQL refuses a payload of 8000 bytes or more; each notification stays well below. */
const PAYLOAD_BYTES = 7000;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;
/** Down this long, the instance says it is not ready. */
const DOWN_GRACE_MS = 2000;
/**
 * How often the listening connection is asked a question: a connection a firewall forgot (or a network that
 * dropped it silently) answers nothing, and would otherwise look alive for the kernel's two-hour keepalive.
 */
const HEARTBEAT_MS = 10_000;

/** The payloads announcing that these queues grew: `<instance> <user>.<device> ...`, each under PAYLOAD_BYTES. */
export function queuedPayloads(instance: string, recipients: readonly DeviceAddress[]): string[] {
  const payloads: string[] = [];
  let current = instance;
  for (const r of recipients) {
    const item = ` ${r.userId}.${r.deviceId}`;
    if (current.length + item.length > PAYLOAD_BYTES) {
      payloads.push(current);
      current = instance;
    }
    current += item;
  }
  if (current !== instance) payloads.push(current);
  return payloads;
}

/** The devices of a `rounds_queued` payload from another instance (none for our own, or for a malformed one). */
export function parseQueuedPayload(payload: string, ownInstance: string): DeviceAddress[] {
  const [instance, ...items] = payload.split(' ');
  if (instance === ownInstance) return [];
  const out: DeviceAddress[] = [];
  for (const item of items) {
    const dot = item.lastIndexOf('.');
    const userId = UserIdSchema.safeParse(item.slice(0, dot));
    const deviceId = DeviceIdSchema.safeParse(Number(item.slice(dot + 1)));
    if (userId.success && deviceId.success) out.push({ userId: userId.data, deviceId: deviceId.data });
  }
  return out;
}

/** Announces at commit that `userId`'s status changed: a NOTIFY only (a relay from before listens for nothing of it). */
export async function presenceNotify(client: pg.PoolClient, instance: string, userId: UserId): Promise<void> {
  await client.query('SELECT pg_notify($1, $2)', [PRESENCE_CHANNEL, `${instance} ${userId}`]);
}

/** The user of a `rounds_presence` payload from another instance (none for our own, or for a malformed one). */
export function parsePresencePayload(payload: string, ownInstance: string): UserId | undefined {
  const [instance, user, ...rest] = payload.split(' ');
  if (instance === ownInstance || rest.length > 0) return undefined;
  const userId = UserIdSchema.safeParse(user);
  return userId.success ? userId.data : undefined;
}

export class PostgresNotifications {
  readonly #db: PostgresDatabase;
  readonly #instance: string;
  readonly #events: StoreEvents;
  #client: pg.Client | undefined;
  #stopped = false;
  /** Since when the listening connection has been down (null: listening). */
  #downSince: number | null = null;
  #retryMs = RECONNECT_MIN_MS;
  #timer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(db: PostgresDatabase, instance: string, events: StoreEvents) {
    this.#db = db;
    this.#instance = instance;
    this.#events = events;
  }

  /** Listens (the first connection must succeed: a relay that cannot reach its database does not start). */
  async start(): Promise<void> {
    await this.#connect();
  }

  /** Why cross-instance delivery is not working now, or undefined. */
  notReady(): string | undefined {
    if (this.#downSince === null || Date.now() - this.#downSince < DOWN_GRACE_MS) return undefined;
    return 'the connection that carries the other relay instances\' news (LISTEN) is down';
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#heartbeat);
    await this.#client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    const client = new pg.Client(this.#db.clientConfig());
    client.on('notification', (message) => this.#onNotification(message));
    // A lost connection (PostgreSQL restarted, the network cut) is noticed here, and tried again.
    const lost = () => {
      if (this.#client !== client) return;
      this.#client = undefined;
      this.#downSince ??= Date.now();
      client.end().catch(() => undefined);
      this.#scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', lost);
    try {
      await client.connect();
      await client.query(`LISTEN ${QUEUED_CHANNEL}`);
      await client.query(`LISTEN ${CONTROL_CHANNEL}`);
      await client.query(`LISTEN ${PRESENCE_CHANNEL}`);
    } catch (error) {
      // Connected but not listening (a stall, a timeout): this connection is not kept, nor left open.
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.#stopped) {
      await client.end();
      return;
    }
    this.#client = client;
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => {
      if (this.#client !== client) return;
      // No answer within the client's query timeout: the connection is dead, however it looks.
      client.query('SELECT 1').catch(() => lost());
    }, HEARTBEAT_MS);
    this.#heartbeat.unref();
    const wasDown = this.#downSince !== null;
    this.#downSince = null;
    this.#retryMs = RECONNECT_MIN_MS;
    // Whatever was announced while nobody listened: every connected device reads its queue again.
    if (wasDown) this.#events.resync();
  }

  #scheduleReconnect(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#connect().catch(() => this.#scheduleReconnect());
    }, this.#retryMs);
    this.#timer.unref();
    this.#retryMs = Math.min(RECONNECT_MAX_MS, this.#retryMs * 2);
  }

  #onNotification(message: pg.Notification): void {
    if (message.channel === CONTROL_CHANNEL) {
      this.#events.controlChanged();
      return;
    }
    if (message.channel === PRESENCE_CHANNEL) {
      const userId = parsePresencePayload(message.payload ?? '', this.#instance);
      if (userId) this.#events.presenceChanged([userId]);
      return;
    }
    if (message.channel !== QUEUED_CHANNEL) return;
    const recipients = parseQueuedPayload(message.payload ?? '', this.#instance);
    if (recipients.length > 0) this.#events.envelopesQueued(recipients);
  }
}
