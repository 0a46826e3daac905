import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DeviceAddress, DeviceId, UserId } from '../../../shared/ids';
import { parseQueuedPayload, queuedPayloads } from './PostgresNotifications';

/* What one relay instance tells the others of the queues it grew: PostgreSQL refuses a NOTIFY payload of 8000 bytes or more. */
describe('queue announcements between relay instances', () => {
  const device = (deviceId = 1): DeviceAddress => ({ userId: randomUUID() as UserId, deviceId: deviceId as DeviceId });

  it('splits a large batch into payloads PostgreSQL takes, losing no device', () => {
    const recipients = Array.from({ length: 500 }, (_, i) => device((i % 127) + 1));
    const payloads = queuedPayloads('instance-a', recipients);
    expect(payloads.length).toBeGreaterThan(1);
    for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThan(8000);
    expect(payloads.flatMap((p) => parseQueuedPayload(p, 'instance-b'))).toEqual(recipients);
  });

  it("an instance ignores its own announcements, and anything malformed in another's", () => {
    const one = device(3);
    const [payload] = queuedPayloads('instance-a', [one]);
    expect(parseQueuedPayload(payload!, 'instance-a')).toEqual([]);
    expect(parseQueuedPayload(`instance-b ${one.userId}.3 not-a-device ${one.userId}.999 .1`, 'instance-a')).toEqual([one]);
    expect(queuedPayloads('instance-a', [])).toEqual([]);
  });
});
