import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PayloadSchema } from '../payload';
import { PresenceUpdateSchema } from './presence';
import { RoleDetailSchema } from './roles';
import { LoginRequestSchema, SendRequestSchema, ServerFrameSchema, SessionResponseSchema } from './relay';
import { describeWireIssue, tolerant } from './tolerant';

const session = {
  userId: '3b0f6f1e-4a4c-4f55-9c39-0d7f0e3c1a10', deviceId: 1, credential: `rd1.3b0f6f1e-4a4c-4f55-9c39-0d7f0e3c1a10.1.${'A'.repeat(43)}`,
  role: 'clinician', displayName: 'Dr Ada Example', expiresAt: null, preKeys: { preKeys: 100, kyberPreKeys: 100 },
};

describe('reading what a newer party wrote', () => {
  it('drops unknown fields at every depth and keeps the known ones', () => {
    const newer = { ...session, username: 'ada@hospital.example', mfa: { method: 'fido2' }, preKeys: { ...session.preKeys, lastResort: 1 } };
    expect(SessionResponseSchema.safeParse(newer).success).toBe(false);
    expect(tolerant(SessionResponseSchema).parse(newer)).toEqual({ ...session, username: 'ada@hospital.example' });
  });

  it('makes a default afresh on each parse: two answers never share one array', () => {
    const unreachable = tolerant(RoleDetailSchema).shape.unreachable;
    const [first, second] = [unreachable.parse(undefined), unreachable.parse(undefined)];
    expect(first).toEqual([]);
    expect(first).not.toBe(second);
    const Answer = tolerant(z.strictObject({ items: z.array(z.string()).default([]) }));
    const a = Answer.parse({ extra: 1 });
    a.items.push('changed by the first reader');
    expect(Answer.parse({}).items).toEqual([]);
  });

  it('still refuses a known field of the wrong type, a missing one and an unknown kind, naming the field', () => {
    const wrong = tolerant(SessionResponseSchema).safeParse({ ...session, username: 42, extra: 1 });
    expect(wrong.success).toBe(false);
    expect(describeWireIssue(wrong.error!)).toBe('username: invalid_type (expected string)');
    expect(tolerant(SessionResponseSchema).safeParse({ ...session, credential: undefined }).success).toBe(false);
    const frame = tolerant(ServerFrameSchema).safeParse({ type: 'rewind', requestId: 'a' });
    expect(describeWireIssue(frame.error!)).toBe('type: invalid_union');
  });

  it('keeps the checks that span fields (a message with neither text nor attachment is still refused)', () => {
    const text = { v: 1, type: 'text', messageId: crypto.randomUUID(), conversationId: crypto.randomUUID(), sentAt: 1, text: '', video: { id: 'v1' } };
    expect(describeWireIssue(tolerant(PayloadSchema).safeParse(text).error!)).toBe('text: custom');
    const update = tolerant(PresenceUpdateSchema).safeParse({ status: 'available', until: Date.now() + 60_000, mood: 'ok' });
    expect(describeWireIssue(update.error!)).toBe('until: custom');
  });

  it('leaves the wire schemas themselves strict: the relay still refuses a request with a field it does not know', () => {
    const login = { username: 'ada@hospital.example', password: 'pw', totpCode: '123456', device: { kind: 'existing', deviceId: 1 } };
    expect(LoginRequestSchema.safeParse(login).success).toBe(true);
    expect(LoginRequestSchema.safeParse({ ...login, rememberMe: true }).success).toBe(false);
    expect(LoginRequestSchema.safeParse({ ...login, device: { ...login.device, name: 'x' } }).success).toBe(false);
    expect(SendRequestSchema.safeParse({ envelopes: [], allOwnDevices: true }).success).toBe(true);
    expect(SendRequestSchema.safeParse({ envelopes: [], allOwnDevices: true, priority: 1 }).success).toBe(false);
  });

  it('keeps an object that already passes unknown fields on as it is, and is the same schema each time', () => {
    const loose = z.looseObject({ v: z.number() });
    expect(tolerant(loose).parse({ v: 1, w: 2 })).toEqual({ v: 1, w: 2 });
    expect(tolerant(ServerFrameSchema)).toBe(tolerant(ServerFrameSchema));
  });
});
