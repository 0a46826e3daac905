import { describe, expect, it } from 'vitest';
import { saveFileName } from './saveFileName';

describe('the name the save dialog offers', () => {
  const save = (name: string | null) => saveFileName(name, 'attachment-1234abcd');

  it('never names a Windows device, with or without an extension, blanks or superscript digits', () => {
    for (const device of ['CON', 'con.txt', 'NUL.tar.gz', 'COM1.pdf', 'lpt9', 'COM¹.jpg', 'AUX .pdf', 'CONIN$', 'conout$.log', 'PRN.']) {
      expect(save(device).startsWith('_'), device).toBe(true);
    }
    expect(save('CON.txt')).toBe('_CON.txt');
    // Names that only start like one are left alone.
    expect(save('CONSULT.pdf')).toBe('CONSULT.pdf');
    expect(save('com10.txt')).toBe('com10.txt');
  });

  it('replaces what Windows refuses, and keeps the real extension of an overridden name', () => {
    expect(save('a<b>c:d"e|f?g*h.pdf')).toBe('a_b_c_d_e_f_g_h.pdf');
    expect(save('invoice\u202Efdp.exe')).toBe('invoicefdp.exe');
    expect(save('../../.bashrc')).toBe('_.._.bashrc');
    expect(save('report.pdf...   ')).toBe('report.pdf');
  });

  it('offers the fallback when nothing of the name is left, and stays within 255 bytes', () => {
    for (const empty of [null, '', '\u202E\u200B', '..', '???']) expect(save(empty)).toBe('attachment-1234abcd');
    const long = save(`${'é'.repeat(400)}.pdf`);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(255);
    expect(long.endsWith('.pdf')).toBe(true);
  });
});
