/*
 * Attachment file names as the app shows them (issue 20). A name comes from whoever sent the file, and a received
 * pointer's name is the sender's client's word: an attacker's. Before it is stored, shown or offered as the save
 * dialog's default, it is made plain text that reads as it is:
 * - no control or format characters: C0/C1 controls, the bidirectional embeddings, overrides and isolates
 *   (U+202A-U+202E, U+2066-U+2069), the direction marks (U+200E/F, U+061C), zero-width characters, BOM, soft
 *   hyphen, tags (Unicode's Cc and Cf), line or paragraph separators, and letters that draw as blanks (the Hangul
 *   fillers, the blank Braille pattern) or only modify the one before (variation selectors). So "invoice\u202Efdp.exe" is shown as
 *   "invoicefdp.exe", not as "invoiceexe.pdf";
 * - no path: `/` and `\` become `_` (a name is never a folder);
 * - whitespace runs (tabs, no-break and other spaces) become one space, so blanks cannot push a real extension
 *   out of sight; no leading dots or spaces (no hidden file), no trailing dots or spaces (Windows drops them);
 * - at most MAX_NAME_CHARS characters and MAX_NAME_BYTES bytes of UTF-8, shortened in the middle: the extension
 *   always stays, after an ellipsis.
 * The operating system's own rules for a file on disk (Windows' reserved names and characters) are applied on top
 * where a file is written (main/core/attachments/saveFileName.ts). Pure, no I/O: the renderer uses it too.
 */

/** The longest name shown or stored, in characters (code points). */
export const MAX_NAME_CHARS = 120;
/** And in bytes of UTF-8 (file systems count bytes, mostly 255). */
export const MAX_NAME_BYTES = 240;
/** An extension is at most this many characters after its dot (longer: part of the name). */
const MAX_EXTENSION_CHARS = 16;

const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u115F\u1160\u3164\uFFA0\u2800]|\p{Variation_Selector}/gu;
const SEPARATORS = /[/\\]/g;
const BLANKS = /[\s\p{Zs}]+/gu;

/** UTF-8 bytes of one code point. */
function utf8Bytes(codePoint: number): number {
  return codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
}

function fits(chars: readonly string[], maxChars: number): boolean {
  return chars.length <= maxChars && chars.reduce((sum, c) => sum + utf8Bytes(c.codePointAt(0) ?? 0), 0) <= MAX_NAME_BYTES;
}

/** The name split at its last dot: `extension` without the dot ('' when there is none, or it is not one). */
export function splitExtension(name: string): { stem: string; extension: string } {
  const dot = name.lastIndexOf('.');
  const extension = dot > 0 ? name.slice(dot + 1) : '';
  if (extension === '' || [...extension].length > MAX_EXTENSION_CHARS || extension.includes(' ')) return { stem: name, extension: '' };
  return { stem: name.slice(0, dot), extension };
}

/** Shortened before its extension to at most `maxChars` characters (and MAX_NAME_BYTES), the extension kept whole after an ellipsis. */
export function shortenFileName(name: string, maxChars: number = MAX_NAME_CHARS): string {
  const chars = [...name];
  if (fits(chars, maxChars)) return name;
  const { stem, extension } = splitExtension(name);
  const tail = extension === '' ? ['…'] : ['…', '.', ...extension];
  const head = [...stem];
  while (head.length > 0 && !fits([...head, ...tail], maxChars)) head.pop();
  return [...head, ...tail].join('').replace(/^[ .]+/, '');
}

/**
 * The name as Rounds stores and shows it, or null when nothing of it is left (the UI then says "File", "Photo").
 * Idempotent: a clean name comes back as it was.
 */
export function displayFileName(raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined) return null;
  const plain = raw.normalize('NFC').replace(INVISIBLE, '').replace(SEPARATORS, '_').replace(BLANKS, ' ');
  // Dots and blanks at either end: none leading (a hidden file), none trailing (Windows drops them; "x.pdf." hides .pdf's end).
  let start = 0;
  let end = plain.length;
  while (start < end && (plain[start] === '.' || plain[start] === ' ')) start++;
  while (end > start && (plain[end - 1] === '.' || plain[end - 1] === ' ')) end--;
  const name = shortenFileName(plain.slice(start, end));
  return name === '' || name === '…' ? null : name;
}
