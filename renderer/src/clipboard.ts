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

/** Line ends as the core compares them (Windows' clipboard turns \n into \r\n). */
async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text.replace(/\r\n/g, '\n'))));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
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
      void sha256Hex(text).then((sha256) => api.call('clipboard.copied', { sha256 })).catch(() => undefined);
    };
    document.addEventListener('copy', onCopy, { capture: true });
    document.addEventListener('cut', onCopy, { capture: true });
    return () => {
      document.removeEventListener('copy', onCopy, { capture: true });
      document.removeEventListener('cut', onCopy, { capture: true });
    };
  }, [api, active]);
}
