import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RelayBlobs } from '../../main/core/attachments/RelayBlobs';
import { RelayClient } from '../../main/core/messaging/RelayClient';
import { BlobRelay, type BlobClinician } from '../fixtures/blobRelay';
import { until } from '../fixtures/workstation';

/*
 * The workstation's blob reads (RelayBlobs.read, as AttachmentDownloads fetches an attachment in 4 MiB ranges)
 * against a real relay, and against the same relay behind a hostile middle (a relay that is faulty or not the
 * hospital's, or anything on the way): bytes are counted as they stream in, an announced or sent length past what
 * was asked for is refused, typed, and the rest is never read.
 */
const MiB = 1024 * 1024;

/** How the middle answers a blob read: as the relay did, or lying. */
type Lie = 'none' | 'endless' | 'announcesHuge' | 'short' | 'endlessError';

class HostileMiddle {
  lie: Lie = 'none';
  /** Bytes the middle got written into the connection in its last lying answer. */
  written = 0;
  /** Whether that answer's connection was closed by the client before the middle stopped. */
  cutOff = false;
  readonly #server: http.Server;
  private constructor(server: http.Server, readonly url: string) {
    this.#server = server;
  }

  static async start(relayUrl: string): Promise<HostileMiddle> {
    const relay = new URL(relayUrl);
    const box: { middle?: HostileMiddle } = {};
    const server = http.createServer((request, response) => {
      const middle = box.middle!;
      const lie = middle.lie;
      if (lie === 'none') {
        const upstream = http.request({ host: relay.hostname, port: relay.port, path: request.url, method: request.method, headers: request.headers }, (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        });
        request.pipe(upstream);
        return;
      }
      middle.written = 0;
      middle.cutOff = false;
      response.on('close', () => (middle.cutOff = !response.writableFinished));
      if (lie === 'announcesHuge') {
        response.writeHead(206, { 'content-type': 'application/octet-stream', 'content-length': String(2 ** 40) });
        response.write(Buffer.alloc(1024));
        return;
      }
      if (lie === 'short') {
        response.writeHead(206, { 'content-type': 'application/octet-stream' });
        response.end(Buffer.alloc(1000));
        return;
      }
      // Endless: chunked, no length, 64 KiB after 64 KiB until the client hangs up (or 1 GiB).
      response.writeHead(lie === 'endlessError' ? 500 : 206, { 'content-type': lie === 'endlessError' ? 'application/json' : 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      const pump = () => {
        while (!response.destroyed && middle.written < 1024 * MiB) {
          middle.written += chunk.length;
          if (!response.write(chunk)) return void response.once('drain', pump);
        }
        response.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    box.middle = new HostileMiddle(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return box.middle;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

describe('reading attachment blobs from the relay, within bounds', () => {
  let relay: BlobRelay;
  let middle: HostileMiddle;
  let alice: BlobClinician;
  let bob: BlobClinician;
  let blob: Buffer;
  let blobId: string;

  beforeAll(async () => {
    relay = await BlobRelay.start();
    [alice, bob] = [await relay.enroll('alice'), await relay.enroll('bob')];
    blob = randomBytes(9 * MiB + 123);
    blobId = await relay.stored(alice, blob, [bob]);
    middle = await HostileMiddle.start(relay.url);
  }, 60_000);

  afterAll(async () => {
    await middle?.close();
    await relay?.close();
  });

  it('streams a blob in 4 MiB ranges from the real relay, byte for byte', async () => {
    for (const base of [relay.url, middle.url]) {
      middle.lie = 'none';
      const blobs = new RelayBlobs(new RelayClient(base, bob.credential));
      const parts: Uint8Array[] = [];
      for (let from = 0; from < blob.length; from += 4 * MiB) parts.push(await blobs.read(blobId, from, Math.min(blob.length, from + 4 * MiB)));
      expect(Buffer.concat(parts).equals(blob)).toBe(true);
    }
    // A range past the blob's end is the relay's refusal, typed, not a crash.
    await expect(new RelayBlobs(new RelayClient(relay.url, bob.credential)).read(blobId, blob.length, blob.length + 10)).rejects.toMatchObject({ name: 'RelayRequestError' });
  });

  it('refuses a body that goes on past the range asked for, and stops reading it', async () => {
    middle.lie = 'endless';
    const blobs = new RelayBlobs(new RelayClient(middle.url, bob.credential));
    const refused = await blobs.read(blobId, 0, 4 * MiB).catch((e: unknown) => e);
    expect(refused).toMatchObject({ name: 'ResponseTooLargeError', code: 'BAD_RESPONSE', message: expect.stringMatching(/more than the 4194304 bytes/) });
    await until(async () => middle.cutOff, 'the middle cut off');
    // The connection was cut off soon after the 4 MiB: the middle could not push its gigabyte.
    expect(middle.written).toBeLessThan(64 * MiB);
  });

  it('refuses an announced length past the range before reading the body, and a body cut short', async () => {
    middle.lie = 'announcesHuge';
    const blobs = new RelayBlobs(new RelayClient(middle.url, bob.credential));
    await expect(blobs.read(blobId, 0, 1024)).rejects.toMatchObject({ name: 'ResponseTooLargeError', code: 'BAD_RESPONSE' });
    middle.lie = 'short';
    await expect(blobs.read(blobId, 0, 4096)).rejects.toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/sent 1000 bytes .* where 4096/) });
  });

  it('does not read an endless error body: the refusal comes at once, typed', async () => {
    middle.lie = 'endlessError';
    const blobs = new RelayBlobs(new RelayClient(middle.url, bob.credential));
    await expect(blobs.read(blobId, 0, 1024)).rejects.toMatchObject({ name: 'RelayRequestError', code: 'BAD_RESPONSE', status: 500 });
    await until(async () => middle.cutOff, 'the middle cut off');
    expect(middle.written).toBeLessThan(64 * MiB);
  });
});
