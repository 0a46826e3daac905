import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { BlobRelay, type BlobClinician } from '../fixtures/blobRelay';

/*
 * What keeps attachment blobs from harming the relay (issue 20's review): memory per download bounded by a chunk
 * or two whoever stalls it, strangers refused before their body is read, transfers and bytes per device limited,
 * the free-disk reserve kept, and a fetch counted only when the whole blob went out (or the reader confirms it).
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** Polls until `check` holds (at most `ms`); real I/O, not a fixed sleep. */
async function until(check: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check()) && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 25));
}

describe('relay attachment blob limits', () => {
  let relay: BlobRelay;
  let alice: BlobClinician;
  let bob: BlobClinician;

  const start = async (...args: Parameters<typeof BlobRelay.start>) => {
    relay = await BlobRelay.start(...args);
    [alice, bob] = [await relay.enroll('alice'), await relay.enroll('bob')];
  };

  afterEach(async () => {
    await relay.close();
  });

  it('holds a few MiB per stalled download of a large blob, not the blob', async () => {
    await start({ maxTransfersPerDevice: 8 });
    const blob = randomBytes(40 * MiB);
    const id = await relay.stored(alice, blob, [bob]);
    const before = process.memoryUsage().arrayBuffers;
    const stalled = await Promise.all(Array.from({ length: 4 }, () => relay.stalledDownload(bob, id)));
    expect(stalled.map((s) => s.status)).toEqual([200, 200, 200, 200]);
    // As far as the relay will go: the memory stops growing (it grew by four whole blobs before the fix).
    let last = -1;
    await until(() => {
      const now = process.memoryUsage().arrayBuffers;
      const settled = now === last;
      last = now;
      return settled && now - before > 0;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const held = process.memoryUsage().arrayBuffers - before;
    for (const download of stalled) download.destroy();
    // Two 4 MiB chunks and a little per download at most (77 MiB before the fix, about 9 after).
    expect(held).toBeLessThan(4 * 10 * MiB);
  });

  it('refuses a stranger\'s chunk before reading its body', async () => {
    await start();
    const id = await relay.created(alice, randomBytes(4 * MiB), [bob]);
    // Headers announcing 4 MiB and 64 KiB of them: the answer comes without the rest.
    const answer = await relay.partialUpload({ credential: 'not-a-credential' }, id, 0, 4 * MiB, randomBytes(64 * KiB), 2000);
    expect(answer?.status).toBe(401);
    expect(JSON.parse(answer?.body ?? '{}')).toMatchObject({ code: 'UNAUTHENTICATED' });
    // Another account's device is refused as unread, with NOT_FOUND at the latest (it may not add to the upload).
    const stranger = await relay.patch(bob, id, 0, randomBytes(16 * KiB));
    expect(stranger.status).toBe(404);
    expect(await (await relay.status(alice, id)).json()).toMatchObject({ received: 0 });
  });

  it('limits the transfers one device has under way at once, and frees its place when one ends', async () => {
    await start({ maxTransfersPerDevice: 2 });
    const id = await relay.stored(alice, randomBytes(12 * MiB), [bob]);
    const [first, second] = [await relay.stalledDownload(bob, id), await relay.stalledDownload(bob, id)];
    const third = await relay.download(bob, id);
    expect([third.status, third.headers.get('retry-after'), ((await third.json()) as { code: string }).code]).toEqual([429, '1', 'BLOB_RATE_LIMITED']);
    // Another device is not held back by Bob's.
    expect((await relay.download(alice, id, 'bytes=0-9')).status).toBe(206);
    first.destroy();
    let again = 0;
    await until(async () => (again = (await relay.download(bob, id, 'bytes=0-9')).status) === 206);
    expect(again).toBe(206);
    second.destroy();
  });

  it('rate-limits a device\'s blob bytes with BLOB_RATE_LIMITED and Retry-After, and lets it go on once the rate allows', async () => {
    await start({ bytesPerDeviceMinute: 1 * MiB, requestsPerDeviceMinute: 1000 });
    const bytes = randomBytes(1536 * KiB);
    const id = await relay.created(alice, bytes, [bob]);
    expect((await relay.patch(alice, id, 0, bytes.subarray(0, 768 * KiB))).status).toBe(200);
    const refused = await relay.patch(alice, id, 768 * KiB, bytes.subarray(768 * KiB));
    expect([refused.status, ((await refused.json()) as { code: string }).code]).toEqual([429, 'BLOB_RATE_LIMITED']);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    relay.now += 60_000;
    expect(await (await relay.patch(alice, id, 768 * KiB, bytes.subarray(768 * KiB))).json()).toMatchObject({ complete: true });
    // Downloads count too: the whole blob is more than a minute's worth now.
    expect((await relay.download(bob, id, 'bytes=0-524287')).status).toBe(206);
    expect((await relay.download(bob, id, 'bytes=524288-1048575')).status).toBe(206);
    expect((await relay.download(bob, id)).status).toBe(429);
  });

  it('keeps the free-disk reserve (and headroom above it for messages) at the start of an upload and at each chunk', async () => {
    const reserve = 64 * MiB;
    await start({ freeDiskHeadroomBytes: 16 * MiB }, { minFreeDiskBytes: reserve });
    const disk = { free: reserve + 16 * MiB + 3 * MiB };
    relay.relay.store.freeBytes = async () => disk.free;
    const tooLarge = await relay.create(alice, randomBytes(4 * MiB), [bob]);
    expect([tooLarge.status, ((await tooLarge.json()) as { code: string }).code]).toEqual([507, 'RELAY_STORAGE_FULL']);
    expect(tooLarge.headers.get('retry-after')).not.toBeNull();
    const bytes = randomBytes(2 * MiB);
    const id = await relay.created(alice, bytes, [bob]);
    expect((await relay.patch(alice, id, 0, bytes.subarray(0, MiB))).status).toBe(200);
    disk.free -= 2.5 * MiB; // Something else filled the disk meanwhile.
    const full = await relay.patch(alice, id, MiB, bytes.subarray(MiB));
    expect([full.status, ((await full.json()) as { code: string }).code]).toEqual([507, 'RELAY_STORAGE_FULL']);
    disk.free += 10 * MiB;
    expect(await (await relay.patch(alice, id, MiB, bytes.subarray(MiB))).json()).toMatchObject({ complete: true });
  });

  it('counts a fetch only once the whole blob went out in order, or the reader confirms it; HEAD is no route', async () => {
    await start();
    const bytes = randomBytes(10 * KiB);
    const id = await relay.uploaded(alice, bytes, [bob]);
    const fetchedBy = async () => (await relay.audited('blob.fetched')).map((r) => r.actor);
    const head = await relay.download(bob, id, undefined, 'HEAD');
    expect(head.status).toBe(404);
    expect((await relay.download(bob, id, `bytes=${10 * KiB - 1}-`)).status).toBe(206);
    expect((await relay.download(bob, id, 'bytes=0-4095')).status).toBe(206);
    // A gap (4096-4999 never asked for): not a fetch.
    await (await relay.download(bob, id, 'bytes=5000-')).arrayBuffer();
    expect(await fetchedBy()).toEqual([]);
    // In order to the end: a fetch.
    await (await relay.download(bob, id, 'bytes=4096-8191')).arrayBuffer();
    await (await relay.download(bob, id, 'bytes=8192-')).arrayBuffer();
    const bobDevice = `${bob.userId}.${bob.address.deviceId}`;
    await until(async () => (await fetchedBy()).length > 0);
    expect(await fetchedBy()).toEqual([bobDevice]);

    // A reader's confirmation after its digest check; refused (NOT_FOUND) for anyone else.
    const other = await relay.uploaded(bob, bytes, [alice]);
    const carol = await relay.enroll('carol');
    expect((await relay.request(carol, 'POST', `/v1/blobs/${other}/fetched`)).status).toBe(404);
    expect((await relay.request(alice, 'POST', `/v1/blobs/${other}/fetched`)).status).toBe(200);
    expect((await relay.audited('blob.fetched')).map((r) => [r.subject, r.actor])).toEqual([[id, bobDevice], [other, `${alice.userId}.${alice.address.deviceId}`]]);
  });
});
