import { describe, expect, it } from 'vitest';
import { ClipboardGuard, type ClipboardAccess } from './ClipboardGuard';

/** The OS clipboard as a value: text, or an image (what the shell's adapter reads). */
function osClipboard(): ClipboardAccess & { text: string; image: boolean } {
  return {
    text: '', image: false,
    readText() { return this.text; },
    clear() { this.text = ''; this.image = false; },
    hasImage() { return this.image; },
  };
}

describe('clearing what Rounds put on the clipboard, on lock', () => {
  it('clears an image copied from an attachment, and leaves text copied since', async () => {
    const os = osClipboard();
    const guard = new ClipboardGuard(os);
    guard.copiedImage();
    os.image = true;
    await guard.clearIfOurs();
    expect(os.image).toBe(false);

    guard.copiedImage();
    os.image = true;
    // The user copied text from elsewhere afterwards and the window reported nothing: an image is gone, text stays.
    os.image = false;
    os.text = 'ward phone 4471';
    await guard.clearIfOurs();
    expect(os.text).toBe('ward phone 4471');
    // Once cleared, the next lock does nothing.
    os.image = true;
    await guard.clearIfOurs();
    expect(os.image).toBe(true);
  });
});
