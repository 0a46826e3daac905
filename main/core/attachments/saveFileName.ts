import sanitizeFilename from 'sanitize-filename';
import { displayFileName } from '../../../shared/fileNames';

/*
 * The default name the save dialog offers for an attachment (issue 20): the name as it is shown
 * (shared/fileNames.ts: no control, format or bidirectional characters, no path, the extension kept), then the file
 * systems' own rules, so that the name the dialog offers is one that can be written and means what it shows:
 * - Windows' reserved device names (CON, PRN, AUX, NUL, COM0-9, LPT0-9, with superscript digits too, CONIN$,
 *   CONOUT$), with or without an extension and trailing blanks, get a `_` in front: "CON.txt" is saved as
 *   "_CON.txt", never handed to a device;
 * - then sanitize-filename (the characters Windows refuses `<>:"/\|?*`, C0/C1 controls, "." and "..", trailing dots
 *   and spaces, at most 255 bytes), each replaced with `_`.
 */

const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)$/i;

/** What the save dialog offers: the attachment's name made safe, or `fallback` when nothing of it is left. */
export function saveFileName(raw: string | null, fallback: string): string {
  const shown = displayFileName(raw);
  if (shown === null) return fallback;
  // Windows reads a device name in what comes before the first dot ("nul.tar.gz", "COM1 .txt").
  const device = RESERVED.test((shown.split('.')[0] ?? '').trimEnd());
  const safe = sanitizeFilename(device ? `_${shown}` : shown, { replacement: '_' });
  return safe === '' || /^_+$/.test(safe) ? fallback : safe;
}
