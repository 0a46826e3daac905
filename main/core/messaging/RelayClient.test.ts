import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { RelayClient, RelayRequestError } from './RelayClient';
import { MAX_SERVER_FRAME_BYTES } from './RelayConnection';

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

  it('keeps the status and the wait of an error code from a newer relay that this version does not know', async () => {
    const relay = await refusingServer(503, { 'retry-after': '9', 'content-type': 'application/json' }, JSON.stringify({ code: 'RELAY_DRAINING', message: 'moving to another machine', retryAfterMs: 9000 }));
    server = relay.server;
    const error = await refusal(relay.url);
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', status: 503, details: { retryAfterMs: 9000 } });
    expect(error.message).toContain('RELAY_DRAINING');
  });

  it('reports a refused credential as such, with no wait', async () => {
    const relay = await refusingServer(401, { 'content-type': 'application/json' }, JSON.stringify({ code: 'UNAUTHENTICATED', message: 'unknown credential' }));
    server = relay.server;
    const error = await refusal(relay.url);
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(error.details.retryAfterMs).toBeUndefined();
  });
});

describe('a relay whose successful answer is larger than any answer can be', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  /** Answers every request 200 with JSON of `total` bytes, streamed without a length; resolves how many bytes went before the client hung up. */
  async function floodingServer(total: number): Promise<{ url: string; sent: Promise<number> }> {
    let done: (n: number) => void = () => undefined;
    const sent = new Promise<number>((resolve) => (done = resolve));
    server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      let written = 0;
      const chunk = Buffer.alloc(64 * 1024, 'x');
      response.write('{"users":[],"padding":"');
      const pump = (): void => {
        while (written < total && !response.destroyed) {
          written += chunk.length;
          if (!response.write(chunk)) return void response.once('drain', pump);
        }
        if (!response.destroyed) response.end('"}');
        done(written);
      };
      response.on('close', () => done(written));
      pump();
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sent };
  }

  it('refuses it with a clear error once the cap is passed, without reading the rest', async () => {
    const total = 96 * 1024 * 1024;
    const relay = await floodingServer(total);
    const error = await new RelayClient(relay.url, 'credential').directory().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(RelayRequestError);
    expect((error as RelayRequestError).code).toBe('BAD_RESPONSE');
    expect((error as RelayRequestError).message).toMatch(/more than the 33554432 bytes an answer from \/v1\/directory can be/);
    // The connection was cut near the cap: the relay never got to send the whole body.
    expect(await relay.sent).toBeLessThan(total / 2);
  });
});

describe('a relay that sends a frame larger than any it may send', () => {
  let server: WebSocketServer | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('closes the socket instead of taking the frame in', async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => server!.once('listening', resolve));
    // One byte past the bound: a frame of 100 MiB would be refused the same way, unread.
    server.on('connection', (socket) => socket.send(JSON.stringify({ type: 'queueEmpty', padding: 'x'.repeat(MAX_SERVER_FRAME_BYTES) })));
    const heard: string[] = [];
    const closed = new Promise<number>((resolve) => {
      void new RelayClient(`http://127.0.0.1:${(server!.address() as AddressInfo).port}`, 'credential').connect({
        onEnvelope: () => void heard.push('envelope'), onQueueEmpty: () => void heard.push('queueEmpty'), onClose: (code) => resolve(code),
      });
    });
    // Closed (abnormally: the workstation cut it off) without a frame handled.
    expect(await closed).not.toBe(1000);
    expect(heard).toEqual([]);
  });
});

describe('a relay that refuses a request with an error code this version does not know', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('is an error with the relay\'s status, message and Retry-After, not an unreadable answer', async () => {
    server = createServer((_request, response) => {
      response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '30' });
      response.end(JSON.stringify({ code: 'PRESENCE_RATE_LIMITED', message: 'too many presence changes', future: true }));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const client = new RelayClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'credential');
    const error = await client.http('GET', '/v1/presence', {}).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(RelayRequestError);
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', status: 429, details: { retryAfterMs: 30_000 } });
    expect((error as Error).message).toContain('too many presence changes');
  });
});
