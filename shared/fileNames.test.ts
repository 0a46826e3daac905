import { describe, expect, it } from 'vitest';
import { MAX_NAME_BYTES, MAX_NAME_CHARS, displayFileName, shortenFileName, splitExtension } from './fileNames';

const utf8 = (s: string) => new TextEncoder().encode(s).length;

describe('attachment file names as Rounds shows them', () => {
  it('shows the real extension of a name that uses a right-to-left override to pose as a PDF', () => {
    // Rendered as-is, "invoice\u202Efdp.exe" reads "invoiceexe.pdf".
    expect(displayFileName('invoice\u202Efdp.exe')).toBe('invoicefdp.exe');
    expect(splitExtension(displayFileName('invoice\u202Efdp.exe')!)).toEqual({ stem: 'invoicefdp', extension: 'exe' });
    // Every embedding, override, isolate and mark, the Arabic letter mark, zero-width characters, BOM, soft hyphen, tags.
    const hidden = '\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069\u200E\u200F\u061C\u200B\u200D\uFEFF\u00AD\u{E0041}';
    expect(displayFileName(`scan${hidden}.pdf`)).toBe('scan.pdf');
  });

  it('drops C0 and C1 controls and line breaks, and turns path separators into underscores', () => {
    expect(displayFileName('a\u0000b\u0007c\u001b[31m\u0085d\u009be\u2028f\u2029g.txt')).toBe('abc[31mdefg.txt');
    expect(displayFileName('../../etc/passwd')).toBe('_.._etc_passwd');
    expect(displayFileName('C:\\Windows\\System32\\evil.dll')).toBe('C:_Windows_System32_evil.dll');
  });

  it('drops letters that draw as blanks, so they cannot push the real extension out of sight either', () => {
    expect(displayFileName('a.pdf\u3164\u3164\u3164.exe')).toBe('a.pdf.exe');
    expect(displayFileName('scan\u115F\u1160\uFFA0\u2800.pdf\uFE0F')).toBe('scan.pdf');
  });

  it('collapses blanks that would push the real extension out of sight, and trims dots and blanks at the ends', () => {
    expect(displayFileName(`report.pdf${' '.repeat(80)}.exe`)).toBe('report.pdf .exe');
    expect(displayFileName('report.pdf\u00A0\u2003\t\n.exe')).toBe('report.pdf .exe');
    expect(displayFileName('  ..hidden.txt. . ')).toBe('hidden.txt');
    expect(displayFileName('report.exe.')).toBe('report.exe');
  });

  it('shortens a very long name in the middle, keeping its extension, within characters and bytes', () => {
    const long = displayFileName(`${'a'.repeat(500)}.pdf.exe`)!;
    expect([...long].length).toBeLessThanOrEqual(MAX_NAME_CHARS);
    expect(long.endsWith('….exe')).toBe(true);
    const wide = displayFileName(`${'診'.repeat(200)}.pdf`)!;
    expect(utf8(wide)).toBeLessThanOrEqual(MAX_NAME_BYTES);
    expect(wide.endsWith('….pdf')).toBe(true);
    // A name without an extension is cut at its end, marked.
    expect(displayFileName('x'.repeat(300))!.endsWith('x…')).toBe(true);
    // Shorter still where the UI has less room (a tile): the extension stays.
    expect(shortenFileName(`report.pdf${'_'.repeat(60)}.exe`, 20)).toBe('report.pdf_____….exe');
    expect(shortenFileName('short.pdf', 20)).toBe('short.pdf');
  });

  it('answers null for a name of nothing but invisible characters, and leaves a clean name as it is', () => {
    for (const empty of [null, undefined, '', '\u202E', '...', ' \u200B ']) expect(displayFileName(empty)).toBeNull();
    for (const clean of ['wound day 5.jpg', 'ECG 12-lead.png', 'Überweisung.pdf', 'تقرير.pdf', '診療情報.pdf']) expect(displayFileName(clean)).toBe(clean);
    const once = displayFileName(`${'b'.repeat(300)}\u202E.pdf`);
    expect(displayFileName(once)).toBe(once);
  });

  it('does not take a long or blank tail for an extension', () => {
    expect(splitExtension('notes')).toEqual({ stem: 'notes', extension: '' });
    expect(splitExtension('.profile')).toEqual({ stem: '.profile', extension: '' });
    expect(splitExtension('a.verylongextensionname1')).toEqual({ stem: 'a.verylongextensionname1', extension: '' });
    expect(splitExtension('a.b c')).toEqual({ stem: 'a.b c', extension: '' });
  });
});
