import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import * as electron from '../../test/fixtures/fakeElectron';
import { plainJpeg } from '../../test/fixtures/attachmentFiles';
import { ReceivedAttachments } from '../../test/fixtures/receivedAttachments';
import { useTempDirs } from '../../test/fixtures/tempDirs';

// Only Electron itself is replaced; the core that decides, writes and audits is real.
vi.mock('electron', () => import('../../test/fixtures/fakeElectron'));

const { electronAttachmentDoor } = await import('./attachmentDoor');

describe('the desktop\'s attachment door: the save dialog and the clipboard, wired to the core', () => {
  const tempDir = useTempDirs();
  const window = new electron.FakeBrowserWindow({});
  const profile = new ReceivedAttachments(tempDir(), { saveAllowed: true, clipboardAllowed: true }, { door: electronAttachmentDoor(window as never) });
  afterAll(() => profile.close());

  it('puts a copied image on the clipboard as PNG and audits it by size and type only', async () => {
    electron.clipboard.writeText('something else');
    const photo = plainJpeg();
    const file = profile.receive(photo, 'image/jpeg', 'Bed 4 wound.jpg');
    await profile.attachments.copyImage(file.messageId, file.attachmentId);
    expect(electron.clipboard.image?.equals(photo)).toBe(true);
    expect(electron.clipboard.has('image/png')).toBe(true);
    expect(profile.audit().at(-1)).toEqual(expect.objectContaining({ type: 'attachment.copied', details: { message: file.messageId, attachment: file.attachmentId, size: photo.length, type: 'image/jpeg' } }));
  });

  it('refuses an image the OS cannot decode, leaving the clipboard as it was and nothing audited', async () => {
    electron.clipboard.writeText('kept');
    const before = profile.audit().length;
    const file = profile.receive(Buffer.from('GIF89a but not really an image'), 'image/gif', 'x.gif');
    await expect(profile.attachments.copyImage(file.messageId, file.attachmentId)).rejects.toMatchObject({ code: 'ATTACHMENT_UNREADABLE' });
    expect(electron.clipboard.readText()).toBe('kept');
    expect(profile.audit()).toHaveLength(before);
  });

  it('opens the save dialog in Downloads with the safe name, and the core writes where the user chose', async () => {
    const folder = tempDir();
    electron.dialog.nextSavePath = join(folder, 'chosen.exe');
    const bytes = Buffer.from('MZ pretending to be a PDF');
    const file = profile.receive(bytes, 'application/octet-stream', 'invoice\u202Efdp.exe');
    expect(await profile.attachments.save(file.messageId, file.attachmentId)).toBe(join(folder, 'chosen.exe'));
    expect(electron.dialog.saveDialogs.at(-1)).toMatchObject({ defaultPath: join(electron.app.getPath(), 'invoicefdp.exe'), properties: ['showOverwriteConfirmation'] });
    expect(readFileSync(join(folder, 'chosen.exe')).equals(bytes)).toBe(true);
    electron.dialog.nextSavePath = null;
    expect(await profile.attachments.save(file.messageId, file.attachmentId)).toBeNull();
    expect(profile.audit().slice(-2).map((a) => a.type)).toEqual(['attachment.saveAttempted', 'attachment.saved']);
  });
});
