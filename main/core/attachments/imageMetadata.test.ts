import { describe, expect, it } from 'vitest';
import { jpegWithExif, plainJpeg, pngWithText } from '../../../test/fixtures/attachmentFiles';
import { describeFile } from './fileFacts';
import { stripImageMetadata } from './imageMetadata';

const MARKER = 'GPS 51.5N 0.12W serial 0xCAFE';

describe('removing photo metadata before sending', () => {
  it('drops EXIF and comments from a JPEG, keeps its image data and its orientation', () => {
    const original = jpegWithExif(MARKER);
    const stripped = stripImageMetadata(original, 'image/jpeg');
    expect(stripped).toMatchObject({ width: 64, height: 48, metadataRemoved: true });
    expect(stripped.bytes.includes(MARKER)).toBe(false);
    // The scan data is there byte for byte.
    const plain = plainJpeg();
    expect(stripped.bytes.includes(plain.subarray(plain.indexOf(Buffer.from([0xff, 0xda]))))).toBe(true);
    expect(stripped.bytes.includes(Buffer.from([0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06]))).toBe(true);
  });

  it('drops text chunks from a PNG, and leaves a JPEG without metadata as it was', () => {
    const png = stripImageMetadata(pngWithText(MARKER), 'image/png');
    expect(png).toMatchObject({ width: 16, height: 16, metadataRemoved: true });
    expect(png.bytes.includes(MARKER)).toBe(false);
    const plain = plainJpeg();
    expect(stripImageMetadata(plain, 'image/jpeg').bytes).toBe(plain);
    // Bytes that say JPEG but cannot be read through are not sent at all: never with their metadata left in.
    expect(() => stripImageMetadata(Buffer.from('not an image'), 'image/jpeg')).toThrow(expect.objectContaining({ code: 'ATTACHMENT_UNREADABLE' }));
  });

  it('still removes the EXIF block when its orientation entry points outside it', () => {
    const original = jpegWithExif(MARKER);
    const tiff = original.indexOf(Buffer.from('Exif\0\0', 'latin1')) + 6;
    const damaged = Buffer.from(original);
    // The first IFD's offset, far past the block's end (reading it throws a RangeError).
    if (damaged.toString('latin1', tiff, tiff + 2) === 'II') damaged.writeUInt32LE(0xfffffff0, tiff + 4);
    else damaged.writeUInt32BE(0xfffffff0, tiff + 4);
    const stripped = stripImageMetadata(damaged, 'image/jpeg');
    expect(stripped.metadataRemoved).toBe(true);
    expect(stripped.bytes.includes(MARKER)).toBe(false);
  });

  it('sniffs the type from the bytes, whatever the name says, and makes a small preview', async () => {
    const facts = await describeFile(jpegWithExif(MARKER), 'report.pdf');
    expect(facts).toMatchObject({ contentType: 'image/jpeg', kind: 'image', metadataRemoved: true });
    expect(facts.thumbnail?.subarray(0, 2).toString('hex')).toBe('ffd8');
    expect((await describeFile(Buffer.from('%PDF-1.4\n'), 'photo.jpg')).kind).toBe('pdf');
    // Something claiming to be HEIC that cannot be decoded is refused with a reason, not sent as it is.
    const fakeHeic = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypheic\0\0\0\0mif1heic', 'latin1'), Buffer.alloc(64)]);
    await expect(describeFile(fakeHeic, 'x.heic')).rejects.toMatchObject({ code: 'ATTACHMENT_UNREADABLE' });
  });
});
