import { createHash, timingSafeEqual } from 'node:crypto';

/** The OS clipboard's text, as the shell reaches it (Electron's `clipboard`). */
export interface ClipboardAccess {
  readText(): Promise<string> | string;
  clear(): void;
  /**
   * Linux's PRIMARY selection: it holds whatever text was last selected in any window, copied or not, so
   * the window's own selections (a patient's details) are in it. Cleared on every lock where it exists.
   */
  clearSelection?(): void;
  /** Whether the clipboard holds an image (attachments copied as images, issue 20). */
  hasImage?(): Promise<boolean> | boolean;
}

/**
 * Clears the clipboard on lock when it still holds text copied from Rounds (a patient's details must not
 * be pasted by the next person at a shared workstation), and leaves it alone when the user has copied
 * something else since. The window reports each copy by the SHA-256 of the text it wrote; this keeps the
 * digest, never the text (message text never crosses IPC for this).
 */
export class ClipboardGuard {
  readonly #clipboard: ClipboardAccess | undefined;
  #copied: Buffer | undefined;
  /** The last thing Rounds put on the clipboard was an image (an attachment; no digest of it is kept). */
  #copiedImage = false;

  constructor(clipboard: ClipboardAccess | undefined) {
    this.#clipboard = clipboard;
  }

  /** The window put text with this SHA-256 (hex, of the text with \n line ends) on the clipboard. */
  copied(sha256Hex: string): void {
    this.#copied = Buffer.from(sha256Hex, 'hex');
    this.#copiedImage = false;
  }

  /** Rounds put an image on the clipboard: on lock, an image still there is cleared (a photo of a wound is PHI). */
  copiedImage(): void {
    this.#copied = undefined;
    this.#copiedImage = true;
  }

  /** On lock: clears the clipboard if it still holds the last text Rounds put there (and the selection). */
  async clearIfOurs(): Promise<void> {
    const copied = this.#copied;
    const image = this.#copiedImage;
    this.#copied = undefined;
    this.#copiedImage = false;
    this.#clipboard?.clearSelection?.();
    // Whatever image is there now (ours, or one copied since: cleared either way, the safer mistake).
    if (image && this.#clipboard && (await this.#clipboard.hasImage?.())) this.#clipboard.clear();
    if (!copied || !this.#clipboard) return;
    // Line ends are compared as \n on both sides (Windows' clipboard holds \r\n).
    const text = await this.#clipboard.readText();
    const now = createHash('sha256').update(text.replace(/\r\n/g, '\n'), 'utf8').digest();
    if (now.length === copied.length && timingSafeEqual(now, copied)) this.#clipboard.clear();
  }
}
