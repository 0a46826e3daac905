import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { useEffect } from 'react';
import type { Api } from './api';

/** The text a copy or cut in the window puts on the clipboard. */
function copiedText(event: ClipboardEvent): string {
  const target = event.target;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLInputElement) {
    const { selectionStart, selectionEnd, value } = target;
    return selectionStart !== null && selectionEnd !== null ? value.slice(selectionStart, selectionEnd) : '';
  }
  return window.getSelection()?.toString() ?? '';
}

/**
 * SHA-256 (hex) with line ends as the core compares them (Windows' clipboard turns \n into \r\n). Computed
 * at once, inside the copy event, so the report is on its way before anything else (a lock) can be.
 */
function sha256Hex(text: string): string {
  return bytesToHex(sha256(new TextEncoder().encode(text.replace(/\r\n/g, '\n'))));
}

/**
 * Text copied or cut in the window is reported to the core by its SHA-256 only (never the text), so that
 * locking clears the clipboard if it still holds it. A copy from the page is written as plain text by us,
 * so the digest is of exactly what the clipboard holds; in a text field the browser's own copy is exact.
 */
export function useClipboardReports(api: Api, active: boolean): void {
  useEffect(() => {
    if (!active) return;
    const onCopy = (event: ClipboardEvent) => {
      const text = copiedText(event);
      if (!text) return;
      const field = event.target instanceof HTMLTextAreaElement || event.target instanceof HTMLInputElement;
      if (!field && event.type === 'copy' && event.clipboardData) {
        event.clipboardData.setData('text/plain', text);
        event.preventDefault();
      }
      void api.call('clipboard.copied', { sha256: sha256Hex(text) }).catch(() => undefined);
    };
    document.addEventListener('copy', onCopy, { capture: true });
    document.addEventListener('cut', onCopy, { capture: true });
    return () => {
      document.removeEventListener('copy', onCopy, { capture: true });
      document.removeEventListener('cut', onCopy, { capture: true });
    };
  }, [api, active]);
}
