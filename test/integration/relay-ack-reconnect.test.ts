import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BenchDevice } from '../bench/relayLoad';
import { openDeviceSocket, relayForSuite, soon } from '../fixtures/deviceSockets';

/*
 * Acknowledgements ride with the next sends' commit (a few milliseconds later). A workstation that
 * acknowledges a message and reconnects at once (a network blip) must not have it pushed again: the relay
 * writes the device's pending acknowledgements before it reads the queue for the new socket.
 */

describe('an acknowledgement followed by an immediate reconnect', () => {
  const suite = relayForSuite(2);

  it('does not bring the acknowledged message again on the new socket', async () => {
    const [alice, bob] = suite.devices as [BenchDevice, BenchDevice];
    const sender = await openDeviceSocket(suite.relay.url, alice);
    try {
      for (let round = 0; round < 10; round++) {
        const id = randomUUID();
        const requestId = `r${round}`;
        sender.socket.send(JSON.stringify({ type: 'send', requestId, envelopes: [{ id, type: 'whisper', recipient: bob.address, content: randomBytes(300).toString('base64') }] }));
        await soon(() => sender.frames.some((f) => f.type === 'sent' && f.requestId === requestId), 'the relay to accept the message');
        const first = await openDeviceSocket(suite.relay.url, bob);
        await soon(() => first.ids.includes(id), 'the message');
        first.socket.send(JSON.stringify({ type: 'ack', ids: [id] }));
        first.socket.close();
        const second = await openDeviceSocket(suite.relay.url, bob);
        await soon(() => second.frames.some((f) => f.type === 'queueEmpty'), 'the queue to be pushed');
        expect(second.ids).toEqual([]);
        second.socket.close();
      }
    } finally {
      sender.socket.close();
    }
  });

  it('does not bring back what is acknowledged on the new socket for the socket before (as the app does after a blip)', async () => {
    const [alice, bob] = suite.devices as [BenchDevice, BenchDevice];
    const sender = await openDeviceSocket(suite.relay.url, alice);
    try {
      for (let round = 0; round < 10; round++) {
        const ids = [randomUUID(), randomUUID()];
        const requestId = `blip${round}`;
        sender.socket.send(JSON.stringify({ type: 'send', requestId, envelopes: ids.map((id) => ({ id, type: 'whisper', recipient: bob.address, content: randomBytes(300).toString('base64') })) }));
        await soon(() => sender.frames.some((f) => f.type === 'sent' && f.requestId === requestId), 'the relay to accept the messages');
        const first = await openDeviceSocket(suite.relay.url, bob);
        await soon(() => ids.every((id) => first.ids.includes(id)), 'the messages');
        // The first is acknowledged on the old socket; the second only decrypts once the new one is up.
        first.socket.send(JSON.stringify({ type: 'ack', ids: [ids[0]] }));
        first.socket.close();
        const second = await openDeviceSocket(suite.relay.url, bob);
        second.socket.send(JSON.stringify({ type: 'ack', ids: [ids[1]] }));
        await soon(() => second.frames.some((f) => f.type === 'queueEmpty'), 'the queue to be pushed');
        await new Promise((resolve) => setTimeout(resolve, 50));
        // The first never comes again; the second may (it was not acknowledged when the new socket first read
        // its queue), once at most, and not after its acknowledgement.
        expect(second.ids.filter((id) => id === ids[0])).toEqual([]);
        expect(second.ids.filter((id) => id === ids[1]).length).toBeLessThanOrEqual(1);
        const after = second.ids.length;
        second.socket.send(JSON.stringify({ type: 'ping', requestId: `p${round}` }));
        await soon(() => second.frames.some((f) => f.type === 'pong' && f.requestId === `p${round}`), 'a pong');
        expect(second.ids).toHaveLength(after);
        second.socket.close();
      }
    } finally {
      sender.socket.close();
    }
  });
});
