import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { provision, type BenchDevice } from '../bench/relayLoad';
import { RelayProcess, removeDir, tempDataDir } from '../fixtures/relayProcess';

/*
 * Acknowledgements ride with the next sends' commit (a few milliseconds later). A workstation that
 * acknowledges a message and reconnects at once (a network blip) must not have it pushed again: the relay
 * writes the device's pending acknowledgements before it reads the queue for the new socket.
 */

interface Socket {
  readonly socket: WebSocket;
  readonly ids: string[];
  readonly frames: { type: string; requestId?: string }[];
}

function open(url: string, device: BenchDevice): Promise<Socket> {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws`, { headers: { authorization: `Bearer ${device.credential}` } });
  const opened: Socket = { socket, ids: [], frames: [] };
  socket.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString()) as { type: string; envelope?: { id: string } };
    opened.frames.push(frame);
    if (frame.type === 'envelope' && frame.envelope) opened.ids.push(frame.envelope.id);
  });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(opened));
    socket.once('error', reject);
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > 10_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('an acknowledgement followed by an immediate reconnect', () => {
  let dataDir: string;
  let devices: BenchDevice[];
  let relay: RelayProcess;

  beforeAll(async () => {
    dataDir = tempDataDir();
    devices = await provision(dataDir, 2);
    relay = await RelayProcess.start(dataDir);
  }, 60_000);

  afterAll(async () => {
    await relay.stop();
    removeDir(dataDir);
  });

  it('does not bring the acknowledged message again on the new socket', async () => {
    const [alice, bob] = devices as [BenchDevice, BenchDevice];
    const sender = await open(relay.url, alice);
    try {
      for (let round = 0; round < 10; round++) {
        const id = randomUUID();
        const requestId = `r${round}`;
        sender.socket.send(JSON.stringify({ type: 'send', requestId, envelopes: [{ id, type: 'whisper', recipient: bob.address, content: randomBytes(300).toString('base64') }] }));
        await until(() => sender.frames.some((f) => f.type === 'sent' && f.requestId === requestId), 'the relay to accept the message');
        const first = await open(relay.url, bob);
        await until(() => first.ids.includes(id), 'the message');
        first.socket.send(JSON.stringify({ type: 'ack', ids: [id] }));
        first.socket.close();
        const second = await open(relay.url, bob);
        await until(() => second.frames.some((f) => f.type === 'queueEmpty'), 'the queue to be pushed');
        expect(second.ids).toEqual([]);
        second.socket.close();
      }
    } finally {
      sender.socket.close();
    }
  });

  it('does not bring back what is acknowledged on the new socket for the socket before (as the app does after a blip)', async () => {
    const [alice, bob] = devices as [BenchDevice, BenchDevice];
    const sender = await open(relay.url, alice);
    try {
      for (let round = 0; round < 10; round++) {
        const ids = [randomUUID(), randomUUID()];
        const requestId = `blip${round}`;
        sender.socket.send(JSON.stringify({ type: 'send', requestId, envelopes: ids.map((id) => ({ id, type: 'whisper', recipient: bob.address, content: randomBytes(300).toString('base64') })) }));
        await until(() => sender.frames.some((f) => f.type === 'sent' && f.requestId === requestId), 'the relay to accept the messages');
        const first = await open(relay.url, bob);
        await until(() => ids.every((id) => first.ids.includes(id)), 'the messages');
        // The first is acknowledged on the old socket; the second only decrypts once the new one is up.
        first.socket.send(JSON.stringify({ type: 'ack', ids: [ids[0]] }));
        first.socket.close();
        const second = await open(relay.url, bob);
        second.socket.send(JSON.stringify({ type: 'ack', ids: [ids[1]] }));
        await until(() => second.frames.some((f) => f.type === 'queueEmpty'), 'the queue to be pushed');
        await new Promise((resolve) => setTimeout(resolve, 50));
        // The first never comes again; the second may (it was not acknowledged when the new socket first read
        // its queue), once at most, and not after its acknowledgement.
        expect(second.ids.filter((id) => id === ids[0])).toEqual([]);
        expect(second.ids.filter((id) => id === ids[1]).length).toBeLessThanOrEqual(1);
        const after = second.ids.length;
        second.socket.send(JSON.stringify({ type: 'ping', requestId: `p${round}` }));
        await until(() => second.frames.some((f) => f.type === 'pong' && f.requestId === `p${round}`), 'a pong');
        expect(second.ids).toHaveLength(after);
        second.socket.close();
      }
    } finally {
      sender.socket.close();
    }
  });
});
