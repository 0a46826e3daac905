import { randomUUID } from 'node:crypto';
import { MessageIdSchema, type ConversationId, type DeviceAddress, type MessageId } from '../../../shared/ids';
import { MessageCoverageSchema, type MessageCoverage } from '../../../shared/wire/presence';
import type { z } from 'zod';
import { RoleDeliverySchema, type RoleDelivery } from '../../../shared/wire/roles';
import type { SqlRunner } from './ProfileDatabase';

/** A message as stored in the profile (text lives only inside the encrypted database). */
export interface StoredMessage {
  readonly id: MessageId;
  readonly conversationId: ConversationId;
  readonly sender: DeviceAddress;
  readonly sentAt: number;
  readonly receivedAt: number;
  readonly body: string;
  readonly replyTo: MessageId | null;
  readonly urgent: boolean;
  /** When this user read it (received messages; null while unread). Not set on insert. */
  readonly readAt?: number | null;
  /** Our own messages: the users it was sent to (for its delivered/read state). */
  readonly recipients?: readonly string[] | null;
  /** Our own messages: why it could never be sent (null: it was, or still may be). */
  readonly sendFailed?: string | null;
  /** How presence forwarding touched it (issue 19); null: not at all. Set with setCoverage, not on insert. */
  readonly coverage?: MessageCoverage | null;
  /** A message to or from an on-call role (issue 19): who held it then. Set with setRoleDelivery, not on insert. */
  readonly roleDelivery?: RoleDelivery | null;
  /**
   * The id its sender gave it, when another sender's message held that id here first and this one is kept under
   * an id of its own (`id`); absent: the same as `id`. Receipts and acknowledgements name it by this one.
   */
  readonly wireId?: MessageId;
}

interface MessageRow { id: string; conversation_id: string; sender_user: string; sender_device: number; sent_at: number; received_at: number; body: string; reply_to: string | null; urgent: number; read_at: number | null; recipients: string | null; send_failed: string | null; coverage?: string | null; role_delivery?: string | null; wire_id?: string | null }

/** Where a page ends; the next page starts strictly before it (timestamps tie, so the id breaks ties). */
export interface PageCursor {
  readonly sentAt: number;
  readonly id: string;
}

/** Messages of a local profile: store once, page newest-first, search, and expire by org policy. */
export class MessageStore {
  constructor(private readonly db: SqlRunner) {}

  /** Stores a message; a second copy of the same id (a redelivery) is ignored. Returns whether it was new. */
  insert(message: StoredMessage): boolean {
    return this.db.run(
      `INSERT OR IGNORE INTO messages (id, conversation_id, sender_user, sender_device, sent_at, received_at, body, reply_to, urgent, recipients, wire_id)
       VALUES ($id, $conversation, $user, $device, $sent, $received, $body, $reply, $urgent, $recipients, $wire)`,
      {
        id: message.id, conversation: message.conversationId, user: message.sender.userId, device: message.sender.deviceId, sent: message.sentAt, received: message.receivedAt,
        body: message.body, reply: message.replyTo, urgent: message.urgent ? 1 : 0, recipients: message.recipients ? JSON.stringify(message.recipients) : null, wire: message.wireId ?? null,
      },
    ) === 1;
  }

  /**
   * Stores a received message once per sender and id: a redelivery (or replay) of one of that sender's ids is
   * ignored (undefined). Ids are chosen by senders, so another sender's message may come under an id held here
   * already: it is no duplicate, and is kept under an id of its own (returned; its own id stays `wireId`).
   */
  receive(message: StoredMessage): MessageId | undefined {
    if (this.bySender(message.id, message.sender.userId)) return undefined;
    if (this.insert(message)) return message.id;
    const local = MessageIdSchema.parse(randomUUID());
    return this.insert({ ...message, id: local, wireId: message.id }) ? local : undefined;
  }

