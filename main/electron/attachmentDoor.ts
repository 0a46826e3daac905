import { basename, join } from 'node:path';
import { ClipboardItem, app, clipboard, dialog, nativeImage, type BrowserWindow } from 'electron';
import type { AttachmentDoor } from '../core/attachments/AttachmentOpening';
import { RoundsError } from '../core/errors';

/**
 * Saving and copying attachments in the desktop app (issue 20): only what needs Electron. The core checks the
 * policy, makes the offered name safe, writes and marks the saved copy and audits both (AttachmentOpening.ts); here,
 * the OS save dialog (in Downloads by default) and the image onto the clipboard.
 */
export function electronAttachmentDoor(window: BrowserWindow): AttachmentDoor {
  return {
    chooseSavePath: async (suggestedName) => {
      // The core made the name safe; basename() once more, so no name can point the dialog at another folder.
      const choice = await dialog.showSaveDialog(window, { defaultPath: join(app.getPath('downloads'), basename(suggestedName)), properties: ['showOverwriteConfirmation'] });
      return choice.canceled || !choice.filePath ? null : choice.filePath;
    },
    copyImage: async (bytes) => {
      const image = nativeImage.createFromBuffer(bytes);
      // Bytes the OS cannot decode give an empty image: say so rather than put nothing on the clipboard.
      if (image.isEmpty()) throw new RoundsError('ATTACHMENT_UNREADABLE', 'the image could not be decoded for the clipboard');
      const png = image.toPNG();
      await clipboard.write([new ClipboardItem({ 'image/png': new Blob([new Uint8Array(png)], { type: 'image/png' }) })]);
    },
  };
}
