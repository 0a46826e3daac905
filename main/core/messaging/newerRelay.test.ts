import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { PreKeyCount } from '../../../shared/wire/keys';
import { RelayClient, RelayRequestError } from './RelayClient';

/*
 * A workstation talking to a relay upgraded before it (docs/deployment.md: the relay first, workstations over the
 * weeks after): the relay's answers and frames carry fields this workstation has never heard of.
 */

/** A loopback relay answering every request with `status` and `body`, and sending `frames` to every socket. */
async function newerRelay(status: number, body: unknown, frames: unknown[] = []): Promise<{ server: Server; url: string }> {
  const server = createServer((_request, response) => {
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  const sockets = new WebSocketServer({ server });
  sockets.on('connection', (socket) => frames.forEach((frame) => socket.send(JSON.stringify(frame))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.on('close', () => sockets.close());
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function failure(promise: Promise<unknown>): Promise<RelayRequestError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!(error instanceof RelayRequestError)) throw new Error(`expected a RelayRequestError, got ${String(error)}`);
  return error;
}

describe('a workstation reading a newer relay', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));
  const device = { deviceId: 1, name: 'Ward 3 desk', createdAt: 1_000, lastSeenAt: 2_000 };

  it('reads an answer with fields it does not know, and keeps only those it does', async () => {
    const relay = await newerRelay(200, { devices: [{ ...device, location: 'ICU', trust: { level: 'managed' } }], nextPage: 'abc' });
    server = relay.server;
    expect(await new RelayClient(relay.url, 'credential').ownDevices()).toEqual({ devices: [device] });
  });

  it('still refuses a known field of the wrong type, naming the field and not its value', async () => {
    const relay = await newerRelay(200, { devices: [{ ...device, name: 4711, extra: true }] });
    server = relay.server;
    const error = await failure(new RelayClient(relay.url, 'credential').ownDevices());
    expect(error.code).toBe('BAD_RESPONSE');
    expect(error.message).toContain('devices.0.name: invalid_type (expected string)');
    expect(error.message).not.toContain('4711');
  });

  it('reads an error with fields it does not know as the error it is', async () => {
    const relay = await newerRelay(403, { code: 'FORBIDDEN', message: 'not for this role', policy: { rule: 'r-12' } });
    server = relay.server;
    const error = await failure(new RelayClient(relay.url, 'credential').ownDevices());
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message).toBe('not for this role');
  });

  it('acts on a WebSocket frame with fields it does not know', async () => {
    const relay = await newerRelay(200, {}, [{ type: 'keysLow', preKeys: { preKeys: 3, kyberPreKeys: 2, signedAgeDays: 40 }, urgency: 'high' }]);
    server = relay.server;
    let received: (count: PreKeyCount) => void = () => undefined;
    const keysLow = new Promise<PreKeyCount>((resolve) => (received = resolve));
    const connection = await new RelayClient(relay.url, 'credential').connect({ onEnvelope: () => undefined, onKeysLow: (count) => received(count) });
    const low = await keysLow;
    await connection.close();
    expect(low).toEqual({ preKeys: 3, kyberPreKeys: 2 });
  });
});
