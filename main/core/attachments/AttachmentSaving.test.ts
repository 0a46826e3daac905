import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { markedBytes, plainJpeg } from '../../../test/fixtures/attachmentFiles';
import { ReceivedAttachments } from '../../../test/fixtures/receivedAttachments';
import { useTempDirs } from '../../../test/fixtures/tempDirs';
import type { OrgPolicy } from '../../../shared/policy';
import { SEGMENT_BYTES, segmentSpan } from './attachmentCipher';
import type { AttachmentDoor } from './AttachmentOpening';

/*
 * Saving a received attachment to disk and copying an image to the clipboard (issue 20), as the core decides and
 * audits them. The door stands in for the OS's save dialog and clipboard only (what the Electron shell does:
 * main/electron/attachmentDoor.test.ts); the writing, marking and auditing are the real ones, on a real folder.
 */
const MARKER = 'ROUNDS-SAVED-PLAINTEXT-MARKER';

describe('saving and copying received attachments', () => {
  const tempDir = useTempDirs();
  const open: ReceivedAttachments[] = [];
  afterEach(() => {
    for (const r of open.splice(0)) r.close();
  });

  /** A door whose save dialog answers `target` (null: cancelled), and a clipboard that keeps what it was given. */
  function door(target: string | null) {
    const asked: { suggestedName: string; contentType: string }[] = [];
    const copied: { bytes: Buffer; contentType: string }[] = [];
    const value: AttachmentDoor = {
      chooseSavePath: async (suggestedName, contentType) => (asked.push({ suggestedName, contentType }), target),
      copyImage: (bytes, contentType) => void copied.push({ bytes, contentType }),
    };
    return { value, asked, copied };
  }

  function profile(policy: Partial<OrgPolicy['attachments']>, d: AttachmentDoor, marks: string[] = [], markFails = false) {
    const r = new ReceivedAttachments(tempDir(), policy, {
      door: d,
      markDownloaded: (path) => {
        marks.push(path);
        if (markFails) throw new Error('xattr: Operation not permitted');
      },
    });
    open.push(r);
    return r;
  }

  it('saves nothing and asks nothing while the policy does not allow it (the default)', async () => {
    const d = door(join(tempDir(), 'x.bin'));
    const r = profile({}, d.value);
    const file = r.receive(markedBytes(1000, MARKER), 'application/octet-stream', 'notes.bin');
    await expect(r.attachments.save(file.messageId, file.attachmentId)).rejects.toMatchObject({ code: 'ATTACHMENT_POLICY' });
    await expect(r.attachments.copyImage(file.messageId, file.attachmentId)).rejects.toMatchObject({ code: 'ATTACHMENT_POLICY' });
    expect(d.asked).toEqual([]);
    expect(r.audit().map((a) => a.type)).toEqual([]);
  });

  it('writes the file where the user chose, marked before it gets its name, offering a safe name, and audits it', async () => {
    const folder = tempDir();
    const target = join(folder, 'saved.exe');
    const marks: string[] = [];
    const d = door(target);
    const r = profile({ saveAllowed: true }, d.value, marks);
    const bytes = markedBytes(3 * SEGMENT_BYTES + 77, MARKER);
    const file = r.receive(bytes, 'application/octet-stream', 'invoice\u202Efdp.exe');
    expect(await r.attachments.save(file.messageId, file.attachmentId)).toBe(target);
    // The dialog offered the name with its real extension; the sender's override character is gone.
    expect(d.asked).toEqual([{ suggestedName: 'invoicefdp.exe', contentType: 'application/octet-stream' }]);
    expect(readFileSync(target).equals(bytes)).toBe(true);
    // Marked while it was still a temporary file in the same folder: the chosen name never held an unmarked copy.
    expect(marks).toHaveLength(1);
    expect(marks[0]).toMatch(new RegExp(`^${folder}/\\.rounds-[0-9a-f-]{36}\\.part$`));
    expect(readdirSync(folder)).toEqual(['saved.exe']);
    const audit = r.audit();
    expect(audit.map((a) => a.type)).toEqual(['attachment.saveAttempted', 'attachment.saved']);
    expect(audit[1]?.details).toEqual({ message: file.messageId, attachment: file.attachmentId, size: bytes.length, type: 'application/octet-stream' });
    expect(JSON.stringify(audit)).not.toMatch(/invoice|fdp|saved\.exe|ROUNDS/);
  });

  it('deletes the copy, audits the failure and says why when the OS mark cannot be set', async () => {
    const folder = tempDir();
    const d = door(join(folder, 'scan.pdf'));
    const r = profile({ saveAllowed: true }, d.value, [], true);
    const file = r.receive(markedBytes(100_000, MARKER), 'application/pdf', 'scan.pdf');
    const failed = await r.attachments.save(file.messageId, file.attachmentId).catch((e: unknown) => e);
    expect(failed).toMatchObject({ code: 'ATTACHMENT_MARK_FAILED', message: expect.stringMatching(/could not be marked as downloaded.*deleted/) });
    expect(readdirSync(folder)).toEqual([]);
    expect(r.audit().map((a) => [a.type, a.details.step, a.details.code])).toEqual([
      ['attachment.saveAttempted', undefined, undefined], ['attachment.saveFailed', 'mark', 'ATTACHMENT_MARK_FAILED'],
    ]);
  });

  it('leaves no partial plaintext when the write fails halfway or a segment does not authenticate', async () => {
    const folder = tempDir();
    const r = profile({ saveAllowed: true }, door(join(folder, 'ct.bin')).value);
    const bytes = markedBytes(5 * SEGMENT_BYTES, MARKER);
    const file = r.receive(bytes, 'application/octet-stream', 'ct.bin');
    // The fourth segment changed in the profile: three were decrypted and written before it was found.
    const span = segmentSpan(3, file.ciphertext.length);
    const changed = Buffer.from(file.ciphertext);
    changed[span.start + 10]! ^= 0xff;
    r.store.dropBytes(file.attachmentId);
    r.store.appendBytes(file.attachmentId, 0, changed);
    await expect(r.attachments.save(file.messageId, file.attachmentId)).rejects.toMatchObject({ code: 'ATTACHMENT_TAMPERED' });
    expect(readdirSync(folder)).toEqual([]);

    // A place that cannot be written (a folder gone since the dialog, a name that is a folder): refused, typed, nothing left.
    const parent = tempDir();
    mkdirSync(join(parent, 'taken.bin'));
    for (const target of [join(parent, 'gone', 'ct.bin'), join(parent, 'taken.bin')]) {
      const r2 = profile({ saveAllowed: true }, door(target).value);
      const ok = r2.receive(bytes, 'application/octet-stream', 'ct.bin');
      await expect(r2.attachments.save(ok.messageId, ok.attachmentId)).rejects.toMatchObject({ code: 'ATTACHMENT_SAVE_FAILED' });
      expect(r2.audit().at(-1)).toMatchObject({ type: 'attachment.saveFailed', details: { code: 'ATTACHMENT_SAVE_FAILED' } });
    }
    expect(readdirSync(parent)).toEqual(['taken.bin']);
    expect(readdirSync(join(parent, 'taken.bin'))).toEqual([]);
    expect(r.audit().map((a) => [a.type, a.details.step, a.details.code])).toEqual([
      ['attachment.saveAttempted', undefined, undefined], ['attachment.saveFailed', 'write', 'ATTACHMENT_TAMPERED'],
    ]);
  });

  it('replaces a file the user chose to overwrite, and writes nothing when the dialog is cancelled', async () => {
    const folder = tempDir();
    const target = join(folder, 'old.pdf');
    writeFileSync(target, 'the old file');
    const r = profile({ saveAllowed: true }, door(target).value);
    const bytes = markedBytes(2000, MARKER);
    const file = r.receive(bytes, 'application/pdf', 'new.pdf');
    await r.attachments.save(file.messageId, file.attachmentId);
    expect(readFileSync(target).equals(bytes)).toBe(true);
    const cancelled = profile({ saveAllowed: true }, door(null).value);
    const other = cancelled.receive(bytes, 'application/pdf', 'new.pdf');
    expect(await cancelled.attachments.save(other.messageId, other.attachmentId)).toBeNull();
    expect(cancelled.audit()).toEqual([]);
  });

  it('copies an image as the policy allows, audited by size and type only, and refuses one too large for it', async () => {
    const d = door(null);
    const r = profile({ clipboardAllowed: true }, d.value);
    const photo = plainJpeg();
    const file = r.receive(photo, 'image/jpeg', 'Bed 12 J Smith wound.jpg');
    await r.attachments.copyImage(file.messageId, file.attachmentId);
    expect(d.copied).toHaveLength(1);
    expect(d.copied[0]!.contentType).toBe('image/jpeg');
    expect(d.copied[0]!.bytes.equals(photo)).toBe(true);
    expect(r.audit()).toMatchObject([{ type: 'attachment.copied', details: { message: file.messageId, attachment: file.attachmentId, size: photo.length, type: 'image/jpeg' } }]);
    expect(JSON.stringify(r.audit())).not.toMatch(/Smith|wound/);
    // A PNG whose header claims 20,000 x 20,000 pixels (a decompression bomb on the clipboard): refused, not decoded.
    const bomb = Buffer.from(photoHeader(20_000, 20_000));
    const big = r.receive(bomb, 'image/png', 'big.png');
    await expect(r.attachments.copyImage(big.messageId, big.attachmentId)).rejects.toMatchObject({ code: 'ATTACHMENT_TOO_LARGE' });
    const pdf = r.receive(markedBytes(500, MARKER), 'application/pdf', 'a.pdf');
    await expect(r.attachments.copyImage(pdf.messageId, pdf.attachmentId)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(d.copied).toHaveLength(1);
    expect(r.audit()).toHaveLength(1);
  });
});

/** A PNG signature and IHDR chunk for a width x height image, then IEND (its pixels are never read). */
function photoHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(25);
  ihdr.writeUInt32BE(13, 0);
  ihdr.write('IHDR', 4, 'latin1');
  ihdr.writeUInt32BE(width, 8);
  ihdr.writeUInt32BE(height, 12);
  ihdr.set([8, 6, 0, 0, 0], 16);
  const iend = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ihdr, iend]);
}