  /** The message `sender` sent under `id` (their id for it, whatever this profile keeps it under). */
  bySender(id: MessageId, sender: DeviceAddress['userId']): StoredMessage | undefined {
    const row = this.db.get<MessageRow>('SELECT * FROM messages WHERE sender_user = $s AND COALESCE(wire_id, id) = $id', { s: sender, id });
    return row ? toMessage(row) : undefined;
  }

  /** The id a message held here under `id` goes by on the wire: its sender's id for it (`id` itself when not held). */
  wireIdOf(id: MessageId): MessageId {
    return (this.db.get<{ wire: string }>('SELECT COALESCE(wire_id, id) AS wire FROM messages WHERE id = $id', { id })?.wire ?? id) as MessageId;
  }

  /**
   * The id this profile keeps a conversation's message under, named `wireId` by whoever refers to it (a reply's
   * replyTo): the first one held under that id there, whoever sent it; `wireId` itself when none is.
   */
  heldIdIn(conversationId: ConversationId, wireId: MessageId): MessageId {
    const row = this.db.get<{ id: string }>('SELECT id FROM messages WHERE conversation_id = $c AND COALESCE(wire_id, id) = $w ORDER BY received_at, rowid LIMIT 1', { c: conversationId, w: wireId });
    return (row?.id ?? wireId) as MessageId;
  }

  /** Records how presence forwarding touched a message (issue 19). */
  setCoverage(id: MessageId, coverage: MessageCoverage): void {
    this.db.run('UPDATE messages SET coverage = $coverage WHERE id = $id', { id, coverage: JSON.stringify(coverage) });
  }

  /** Records who held the on-call role a message went to (issue 19). */
  setRoleDelivery(id: MessageId, delivery: RoleDelivery): void {
    this.db.run('UPDATE messages SET role_delivery = $delivery WHERE id = $id', { id, delivery: JSON.stringify(delivery) });
  }

  /** Whom a message went to, once decided (a role's holders when a message with attachments goes). */
  setRecipients(id: MessageId, recipients: readonly string[]): void {
    this.db.run('UPDATE messages SET recipients = $recipients WHERE id = $id', { id, recipients: JSON.stringify(recipients) });
  }

  markSendFailed(id: MessageId, reason: string): void {
    this.db.run('UPDATE messages SET send_failed = $reason WHERE id = $id', { id, reason });
  }

  byId(id: MessageId): StoredMessage | undefined {
    const row = this.db.get<MessageRow>('SELECT * FROM messages WHERE id = $id', { id });
    return row ? toMessage(row) : undefined;
  }

  /**
   * The copy of `original` (a message from `sender`) that this user holds under an id of its own, if any: the one
   * presence forwarding brought them (covering for someone away), or the one an escalation's rung released to them.
   */
  copyOf(original: MessageId, sender: DeviceAddress['userId']): StoredMessage | undefined {
    const row = this.db.get<MessageRow>(
      `SELECT * FROM messages WHERE sender_user = $s AND (json_extract(coverage, '$.original') = $m OR json_extract(escalation, '$.released.original') = $m)
       ORDER BY received_at LIMIT 1`, { s: sender, m: original },
    );
    return row ? toMessage(row) : undefined;
  }

  /** The copies of `original` (a message from `sender`) that presence forwarding made for whoever covered, oldest first. */
  coveringCopies(original: MessageId, sender: DeviceAddress['userId']): StoredMessage[] {
    return this.db.all<MessageRow>(
      `SELECT * FROM messages WHERE sender_user = $s AND json_extract(coverage, '$.kind') = 'forwarded' AND json_extract(coverage, '$.original') = $m ORDER BY received_at, id`,
      { s: sender, m: original },
    ).map(toMessage);
  }

