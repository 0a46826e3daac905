/**
 * The requests of issue 19 on a real relay process share the relay's rate limiter with sends (review item 3):
 * a workstation changing its status in a loop is refused with SEND_RATE_LIMITED and Retry-After, as one sending
 * too fast is, and its status stays the last one accepted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQUEST_LIMITS } from '../../server/MessageService';
import { Clinician, RelayProcess, addUser } from '../fixtures/relayProcess';
import { useTempDirs } from '../fixtures/tempDirs';

describe('rate limits of presence changes on the relay', () => {
  const dir = useTempDirs();
  let relay: RelayProcess;
  let bob: Clinician;

  beforeAll(async () => {
    const data = dir();
    const code = addUser(data, 'bob', 'Dr. Bob Lee');
    relay = await RelayProcess.start(data);
    bob = await Clinician.enroll(relay.url, 'bob', code, 'correct horse battery staple 7');
  }, 60_000);

  afterAll(async () => {
    await relay?.stop();
  });

  it('refuses a workstation that changes its status faster than the relay allows, with Retry-After', async () => {
    const statuses = ['busy', 'available'] as const;
    for (let i = 0; i < REQUEST_LIMITS.presence.perDevicePerMinute; i++) await bob.relay.setPresence({ update: { status: statuses[i % 2]! }, forwarding: null });
    await expect(bob.relay.setPresence({ update: { status: 'inProcedure' }, forwarding: null })).rejects.toMatchObject({ code: 'SEND_RATE_LIMITED', details: { retryAfterSeconds: expect.any(Number) } });
    const [mine] = await bob.relay.presence([bob.core.address.userId]);
    expect(mine?.status).toBe(statuses[(REQUEST_LIMITS.presence.perDevicePerMinute - 1) % 2]);
  });
});
