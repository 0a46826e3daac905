import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttachmentProgressEvent, AttachmentView } from '../../shared/attachmentContract';
import type { ConversationId, MessageId, UserId } from '../../shared/ids';
import { DEFAULT_POLICY, type OrgPolicy } from '../../shared/policy';
import { realScheduler } from '../../main/core/Clock';
import { jpegWithExif, markedBytes, pngWithText, smallPdf } from '../fixtures/attachmentFiles';
import { RelayProcess, filesUnder, openRelayDatabase } from '../fixtures/relayProcess';
import { Ward } from '../fixtures/ward';
import { Workstation, stageFile, until } from '../fixtures/workstation';

/*
 * Attachments through a real relay process (issue 20), driven through the UI contract as the composer and the
 * viewer drive it: staged in 1 MiB chunks, sent, uploaded encrypted, fetched and verified on the other side,
 * read back in chunks. Also: a care team's one upload, a resumed upload, a tampered blob, the quota, retention,
 * and that no attachment plaintext is on the relay's disk or in a profile directory.
 */
const MARKER = 'ROUNDS-ATTACHMENT-PLAINTEXT-MARKER-4711';
const MIB = 1024 * 1024;

describe('attachments through a real relay', () => {
  let ward: Ward;
  let alice: Workstation;
  let bob: Workstation;
  let carol: Workstation;
  /** Alice's second workstation: it gets a copy of what she sends. */
  let alice2: Workstation;
  let ids: Record<'alice' | 'bob' | 'carol', UserId>;
  /** Bob's clock, which the retention test moves on by days. */
  const bobClock = { offsetMs: 0 };
  const policy: OrgPolicy = { ...DEFAULT_POLICY, retentionDays: 1, attachments: { ...DEFAULT_POLICY.attachments, autoDownloadBytes: 64 * 1024 } };

  const stage = stageFile;

  async function readAll(w: Workstation, messageId: MessageId, attachmentId: AttachmentView['id']): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (let offset = 0, total = 1; offset < total; ) {
      const chunk = await w.call('attachments.read', { messageId, attachmentId, variant: 'original', offset, length: MIB });
      total = chunk.total;
      parts.push(Buffer.from(chunk.data, 'base64'));
      offset += MIB;
    }
    return Buffer.concat(parts);
  }

  async function message(w: Workstation, conversationId: ConversationId, messageId: MessageId) {
    return (await w.call('messages.page', { conversationId, limit: 50 })).find((m) => m.id === messageId);
  }

  async function arrived(w: Workstation, conversationId: ConversationId, messageId: MessageId, state?: AttachmentView['state']) {
    await until(async () => {
      const m = await message(w, conversationId, messageId);
      return m !== undefined && (state === undefined || m.attachments.every((a) => a.state === state));
    }, `message ${messageId} with its attachments ${state ?? ''}`, 30_000);
    return (await message(w, conversationId, messageId))!;
  }

  beforeAll(async () => {
    ward = await Ward.open({ alice: 'Dr. Alice Moreau', bob: 'Nurse Bob Okafor', carol: 'Dr. Carol Nguyen' }, {
      relayArgs: ['--blob-quota-mib', '12'],
      station: (username) => (username === 'bob' ? { policy, scheduler: { ...realScheduler, now: () => Date.now() + bobClock.offsetMs } } : { policy }),
    });
    ({ alice, bob, carol } = ward.stations as Record<'alice' | 'bob' | 'carol', Workstation>);
    ids = { alice: ward.id('alice'), bob: ward.id('bob'), carol: ward.id('carol') };
    // Added once Alice's first workstation is online and has read the directory (which it keeps): the relay tells
    // it of this one at its first send, so the copies of what she sends reach both.
    alice2 = ward.workstation({ policy });
    await alice2.addDevice(ward.relay.url, 'alice');
    await ward.allOnline();
  }, 120_000);

  afterAll(async () => {
    await ward?.close();
  });

  it('sends a photo, a PNG, a PDF and another file 1:1: metadata removed, bytes intact, small ones fetched at once', async () => {
    const conversationId = (await alice.call('conversations.openDirect', { userId: ids.bob })).conversationId;
    const photo = await stage(alice, jpegWithExif(MARKER), 'wound.jpg');
    expect(photo).toMatchObject({ contentType: 'image/jpeg', kind: 'image', width: 64, height: 48, metadataRemoved: true });
    expect(photo.thumbnail).not.toBeNull();
    const png = await stage(alice, pngWithText(MARKER), 'ecg.png');
    expect(png).toMatchObject({ contentType: 'image/png', kind: 'image', width: 16, height: 16, metadataRemoved: true });
    const pdf = await stage(alice, smallPdf('Discharge summary'), 'report.pdf');
    expect(pdf).toMatchObject({ contentType: 'application/pdf', kind: 'pdf', metadataRemoved: false });
    const other = markedBytes(20_000, MARKER);
    const file = await stage(alice, other, 'notes.bin');
    expect(file).toMatchObject({ contentType: 'application/octet-stream', kind: 'file', size: 20_000 });

    const { messageId } = await alice.call('messages.send', { conversationId, text: '', attachments: [photo.stagingId, png.stagingId, pdf.stagingId, file.stagingId] });
    const received = await arrived(bob, conversationId, messageId, 'stored');
    expect(received.body).toBe('');
    expect(received.attachments.map((a) => [a.kind, a.fileName])).toEqual([['image', 'wound.jpg'], ['image', 'ecg.png'], ['pdf', 'report.pdf'], ['file', 'notes.bin']]);
    const sent = await message(alice, conversationId, messageId);
    for (const [i, a] of received.attachments.entries()) {
      const bytes = await readAll(bob, messageId, a.id);
      // The sender's copy and the recipient's are the same bytes.
      expect(bytes.equals(await readAll(alice, messageId, sent!.attachments[i]!.id))).toBe(true);
      if (a.kind === 'image') expect(bytes.includes(MARKER)).toBe(false);
    }
    const jpegBytes = await readAll(bob, messageId, received.attachments[0]!.id);
    expect(jpegBytes.subarray(0, 2).toString('hex')).toBe('ffd8');
    // The orientation survives, in a segment of its own (a portrait photo stays upright).
    expect(jpegBytes.includes(Buffer.from('Exif\0\0MM', 'latin1'))).toBe(true);
    expect((await readAll(bob, messageId, received.attachments[3]!.id)).equals(other)).toBe(true);
    // Saving and copying are off by default: the files open only in Rounds.
    const photoAt = { messageId, attachmentId: received.attachments[0]!.id };
    expect((await bob.fails('attachments.save', photoAt)).code).toBe('ATTACHMENT_POLICY');
    expect((await bob.fails('attachments.copyImage', photoAt)).code).toBe('ATTACHMENT_POLICY');
    expect(await bob.call('attachments.policy', {})).toEqual({ maxBytes: 100 * MIB, autoDownloadBytes: 64 * 1024, saveAllowed: false, clipboardAllowed: false, scanBeforeOpen: false });
    await until(async () => (await message(alice, conversationId, messageId))?.state === 'delivered', 'delivered receipt');
  });

  it('uploads once for a care team, and every member (and the sender\'s other workstation) fetches and opens it', async () => {
    const { conversationId } = await alice.call('careTeams.create', { title: 'Ward 4 wounds', members: [ids.bob, ids.carol] });
    const db = openRelayDatabase(ward.relayDir);
    const blobs = () => (db.prepare('SELECT count(*) AS n FROM blobs').get() as { n: number }).n;
    const before = blobs();
    const staged = await stage(alice, pngWithText('team'), 'team.png');
    const { messageId } = await alice.call('messages.send', { conversationId, text: 'Day 5', attachments: [staged.stagingId] });
    for (const w of [bob, carol, alice2]) {
      const m = await arrived(w, conversationId, messageId, 'stored');
      expect((await readAll(w, messageId, m.attachments[0]!.id)).subarray(1, 4).toString('latin1')).toBe('PNG');
    }
    expect(blobs()).toBe(before + 1);
    db.close();
  });

  it('resumes an upload the app quit in the middle of, where the relay\'s copy ends', async () => {
    const conversationId = (await alice.call('conversations.openDirect', { userId: ids.bob })).conversationId;
    const original = markedBytes(9 * MIB, MARKER);
    const staged = await stage(alice, original, 'scan.bin');
    const uploading = (from: number, messageId?: MessageId) => alice.events.slice(from).filter((e): e is AttachmentProgressEvent =>
      e.type === 'attachmentProgress' && e.direction === 'upload' && e.state === 'uploading' && (messageId === undefined || e.messageId === messageId));
    const before = alice.events.length;
    // The app quits once the first chunk is on the relay: the next start must not send it again.
    let quit: Promise<void> | undefined;
    const unsubscribe = alice.app.subscribe((event) => {
      if (!quit && event.type === 'attachmentProgress' && event.state === 'uploading' && event.transferred > 0) quit = alice.restart();
    });
    const { messageId } = await alice.call('messages.send', { conversationId, text: 'CT scan', attachments: [staged.stagingId] });
    await until(() => quit !== undefined, 'the first chunk on the relay');
    unsubscribe();
    await quit;
    const restarted = alice.events.length;
    expect(uploading(before, messageId).length).toBeGreaterThan(0);
    await arrived(alice, conversationId, messageId, 'uploaded');
    const resumed = uploading(restarted, messageId)[0]!;
    expect(resumed.transferred).toBeGreaterThan(0);

    const remote = await arrived(bob, conversationId, messageId, 'remote');
    const fetched = await bob.call('attachments.fetch', { messageId, attachmentId: remote.attachments[0]!.id });
    expect(fetched.state).toBe('stored');
    expect((await readAll(bob, messageId, fetched.id)).equals(original)).toBe(true);
  });

  it('withdraws a cancelled upload from the relay and does not send its message', async () => {
    const conversationId = (await carol.call('conversations.openDirect', { userId: ids.bob })).conversationId;
    const staged = await stage(carol, markedBytes(9 * MIB, MARKER), 'cancelled.bin');
    let cancelled = false;
    const unsubscribe = carol.app.subscribe((event) => {
      // Cancelled once part of it is on the relay.
      if (!cancelled && event.type === 'attachmentProgress' && event.state === 'uploading' && event.transferred > 0) {
        cancelled = true;
        void carol.app.invoke('attachments.cancel', { messageId: event.messageId, attachmentId: event.attachmentId });
      }
    });
    const { messageId } = await carol.call('messages.send', { conversationId, text: 'cancelled scan', attachments: [staged.stagingId] });
    const failed = await arrived(carol, conversationId, messageId, 'uploadFailed');
    unsubscribe();
    expect(failed.attachments[0]!.error).toBe('ATTACHMENT_CANCELLED');
    await until(async () => (await message(carol, conversationId, messageId))?.state === 'failed', 'the message shown as not sent');
    expect(carol.events.some((e) => e.type === 'sendFailed' && e.messageId === messageId && e.reason === 'ATTACHMENT_CANCELLED')).toBe(true);
    // Its partial blob is gone from the relay (withdrawn by the uploader, audited by id and size only).
    const withdrawn = () => {
      const db = openRelayDatabase(ward.relayDir);
      try {
        return db.prepare(`SELECT subject, details FROM audit_log WHERE type = 'blob.deleted' AND details LIKE '%withdrawn%'`).all() as { subject: string; details: string }[];
      } finally {
        db.close();
      }
    };
    await until(() => withdrawn().length > 0, 'the blob withdrawn');
    const db = openRelayDatabase(ward.relayDir);
    try {
      for (const { subject, details } of withdrawn()) {
        expect(JSON.parse(details)).toEqual({ size: expect.any(Number), reason: 'withdrawn' });
        expect(db.prepare('SELECT count(*) AS n FROM blobs WHERE id = ?').get([subject])).toEqual({ n: 0 });
        expect(db.prepare('SELECT count(*) AS n FROM blob_chunks WHERE blob_id = ?').get([subject])).toEqual({ n: 0 });
      }
    } finally {
      db.close();
    }
    // It cannot be retried into a message that will not go; Bob never gets it.
    expect((await carol.fails('attachments.retry', { messageId, attachmentId: failed.attachments[0]!.id })).code).toBe('INVALID_INPUT');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await message(bob, conversationId, messageId)).toBeUndefined();
  });

  it('refuses a blob the relay changed, with a clear error, and shows nothing of it', async () => {
    const conversationId = (await alice.call('conversations.openDirect', { userId: ids.bob })).conversationId;
    const send = async (seed: string) => {
      const staged = await stage(alice, markedBytes(100_000, seed), 'lab.bin');
      const { messageId } = await alice.call('messages.send', { conversationId, text: seed, attachments: [staged.stagingId] });
      const m = await arrived(bob, conversationId, messageId, 'remote');
      return { messageId, attachmentId: m.attachments[0]!.id };
    };
    const flipped = await send('flipped');
    const swappedA = await send('swapped-a');
    const swappedB = await send('swapped-b');
    const db = openRelayDatabase(ward.relayDir);
    const [b, a, f] = (db.prepare('SELECT id FROM blobs ORDER BY created_at DESC LIMIT 3').all() as { id: string }[]).map((r) => r.id) as [string, string, string];
    // One byte of one blob changed; two others swapped whole (each still a well-formed blob).
    // (To a byte it was not: a 0x00 there already would change nothing, once in 256 runs.)
    db.prepare('UPDATE blob_chunks SET data = CAST(substr(data, 1, 99) || CASE WHEN substr(data, 100, 1) = X\'00\' THEN X\'01\' ELSE X\'00\' END || substr(data, 101) AS BLOB) WHERE blob_id = ?').run([f]);
    const chunkA = db.prepare('SELECT data FROM blob_chunks WHERE blob_id = ?').get([a]) as { data: Uint8Array<ArrayBuffer> };
    const chunkB = db.prepare('SELECT data FROM blob_chunks WHERE blob_id = ?').get([b]) as { data: Uint8Array<ArrayBuffer> };
    db.prepare('UPDATE blob_chunks SET data = ? WHERE blob_id = ?').run([chunkB.data, a]);
    db.prepare('UPDATE blob_chunks SET data = ? WHERE blob_id = ?').run([chunkA.data, b]);
    db.close();
    for (const target of [flipped, swappedA, swappedB]) {
      const refused = await bob.fails('attachments.fetch', target);
      expect(refused.code).toBe('ATTACHMENT_TAMPERED');
      expect((await bob.fails('attachments.read', { ...target, variant: 'original', offset: 0, length: 1024 })).code).toBe('ATTACHMENT_NOT_STORED');
    }
    const m = await message(bob, conversationId, flipped.messageId);
    expect(m?.attachments[0]).toMatchObject({ state: 'refused', error: 'ATTACHMENT_TAMPERED' });
  });

  it('says BLOB_QUOTA_EXCEEDED when the sender\'s share of the relay is used up', async () => {
    const conversationId = (await carol.call('conversations.openDirect', { userId: ids.bob })).conversationId;
    const staged = await stage(carol, markedBytes(13 * MIB, 'big'), 'big.bin');
    const { messageId } = await carol.call('messages.send', { conversationId, text: 'too much', attachments: [staged.stagingId] });
    const failed = await arrived(carol, conversationId, messageId, 'uploadFailed');
    expect(failed.attachments[0]!.error).toBe('BLOB_QUOTA_EXCEEDED');
    expect(failed.state).toBe('pending');
    expect((await carol.fails('attachments.stageBegin', { size: 101 * MIB })).code).toBe('ATTACHMENT_TOO_LARGE');
  });

  it('leaves no attachment plaintext on the relay\'s disk or in any profile directory', async () => {
    const hits: string[] = [];
    for (const dir of ward.directories) {
      for (const path of filesUnder(dir)) if (readFileSync(path).includes(MARKER)) hits.push(path);
    }
    expect(hits).toEqual([]);
  });

  it('deletes attachments with the message\'s retention, on the workstation and on the relay', async () => {
    const conversationId = (await alice.call('conversations.openDirect', { userId: ids.bob })).conversationId;
    const staged = await stage(alice, pngWithText('old'), 'old.png');
    const { messageId } = await alice.call('messages.send', { conversationId, text: 'old photo', attachments: [staged.stagingId] });
    const m = await arrived(bob, conversationId, messageId, 'stored');
    const db = openRelayDatabase(ward.relayDir);
    const blob = db.prepare('SELECT id, created_at, expires_at FROM blobs ORDER BY created_at DESC LIMIT 1').get() as { id: string; created_at: number; expires_at: number };
    // The sender's one-day retention reached the relay with the blob.
    expect(blob.expires_at - blob.created_at).toBeLessThanOrEqual(24 * 3600_000);
    // Two days on: Bob's workstation deletes the message at its next start, with its attachment.
    bobClock.offsetMs = 2 * 24 * 3600_000;
    await bob.restart();
    expect(await message(bob, conversationId, messageId)).toBeUndefined();
    expect((await bob.fails('attachments.read', { messageId, attachmentId: m.attachments[0]!.id, variant: 'original', offset: 0, length: 10 })).code).toBe('NOT_FOUND');
    // And the relay, at its next housekeeping once the day is over (its clock cannot be moved: the expiry is).
    db.prepare('UPDATE blobs SET expires_at = ? WHERE id = ?').run([Date.now() - 1, blob.id]);
    db.close();
    await ward.relay.stop();
    ward.relay = await RelayProcess.start(ward.relayDir, ['--blob-quota-mib', '12'], ward.relay.port);
    const after = openRelayDatabase(ward.relayDir);
    await until(() => (after.prepare('SELECT count(*) AS n FROM blob_chunks WHERE blob_id = ?').get([blob.id]) as { n: number }).n === 0, 'blob deleted by the relay', 60_000);
    expect(after.prepare('SELECT count(*) AS n FROM blobs WHERE id = ?').get([blob.id])).toEqual({ n: 0 });
    // The relay's audit log has each blob's upload, fetches and deletion by id and size, and nothing of its file.
    const audit = after.prepare(`SELECT type, subject, details FROM audit_log WHERE type LIKE 'blob.%'`).all() as { type: string; subject: string; details: string }[];
    after.close();
    // Fetched by Bob and by Alice's other workstation.
    expect(audit.filter((r) => r.subject === blob.id).map((r) => [r.type, JSON.parse(r.details) as unknown])).toEqual([
      ['blob.stored', { size: expect.any(Number) }], ['blob.fetched', { size: expect.any(Number) }], ['blob.fetched', { size: expect.any(Number) }],
      ['blob.deleted', { size: expect.any(Number), reason: 'retention' }],
    ]);
    expect(audit.some((r) => /wound|ecg|report|\.png|\.jpg|image\//.test(r.details))).toBe(false);
  });
});

