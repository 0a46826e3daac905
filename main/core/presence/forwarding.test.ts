import { describe, expect, it } from 'vitest';
import type { UserId } from '../../../shared/ids';
import type { Presence } from '../../../shared/wire/presence';
import { notifiesWhile } from './notificationPolicy';
import { coverageFor } from './forwarding';

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
