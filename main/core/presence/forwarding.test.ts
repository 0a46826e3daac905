import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MessageIdSchema, type DeviceId, type UserId } from '../../../shared/ids';
import { PAYLOAD_VERSION } from '../../../shared/payload';
import type { Presence } from '../../../shared/wire/presence';
import { directConversationId } from '../messaging/directConversation';
import { ConversationStore } from '../storage/ConversationStore';
import { MessageStore } from '../storage/MessageStore';
import { ProfileDatabase } from '../storage/ProfileDatabase';
import { notifiesWhile } from './notificationPolicy';
import { coverageFor, recordSyncedCoverage } from './forwarding';

const [alice, lee, patel] = ['0c1f0a5e-3a2b-4c1d-9e8f-000000000001', '0c1f0a5e-3a2b-4c1d-9e8f-000000000002', '0c1f0a5e-3a2b-4c1d-9e8f-000000000003'] as UserId[];
const NOW = Date.UTC(2026, 11, 3, 17);
const MINUTE = 60_000;
const status = (fields: Partial<Presence>): Presence => ({ userId: lee!, status: 'offShift', note: null, until: null, forwardTo: { kind: 'user', userId: patel! }, since: NOW - MINUTE, ...fields });

describe('whether a message to someone away also goes to whoever covers', () => {
  it('forwards for Off shift and Do not disturb with a named colleague, until the status ends', () => {
    expect(coverageFor(status({}), alice!, NOW)).toEqual({ absent: lee, status: 'offShift', target: { kind: 'user', userId: patel } });
    expect(coverageFor(status({ status: 'doNotDisturb', until: NOW + MINUTE }), alice!, NOW)).toEqual({ absent: lee, status: 'doNotDisturb', target: { kind: 'user', userId: patel } });
    // The status the sender read earlier ends on the sender's own clock too.
    expect(coverageFor(status({ until: NOW + MINUTE }), alice!, NOW + MINUTE)).toBeNull();
  });

  it('forwards nothing for other statuses, without anyone named, or back to the sender', () => {
    for (const s of ['available', 'busy', 'inProcedure'] as const) expect(coverageFor(status({ status: s }), alice!, NOW)).toBeNull();
    expect(coverageFor(status({ forwardTo: null }), alice!, NOW)).toBeNull();
    expect(coverageFor(status({}), patel!, NOW)).toBeNull();
  });
});

describe('notifications and Do not disturb', () => {
  it('keeps non-urgent messages quiet in Do not disturb, never urgent ones, and silences nothing otherwise', () => {
    expect(notifiesWhile('doNotDisturb', false)).toBe(false);
    expect(notifiesWhile('doNotDisturb', true)).toBe(true);
    for (const s of ['available', 'busy', 'inProcedure', 'offShift'] as const) expect(notifiesWhile(s, false)).toBe(true);
  });
});

describe("on the sender's other workstation", () => {
  it('marks her original as also sent to whoever covered, even when another sender used its id first', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rounds-forwarding-'));
    const db = new ProfileDatabase(join(dir, 'p.db'), Buffer.alloc(32, 7));
    try {
      const [messages, conversations] = [new MessageStore(db), new ConversationStore(db)];
      const self = { userId: alice!, deviceId: 2 as DeviceId };
      const mallory = '0c1f0a5e-3a2b-4c1d-9e8f-000000000004' as UserId;
      const ctx = { self, messages, conversations };
      const original = MessageIdSchema.parse(crypto.randomUUID());
      const text = { sentAt: NOW, receivedAt: NOW, body: 'bed 3 sats 84%', replyTo: null, urgent: true };
      // Mallory's message under the id of Alice's reaches this workstation first; Alice's own is kept apart.
      messages.receive({ id: original, conversationId: directConversationId(mallory, alice!), sender: { userId: mallory, deviceId: 1 as DeviceId }, ...text });
      const kept = messages.receive({ id: original, conversationId: directConversationId(alice!, lee!), sender: { userId: alice!, deviceId: 1 as DeviceId }, ...text })!;
      expect(kept).not.toBe(original);
      // Then the copy her first workstation sent Dr. Patel, covering for Dr. Lee.
      const copy = MessageIdSchema.parse(crypto.randomUUID());
      const toPatel = directConversationId(alice!, patel!);
      conversations.ensureDirect(toPatel, patel!, NOW);
      messages.receive({ id: copy, conversationId: toPatel, sender: { userId: alice!, deviceId: 1 as DeviceId }, ...text });
      messages.setCoverage(copy, { kind: 'forwarded', absent: lee!, status: 'offShift', original });
      recordSyncedCoverage(ctx, { v: PAYLOAD_VERSION, type: 'text', messageId: copy, conversationId: toPatel, sentAt: NOW, text: text.body, urgent: true, forwardedFor: { userId: lee!, status: 'offShift', original } });
      expect(messages.byId(kept)?.coverage).toEqual({ kind: 'alsoSent', absent: lee, status: 'offShift', to: [patel] });
      expect(messages.byId(original)?.coverage).toBeNull();
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
