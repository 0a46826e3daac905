import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BenchDevice } from '../bench/relayLoad';
import { openDeviceSocket, relayForSuite, soon, type DeviceSocket } from '../fixtures/deviceSockets';
import { sample, scrape } from '../fixtures/prometheus';

/*
 * A connected device whose delivery is caught up is pushed what a send just committed straight from the
 * relay's memory, without reading its queue back (DeliveryHub #pushCommitted). Whatever the timing, a device
 * must still get its queue in order, each envelope once per socket, and everything it has not acknowledged
 * again on a new socket: with several senders racing, with older envelopes held back by a full window, across
 * a reconnect in the middle of a stream, and to a socket that stops reading.
 */

/** The relay's window: pushed and not acknowledged, per connection (DeliveryHub MAX_IN_FLIGHT). */
const WINDOW = 500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends `count` envelopes from `sender` to `to`, `perRequest` to a request, every request written at once
 * (not waiting for the answers); resolves with their ids in the order sent, once every request is accepted.
 */
async function sendMany(sender: DeviceSocket, to: BenchDevice, count: number, perRequest = 1, bytes = 300): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  const requestIds: string[] = [];
  for (let i = 0; i < count; i += perRequest) {
    const requestId = randomUUID();
    requestIds.push(requestId);
    const envelopes = ids.slice(i, i + perRequest).map((id) => ({ id, type: 'whisper', recipient: to.address, content: randomBytes(bytes).toString('base64') }));
    sender.socket.send(JSON.stringify({ type: 'send', requestId, envelopes }));
  }
  await soon(() => requestIds.every((r) => sender.frames.some((f) => f.type === 'sent' && f.requestId === r)), 'the relay to accept every request');
  return ids;
}

/** Whether `ids` holds `sent`'s ids in `sent`'s order (others may come in between). */
function inOrder(ids: readonly string[], sent: readonly string[]): boolean {
  const wanted = new Set(sent);
  const got = ids.filter((id) => wanted.has(id));
  return got.length === sent.length && got.every((id, i) => id === sent[i]);
}