  /** Newest first; pass the last message's cursor to get the page before it. */
  page(conversationId: ConversationId, limit: number, before?: PageCursor): StoredMessage[] {
    const rows = before
      ? this.db.all<MessageRow>(
          // A row-value comparison: SQLite walks the (conversation_id, sent_at, id) index from the cursor.
          `SELECT * FROM messages WHERE conversation_id = $c AND (sent_at, id) < ($t, $id) ORDER BY sent_at DESC, id DESC LIMIT $limit`,
          { c: conversationId, t: before.sentAt, id: before.id, limit },
        )
      : this.db.all<MessageRow>('SELECT * FROM messages WHERE conversation_id = $c ORDER BY sent_at DESC, id DESC LIMIT $limit', { c: conversationId, limit });
    return rows.map(toMessage);
  }

  /** Oldest first: the messages just after `after` (a conversation opened away from its newest message pages down). */
  pageAfter(conversationId: ConversationId, limit: number, after: PageCursor): StoredMessage[] {
    return this.db.all<MessageRow>(
      `SELECT * FROM messages WHERE conversation_id = $c AND (sent_at, id) > ($t, $id) ORDER BY sent_at ASC, id ASC LIMIT $limit`,
      { c: conversationId, t: after.sentAt, id: after.id, limit },
    ).map(toMessage);
  }

  /** The oldest message from someone else that this user has not read yet (where "new messages" starts). */
  firstUnread(conversationId: ConversationId, self: DeviceAddress['userId']): StoredMessage | undefined {
    const row = this.db.get<MessageRow>(
      'SELECT * FROM messages WHERE conversation_id = $c AND read_at IS NULL AND sender_user != $self ORDER BY sent_at ASC, id ASC LIMIT 1',
      { c: conversationId, self },
    );
    return row ? toMessage(row) : undefined;
  }

  /** Full-text search over all conversations, newest first. Words are matched as prefixes. */
  search(query: string, limit = 50): StoredMessage[] {
    const match = ftsQuery(query);
    if (!match) return [];
    return this.db.all<MessageRow>(
      'SELECT m.* FROM messages_fts f JOIN messages m ON m.rowid = f.rowid WHERE messages_fts MATCH $q ORDER BY m.sent_at DESC LIMIT $limit',
      { q: match, limit },
    ).map(toMessage);
  }

  /** Deletes messages sent before `before` (org retention policy); returns how many. */
  deleteOlderThan(before: number): number {
    const count = this.db.run('DELETE FROM messages WHERE sent_at < $before', { before });
    // Issue 19's tables hold no foreign key to the message: what they kept of deleted ones goes with them (a
    // ladder keeps the whole payload, text included; an acknowledgement names the message).
    this.db.run('DELETE FROM escalation_ladders WHERE message_id NOT IN (SELECT id FROM messages)');
    // An acknowledgement made or received through a copy (covering, or a rung released) names the original, which
    // this profile holds only as the copy: it goes with the copy.
    // An acknowledgement names its message by its sender's id for it (wire_id, for one kept here under another).
    this.db.run(`DELETE FROM acknowledgements WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE COALESCE(m.wire_id, m.id) = acknowledgements.message_id AND m.sender_user = acknowledgements.sender_user)
      AND message_id NOT IN (SELECT json_extract(coverage, '$.original') FROM messages WHERE json_extract(coverage, '$.original') IS NOT NULL)
      AND message_id NOT IN (SELECT json_extract(escalation, '$.released.original') FROM messages WHERE json_extract(escalation, '$.released.original') IS NOT NULL)`);
    return count;
  }

  /** Marks the conversation's messages from others as read; returns the ids that were unread. */
  markRead(conversationId: ConversationId, self: DeviceAddress['userId'], at: number): MessageId[] {
    return this.db.transaction(() => {
      const ids = this.db.all<{ id: string }>('SELECT id FROM messages WHERE conversation_id = $c AND read_at IS NULL AND sender_user != $self', { c: conversationId, self }).map((r) => r.id as MessageId);
      this.db.run('UPDATE messages SET read_at = $at WHERE conversation_id = $c AND read_at IS NULL AND sender_user != $self', { c: conversationId, self, at });
      return ids;
    });
  }

