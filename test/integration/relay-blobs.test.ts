import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobRelay, sha256Of, type BlobClinician } from '../fixtures/blobRelay';

/*
 * Attachment blobs over HTTP against a real relay (issue 20): chunked upload and resume after an interruption,
 * the digest check, who may download (NOT_FOUND alike for a stranger, a non-recipient and a missing blob),
 * Range requests, the account quota, and an upload whose completion failed after its last chunk was stored.
 */

const KiB = 1024;

describe('relay attachment blobs over HTTP', () => {
  let relay: BlobRelay;
  let alice: BlobClinician;
  let bob: BlobClinician;
  let carol: BlobClinician;

  beforeEach(async () => {
    relay = await BlobRelay.start({ accountQuotaBytes: 256 * KiB });
    [alice, bob, carol] = [await relay.enroll('alice'), await relay.enroll('bob'), await relay.enroll('carol')];
  });

  afterEach(async () => {
    await relay.close();
  });

  it('takes an upload in chunks, resumes it after a cut-off request from the status, and serves it to the recipient', async () => {
    const bytes = randomBytes(40 * KiB);
    const id = await relay.created(alice, bytes, [bob]);
    expect((await relay.patch(alice, id, 0, bytes.subarray(0, 16 * KiB))).status).toBe(200);
    // The next chunk is cut off halfway: nothing of it is kept.
    expect(await relay.partialUpload(alice, id, 16 * KiB, 16 * KiB, bytes.subarray(16 * KiB, 24 * KiB), 300)).toBeUndefined();
    const status = await relay.status(alice, id);
    expect(await status.json()).toMatchObject({ id, size: 40 * KiB, received: 16 * KiB, complete: false });
    // A chunk sent again from a stale offset is refused, typed, and changes nothing.
    const stale = await relay.patch(alice, id, 0, bytes.subarray(0, 16 * KiB));
    expect([stale.status, ((await stale.json()) as { code: string }).code]).toEqual([409, 'BLOB_OFFSET_MISMATCH']);
    expect((await relay.patch(alice, id, 16 * KiB, bytes.subarray(16 * KiB, 32 * KiB))).status).toBe(200);
    const last = await relay.patch(alice, id, 32 * KiB, bytes.subarray(32 * KiB));
    expect(await last.json()).toMatchObject({ received: 40 * KiB, complete: true });

    const download = await relay.download(bob, id);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
    expect((await relay.audited('blob.stored')).map((r) => [r.subject, r.details.size])).toEqual([[id, 40 * KiB]]);
  });

  it('refuses bytes that do not match the declared SHA-256 with BLOB_DIGEST_MISMATCH and drops the blob', async () => {
    const bytes = randomBytes(8 * KiB);
    const response = await relay.create(alice, bytes, [bob], sha256Of(randomBytes(8 * KiB)));
    const { id } = (await response.json()) as { id: string };
    const refused = await relay.patch(alice, id, 0, bytes);
    expect(refused.status).toBe(422);
    expect(await refused.json()).toMatchObject({ code: 'BLOB_DIGEST_MISMATCH' });
    expect((await relay.status(alice, id)).status).toBe(404);
    expect((await relay.download(bob, id)).status).toBe(404);
    expect((await relay.audited('blob.deleted')).map((r) => r.details.reason)).toEqual(['digest']);
  });

  it('answers a non-recipient, another device\'s upload and an unfinished blob as it answers a missing one', async () => {
    const bytes = randomBytes(4 * KiB);
    const id = await relay.uploaded(alice, bytes, [bob]);
    const unfinished = await relay.created(alice, bytes, [bob]);
    const missing = await relay.download(bob, randomUUID());
    const missingBody = await missing.json();
    expect([missing.status, missingBody]).toEqual([404, { code: 'NOT_FOUND', message: 'no such blob' }]);
    for (const response of [
      await relay.download(carol, id), await relay.download(bob, unfinished),
      // Only the uploading device continues, asks about or withdraws an upload.
      await relay.status(bob, unfinished), await relay.patch(carol, unfinished, 0, bytes), await relay.request(bob, 'DELETE', `/v1/blobs/${id}`),
    ]) {
      expect([response.status, await response.json()]).toEqual([404, missingBody]);
    }
    const stranger = await relay.download(undefined, id);
    expect([stranger.status, ((await stranger.json()) as { code: string }).code]).toEqual([401, 'UNAUTHENTICATED']);
    const forged = await relay.download({ ...bob, credential: `${bob.credential.slice(0, -4)}AAAA` }, id);
    expect(forged.status).toBe(401);
    // The sender's own account may read it (its other devices file their copy).
    expect((await relay.download(alice, id)).status).toBe(200);
    expect((await relay.audited('blob.fetched')).map((r) => r.actor)).toEqual([`${alice.userId}.${alice.address.deviceId}`]);
  });

  it('serves Range requests (206, Content-Range) and refuses ranges outside the blob or malformed', async () => {
    const bytes = randomBytes(10 * KiB);
    const id = await relay.uploaded(alice, bytes, [bob], 3 * KiB);
    const middle = await relay.download(bob, id, 'bytes=2000-6999');
    expect([middle.status, middle.headers.get('content-range'), middle.headers.get('content-length')]).toEqual([206, `bytes 2000-6999/${10 * KiB}`, '5000']);
    expect(Buffer.from(await middle.arrayBuffer()).equals(bytes.subarray(2000, 7000))).toBe(true);
    const tail = await relay.download(bob, id, 'bytes=9000-');
    expect(Buffer.from(await tail.arrayBuffer()).equals(bytes.subarray(9000))).toBe(true);
    for (const range of [`bytes=${10 * KiB}-`, 'bytes=5-2', 'bytes=-100', 'items=0-1']) {
      const refused = await relay.download(bob, id, range);
      expect([range, refused.status, ((await refused.json()) as { code: string }).code]).toEqual([range, 400, 'BAD_REQUEST']);
    }
  });

  it('refuses an upload past the account quota with BLOB_QUOTA_EXCEEDED (507), and takes it once a blob is withdrawn', async () => {
    const first = await relay.created(alice, randomBytes(200 * KiB), [bob]);
    const over = await relay.create(alice, randomBytes(100 * KiB), [bob]);
    expect(over.status).toBe(507);
    expect(await over.json()).toMatchObject({ code: 'BLOB_QUOTA_EXCEEDED' });
    // Another account has its own share.
    expect((await relay.create(bob, randomBytes(100 * KiB), [alice])).status).toBe(201);
    expect((await relay.request(alice, 'DELETE', `/v1/blobs/${first}`)).status).toBe(200);
    expect((await relay.create(alice, randomBytes(100 * KiB), [bob])).status).toBe(201);
  });

  it('completes an upload whose last chunk was stored but whose completion failed: at the status, or an empty chunk at its end', async () => {
    const bytes = randomBytes(8 * KiB);
    for (const finish of ['status', 'empty chunk'] as const) {
      const id = await relay.created(alice, bytes, [bob]);
      // What a crash (or a full disk) between storing the last chunk and completing the blob leaves behind.
      await relay.relay.store.blobs.appendChunk(id, 0, bytes, relay.now);
      const answer = finish === 'status'
        ? await relay.status(alice, id)
        : await relay.request(alice, 'PATCH', `/v1/blobs/${id}`, { headers: { 'content-type': 'application/octet-stream', 'upload-offset': String(bytes.length) }, body: new Uint8Array(0) });
      expect([finish, answer.status, await answer.json()]).toMatchObject([finish, 200, { received: bytes.length, complete: true }]);
      const download = await relay.download(bob, id);
      expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
    }
    // Bytes that do not match are still refused there, and dropped.
    const id = await relay.create(alice, bytes, [bob], sha256Of(randomBytes(8 * KiB))).then(async (r) => ((await r.json()) as { id: string }).id);
    await relay.relay.store.blobs.appendChunk(id, 0, bytes, relay.now);
    const refused = await relay.status(alice, id);
    expect([refused.status, ((await refused.json()) as { code: string }).code]).toEqual([422, 'BLOB_DIGEST_MISMATCH']);
    expect((await relay.status(alice, id)).status).toBe(404);
  });
  it('lets the uploader alone name more readers, who may then fetch; anyone else still may not', async () => {
    const bytes = randomBytes(4 * KiB);
    const id = await relay.uploaded(alice, bytes, [bob]);
    const name = (who: typeof alice, readers: unknown) => relay.request(who, 'POST', `/v1/blobs/${id}/readers`, { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ readers }) });
    expect((await relay.download(carol, id)).status).toBe(404);
    // Bob, a reader, cannot add Carol; nor can a stranger's account: NOT_FOUND, as for a missing blob.
    expect((await name(bob, [carol.userId])).status).toBe(404);
    expect((await name(alice, [])).status).toBe(400);
    expect((await name(alice, ['not-an-id'])).status).toBe(400);
    expect((await name(alice, [carol.userId, bob.userId])).status).toBe(200);
    const fetched = await relay.download(carol, id);
    expect([fetched.status, Buffer.from(await fetched.arrayBuffer()).equals(bytes)]).toEqual([200, true]);
    // Audited with how many were added (Carol: Bob was one already), never who.
    expect((await relay.audited('blob.readersAdded')).map((r) => [r.subject, r.details])).toEqual([[id, { readers: 1 }]]);
    const mallory = await relay.enroll('mallory');
    expect((await relay.download(mallory, id)).status).toBe(404);
  });

  it('withdraws an unfinished upload for its uploader only, deleting its bytes, audited without names', async () => {
    const bytes = randomBytes(12 * KiB);
    const id = await relay.created(alice, bytes, [bob]);
    expect((await relay.patch(alice, id, 0, bytes.subarray(0, 4 * KiB))).status).toBe(200);
    expect((await relay.request(bob, 'DELETE', `/v1/blobs/${id}`)).status).toBe(404);
    expect((await relay.request(alice, 'DELETE', `/v1/blobs/${id}`)).status).toBe(200);
    expect((await relay.status(alice, id)).status).toBe(404);
    expect((await relay.patch(alice, id, 4 * KiB, bytes.subarray(4 * KiB, 8 * KiB))).status).toBe(404);
    const deleted = (await relay.audited('blob.deleted')).filter((r) => r.subject === id);
    expect(deleted.map((r) => [r.actor, r.details])).toEqual([[`${alice.userId}.${alice.address.deviceId}`, { size: 12 * KiB, reason: 'withdrawn' }]]);
  });
});
