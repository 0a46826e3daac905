import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AttachmentIdSchema } from '../../../shared/attachmentContract';
import { MessageIdSchema } from '../../../shared/ids';
import { AttachmentPointerSchema, type AttachmentPointer } from '../../../shared/payload';
import { useTempDirs } from '../../../test/fixtures/tempDirs';
import { ProfileDatabase } from '../storage/ProfileDatabase';
import { cipherSize } from './attachmentCipher';
import { AttachmentDownloads } from './AttachmentDownloads';
import { AttachmentStore } from './AttachmentStore';
import type { TransferHost } from './TransferHost';

/*
 * What a received message's attachment pointers become on this workstation, before anything is fetched: the
 * pointer is the sender's word, and a sender's client may be modified.
 */
describe('attachment pointers received', () => {
  const tempDir = useTempDirs();
  const open: ProfileDatabase[] = [];
  afterEach(() => {
    for (const db of open.splice(0)) db.close();
  });

  function received(pointers: readonly AttachmentPointer[]) {
    const db = new ProfileDatabase(join(tempDir(), 'profile.db'), randomBytes(32));
    open.push(db);
    const messageId = MessageIdSchema.parse(randomUUID());
    db.run("INSERT INTO messages (id, conversation_id, sender_user, sender_device, sent_at, received_at, body, reply_to, urgent) VALUES ($id, 'c', 'u', 1, 1, 1, '', NULL, 0)", { id: messageId });
    const store = new AttachmentStore(db);
    // Recording touches only the store and the clock; nothing is fetched here.
    const host = { db, store, now: () => 1000 } as unknown as TransferHost;
    new AttachmentDownloads(host, () => 10 * 1024 * 1024).record(messageId, pointers, false);
    return store;
  }

  const pointer = (contentType: string, size: number, cipher = cipherSize(size), fileName?: string) => AttachmentPointerSchema.parse({
    id: AttachmentIdSchema.parse(randomUUID()), blobId: randomUUID(), contentType, size, cipherSize: cipher,
    digest: randomBytes(32).toString('base64'), key: randomBytes(32).toString('base64'), ...(fileName === undefined ? {} : { fileName }),
  });

  it('stores and shows a sender\'s file name without its direction overrides, controls or path', () => {
    const posing = pointer('application/octet-stream', 100, cipherSize(100), 'invoice\u202Efdp.exe');
    const pathy = pointer('application/pdf', 100, cipherSize(100), '..\\..\\Startup\\run.bat\u0000.pdf');
    const invisible = pointer('application/pdf', 100, cipherSize(100), '\u2066\u200B\u2069');
    const store = received([posing, pathy, invisible]);
    expect(store.get(posing.id)?.fileName).toBe('invoicefdp.exe');
    expect(store.get(pathy.id)?.fileName).toBe('_.._Startup_run.bat.pdf');
    expect(store.get(invisible.id)?.fileName).toBeNull();
  });

  it('refuses at once a pointer whose announced size hides a larger blob, and never fetches it', () => {
    const honest = pointer('image/jpeg', 2048);
    const inflated = pointer('image/jpeg', 1, cipherSize(100 * 1024 * 1024));
    const store = received([honest, inflated]);
    expect(store.get(honest.id)).toMatchObject({ state: 'remote', kind: 'image' });
    expect(store.get(inflated.id)).toMatchObject({ state: 'refused' });
  });

  it('keeps a HEIC photo another client sent as a plain file: it is not decoded here', () => {
    const heic = pointer('image/heic', 4096);
    expect(received([heic]).get(heic.id)).toMatchObject({ state: 'remote', kind: 'file' });
  });
});