  /** Records that `userId` has received or read these messages (repeats are ignored). */
  recordReceipt(messageIds: readonly MessageId[], userId: DeviceAddress['userId'], kind: 'delivered' | 'read', at: number): void {
    for (const id of messageIds) {
      this.db.run('INSERT OR IGNORE INTO receipts (message_id, user_id, kind, at) VALUES ($m, $u, $k, $at)', { m: id, u: userId, k: kind, at });
      // Read implies delivered.
      if (kind === 'read') this.db.run(`INSERT OR IGNORE INTO receipts (message_id, user_id, kind, at) VALUES ($m, $u, 'delivered', $at)`, { m: id, u: userId, at });
    }
  }

  /** Who has received and who has read one of our messages. */
  receipts(messageId: MessageId): { delivered: string[]; read: string[] } {
    const rows = this.db.all<{ user_id: string; kind: 'delivered' | 'read' }>('SELECT user_id, kind FROM receipts WHERE message_id = $m ORDER BY user_id', { m: messageId });
    return { delivered: rows.filter((r) => r.kind === 'delivered').map((r) => r.user_id), read: rows.filter((r) => r.kind === 'read').map((r) => r.user_id) };
  }

  /** The senders of these messages, for read receipts (each message named by the id its sender gave it). */
  senders(messageIds: readonly MessageId[]): Map<DeviceAddress['userId'], { conversationId: ConversationId; ids: MessageId[] }> {
    const out = new Map<DeviceAddress['userId'], { conversationId: ConversationId; ids: MessageId[] }>();
    for (const id of messageIds) {
      const row = this.db.get<{ sender_user: string; conversation_id: string; wire: string }>('SELECT sender_user, conversation_id, COALESCE(wire_id, id) AS wire FROM messages WHERE id = $id', { id });
      if (!row) continue;
      const sender = row.sender_user as DeviceAddress['userId'];
      const entry = out.get(sender) ?? { conversationId: row.conversation_id as ConversationId, ids: [] };
      // Named to its sender by the id they gave it.
      entry.ids.push(row.wire as MessageId);
      out.set(sender, entry);
    }
    return out;
  }

  /** Urgent messages from others that nobody has read yet, oldest first. */
  unreadUrgent(self: DeviceAddress['userId']): StoredMessage[] {
    return this.db.all<MessageRow>('SELECT * FROM messages WHERE urgent = 1 AND read_at IS NULL AND sender_user != $self ORDER BY received_at', { self }).map(toMessage);
  }
}

/** Turns what a clinician types into an FTS5 query: each word quoted (no operators) and prefix-matched. */
export function ftsQuery(input: string): string {
  const words = input.normalize('NFKC').match(/[\p{L}\p{N}]+/gu) ?? [];
  return words.slice(0, 16).map((w) => `"${w}"*`).join(' ');
}

/** A stored note (coverage, role delivery); anything unreadable (written by a later version) reads as none. */
function parseNote<T>(schema: z.ZodType<T>, json: string | null | undefined): T | null {
  if (!json) return null;
  try {
    const parsed = schema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function toMessage(r: MessageRow): StoredMessage {
  return {
    id: r.id as MessageId, conversationId: r.conversation_id as ConversationId,
    sender: { userId: r.sender_user as DeviceAddress['userId'], deviceId: r.sender_device as DeviceAddress['deviceId'] },
    sentAt: r.sent_at, receivedAt: r.received_at, body: r.body, replyTo: r.reply_to as MessageId | null, urgent: r.urgent === 1, readAt: r.read_at,
    recipients: r.recipients ? (JSON.parse(r.recipients) as string[]) : null, sendFailed: r.send_failed, coverage: parseNote(MessageCoverageSchema, r.coverage), roleDelivery: parseNote(RoleDeliverySchema, r.role_delivery),
    ...(r.wire_id ? { wireId: r.wire_id as MessageId } : {}),
  };
}