describe('envelopes pushed as they are committed keep each queue in order', () => {
  // Every test sends to a recipient of its own (what one test leaves queued must not reach the next).
  const suite = relayForSuite(10, { metrics: true });
  let used = 4;
  /** A sender (the first device) and a recipient no test has used. */
  const pair = (): [BenchDevice, BenchDevice] => [suite.devices[0]!, suite.devices[used++]!];
  /** How many times delivery has read a queue (the store's `queued` calls, as the metrics time them). */
  const queueReads = async () => sample(await scrape(suite.metricsUrl), 'rounds_relay_store_seconds_count', 'method="queued"');

  it('pushes what each send commits to a caught-up device from memory, in order, without reading its queue', async () => {
    const [alice, bob] = pair();
    const receiver = await openDeviceSocket(suite.relay.url, bob, true);
    const sender = await openDeviceSocket(suite.relay.url, alice);
    try {
      // Both sockets' connect-time reads are done: from here on the receiver is caught up.
      await soon(() => [receiver, sender].every((s) => s.frames.some((f) => f.type === 'queueEmpty')), 'both queues to be pushed');
      const before = await queueReads();
      expect(before).toBeGreaterThanOrEqual(2);
      const sent: string[] = [];
      // One send after another (each pushed and acknowledged before the next), of one envelope or of several.
      for (const perRequest of [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3]) {
        sent.push(...await sendMany(sender, bob, perRequest, perRequest));
        await soon(() => receiver.ids.length >= sent.length, 'the envelopes just sent');
      }
      await sleep(100);
      expect(receiver.ids).toEqual(sent);
      expect(await queueReads()).toBe(before);
    } finally {
      receiver.socket.close();
      sender.socket.close();
    }
  });

  it('brings several racing senders\' envelopes to a connected device once each, each sender\'s in its order', async () => {
    const [alice, carol, dave, bob] = suite.devices as [BenchDevice, BenchDevice, BenchDevice, BenchDevice];
    const receiver = await openDeviceSocket(suite.relay.url, bob, true);
    const senders = await Promise.all([alice, carol, dave].map((device) => openDeviceSocket(suite.relay.url, device)));
    try {
      await soon(() => receiver.frames.some((f) => f.type === 'queueEmpty'), 'the queue to be pushed');
      const sent = await Promise.all(senders.map((sender, i) => sendMany(sender, bob, 150, i + 1)));
      await soon(() => receiver.ids.length >= 450, 'every envelope');
      await sleep(100);
      expect(new Set(receiver.ids).size).toBe(receiver.ids.length);
      expect(receiver.ids).toHaveLength(450);
      for (const ids of sent) expect(inOrder(receiver.ids, ids)).toBe(true);
    } finally {
      for (const socket of [receiver, ...senders]) socket.socket.close();
    }
  });

  // The window by count (WINDOW envelopes), and by bytes (8 MiB of base64: 30 of 200 KiB, the count far from full).
  it.each([
    { window: 'count', older: WINDOW + 20, perRequest: 52, bytes: 300, pushed: WINDOW },
    { window: 'bytes', older: 40, perRequest: 1, bytes: 200 * 1024, pushed: 30 },
  ])('holds a new envelope back behind older ones that a full window ($window) has not let out yet', async ({ older: count, perRequest, bytes, pushed }) => {
    const [alice, bob] = pair();
    const receiver = await openDeviceSocket(suite.relay.url, bob);
    const sender = await openDeviceSocket(suite.relay.url, alice);
    try {
      await soon(() => receiver.frames.some((f) => f.type === 'queueEmpty'), 'the queue to be pushed');
      const older = await sendMany(sender, bob, count, perRequest, bytes);
      await soon(() => receiver.ids.length >= pushed, 'a full window');
      const [newest] = await sendMany(sender, bob, 1);
      await sleep(200);
      // Nothing past the window, and the newest not before the older ones still queued.
      expect(receiver.ids).toEqual(older.slice(0, pushed));
      receiver.socket.send(JSON.stringify({ type: 'ack', ids: receiver.ids.slice() }));
      await soon(() => receiver.ids.length >= count + 1, 'the rest');
      await sleep(100);
      expect(receiver.ids).toEqual([...older, newest]);
    } finally {
      receiver.socket.close();
      sender.socket.close();
    }
  });

  it('brings everything not acknowledged, in order, to a socket that replaces another in the middle of a stream', async () => {
    const [alice, bob] = pair();
    const sender = await openDeviceSocket(suite.relay.url, alice);
    const first = await openDeviceSocket(suite.relay.url, bob, true);
    try {
      await soon(() => first.frames.some((f) => f.type === 'queueEmpty'), 'the queue to be pushed');
      const sending = sendMany(sender, bob, 300);
      await soon(() => first.ids.length >= 40, 'the stream to begin');
      // The relay cuts the first socket off when the second one comes.
      const second = await openDeviceSocket(suite.relay.url, bob, true);
      try {
        const sent = await sending;
        await soon(() => sent.every((id) => first.ids.includes(id) || second.ids.includes(id)), 'every envelope on one socket or the other');
        await sleep(100);
        // Each socket gets its part in order, once; the new one all that the old one did not get.
        for (const socket of [first, second]) {
          expect(new Set(socket.ids).size).toBe(socket.ids.length);
          expect(inOrder(socket.ids, sent.filter((id) => socket.ids.includes(id)))).toBe(true);
        }
        // (The first socket may have been handed all of them before the second came: then the second's ids are only
        // the ones the first did not acknowledge in time, and nothing is owed at the end.)
        const firstGot = new Set(first.ids);
        const owed = sent.filter((id) => !firstGot.has(id));
        expect(second.ids.slice(second.ids.length - owed.length)).toEqual(owed);
      } finally {
        second.socket.close();
      }
    } finally {
      sender.socket.close();
      first.socket.close();
    }
  });

  it('keeps a socket that stops reading in order: what its full buffer holds back comes later, once', async () => {
    const [alice, bob] = pair();
    const receiver = await openDeviceSocket(suite.relay.url, bob, true);
    const sender = await openDeviceSocket(suite.relay.url, alice);
    try {
      await soon(() => receiver.frames.some((f) => f.type === 'queueEmpty'), 'the queue to be pushed');
      // The receiver stops reading: the relay's send buffer fills past its limit (1 MiB) with 96 KB envelopes.
      receiver.socket.pause();
      const large = await sendMany(sender, bob, 40, 1, 96 * 1024);
      const small = await sendMany(sender, bob, 20);
      await sleep(300);
      receiver.socket.resume();
      await soon(() => receiver.ids.length >= 60, 'every envelope');
      await sleep(100);
      expect(receiver.ids).toEqual([...large, ...small]);
    } finally {
      receiver.socket.close();
      sender.socket.close();
    }
  });
});
