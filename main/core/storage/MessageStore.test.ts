import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConversationId, DeviceId, MessageId, UserId } from '../../../shared/ids';
import { MessageStore } from './MessageStore';
import { ProfileDatabase } from './ProfileDatabase';

const conversation = 'c0000000-0000-4000-8000-000000000001' as ConversationId;
const [me, them] = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'] as [UserId, UserId];
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}` as MessageId;

/** Where a conversation opens away from its newest message: a search result, or the first unread one. */
describe('MessageStore windows', () => {
  let dir: string;
  let db: ProfileDatabase;
  let store: MessageStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rounds-messages-'));
    db = new ProfileDatabase(join(dir, 'p.db'), Buffer.alloc(32, 7));
    store = new MessageStore(db);
    // Ten messages a minute apart, alternating senders; two share a timestamp (the id breaks the tie).
    for (let n = 0; n < 10; n++) {
      store.insert({ id: id(n), conversationId: conversation, sender: { userId: n % 2 ? them : me, deviceId: 1 as DeviceId }, sentAt: 1000 + Math.min(n, 8) * 60_000, receivedAt: 0, body: `m${n}`, replyTo: null, urgent: false });
    }
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pages forward from a message, oldest first, ties broken by id', () => {
    expect(store.pageAfter(conversation, 3, { sentAt: 1000 + 6 * 60_000, id: id(6) }).map((m) => m.body)).toEqual(['m7', 'm8', 'm9']);
    expect(store.pageAfter(conversation, 5, { sentAt: 1000 + 8 * 60_000, id: id(8) }).map((m) => m.body)).toEqual(['m9']);
  });

  it('finds the oldest message from someone else not read yet, and none once they are read', () => {
    expect(store.firstUnread(conversation, me)?.body).toBe('m1');
    store.markRead(conversation, me, 5);
    expect(store.firstUnread(conversation, me)).toBeUndefined();
  });
});
