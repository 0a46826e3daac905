import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RelayClient, RelayRequestError } from './RelayClient';

/** A loopback server that answers every WebSocket upgrade with `status`, `headers` and `body`, as a relay or a proxy in front of it would. */
async function refusingServer(status: number, headers: Record<string, string>, body: string): Promise<{ server: Server; url: string }> {
  const server = createServer();
  server.on('upgrade', (_request, socket) => {
    const head = [`HTTP/1.1 ${status} Refused`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), `content-length: ${Buffer.byteLength(body)}`, 'connection: close', '', ''].join('\r\n');
    socket.end(head + body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function refusal(url: string): Promise<RelayRequestError> {
  const error = await new RelayClient(url, 'credential').connect({ onEnvelope: () => undefined }).then(() => undefined, (e: unknown) => e);
  if (!(error instanceof RelayRequestError)) throw new Error(`expected a RelayRequestError, got ${String(error)}`);
  return error;
}

describe('a relay that refuses to open the socket', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('reports a busy relay with its code and when to come back', async () => {
    const relay = await refusingServer(503, { 'retry-after': '7', 'content-type': 'application/json' }, JSON.stringify({ code: 'RELAY_BUSY', message: 'the relay is busy', retryAfterSeconds: 7, retryAfterMs: 7000 }));
    server = relay.server;
    const error = await refusal(relay.url);
    expect(error.code).toBe('RELAY_BUSY');
    expect(error.status).toBe(503);
    expect(error.details.retryAfterMs).toBe(7000);
  });

  it('takes Retry-After from the header when a proxy answers without the relay\'s body', async () => {
    const relay = await refusingServer(503, { 'retry-after': '12', 'content-type': 'text/html' }, '<h1>Service Unavailable</h1>');
    server = relay.server;
    const error = await refusal(relay.url);
    expect(error.code).toBe('UNREACHABLE');
    expect(error.details.retryAfterMs).toBe(12_000);
  });

  it('reports a refused credential as such, with no wait', async () => {
    const relay = await refusingServer(401, { 'content-type': 'application/json' }, JSON.stringify({ code: 'UNAUTHENTICATED', message: 'unknown credential' }));
    server = relay.server;
    const error = await refusal(relay.url);
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(error.details.retryAfterMs).toBeUndefined();
  });
});
