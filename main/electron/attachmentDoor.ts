import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClipboardItem, app, clipboard, dialog, nativeImage, type BrowserWindow } from 'electron';
import type { AttachmentDoor } from '../core/attachments/AttachmentOpening';
import { markAsDownloaded } from '../core/attachments/downloadMarks';

/**
 * Saving and copying attachments in the desktop app (issue 20): the OS save dialog (in Downloads by default),
 * the file written there and marked as downloaded from the internet (main/core/attachments/downloadMarks.ts),
 * images put on the clipboard as images. The core checks the policy before it calls either.
 */
export function electronAttachmentDoor(window: BrowserWindow): AttachmentDoor {
  return {
    saveFile: async (suggestedName, _contentType, bytes) => {
      // Whatever the sender called it, a name only: no folders, no characters Windows refuses.
      const safeName = [...suggestedName].map((c) => (c.charCodeAt(0) < 0x20 || '\\/:*?"<>|'.includes(c) ? '_' : c)).join('').slice(0, 200) || 'attachment';
      const choice = await dialog.showSaveDialog(window, { defaultPath: join(app.getPath('downloads'), safeName) });
      if (choice.canceled || !choice.filePath) return null;
      writeFileSync(choice.filePath, bytes);
      markAsDownloaded(choice.filePath, Date.now());
      return choice.filePath;
    },
    copyImage: async (bytes) => {
      const png = nativeImage.createFromBuffer(bytes).toPNG();
      await clipboard.write([new ClipboardItem({ 'image/png': new Blob([new Uint8Array(png)], { type: 'image/png' }) })]);
    },
  };
}
