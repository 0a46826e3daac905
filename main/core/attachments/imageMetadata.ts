/*
 * Removing location and device data from photos before they are sent (issue 20), losslessly: the image data is
 * copied byte for byte and only metadata is left out, so a wound photo keeps every pixel it had.
 * - JPEG: every APPn segment but APP0 (JFIF), APP2 holding an ICC colour profile and APP14 (Adobe colour
 *   transform) goes, with the comment segments (COM): that is EXIF (APP1, with GPS, camera, serial numbers,
 *   times and a thumbnail of the original), XMP (APP1), IPTC/Photoshop (APP13) and makers' own (APP3-APP12,
 *   APP15). Only the EXIF orientation survives, in a new APP1 holding that one tag: a portrait photo must not
 *   turn on its side.
 * - PNG: the eXIf, tEXt, zTXt, iTXt and tIME chunks go.
 * A library that re-encodes (sharp, canvas) would lose quality and add a native dependency; this needs neither.
 */
import { RoundsError } from '../errors';

export interface ImageFacts {
  readonly width: number | null;
  readonly height: number | null;
  /** Whether anything was removed. */
  readonly metadataRemoved: boolean;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_METADATA = new Set(['eXIf', 'tEXt', 'zTXt', 'iTXt', 'tIME']);
/** Start-of-frame markers (SOF0-SOF15 but DHT, JPG and DAC), which carry the image's size. */
const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** The image without its metadata, and its size; bytes that are not a well-formed JPEG or PNG come back as they were. */
export function stripImageMetadata(bytes: Buffer, contentType: string): { bytes: Buffer } & ImageFacts {
  try {
    if (contentType === 'image/jpeg') return stripJpeg(bytes);
    if (contentType === 'image/png') return stripPng(bytes);
  } catch (error) {
    // A photo whose first bytes say JPEG or PNG but that cannot be read through: its location and camera data
    // cannot be taken out, so it is not sent (never as it is, with them).
    throw new RoundsError('ATTACHMENT_UNREADABLE', 'this photo could not be read to remove its location and camera data, so it was not attached', { cause: error });
  }
  return { bytes, width: null, height: null, metadataRemoved: false };
}

function keepJpegSegment(marker: number, body: Buffer): boolean {
  if (marker === 0xe0 || marker === 0xee) return true;
  if (marker === 0xe2) return body.subarray(0, 12).toString('latin1') === 'ICC_PROFILE\0';
  return !(marker >= 0xe1 && marker <= 0xef) && marker !== 0xfe;
}

function stripJpeg(bytes: Buffer): { bytes: Buffer } & ImageFacts {
  if (bytes.readUInt16BE(0) !== 0xffd8) throw new Error('not a JPEG');
  const kept: Buffer[] = [bytes.subarray(0, 2)];
  let removed = false;
  let width: number | null = null;
  let height: number | null = null;
  let orientation = 1;
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) throw new Error('lost in the JPEG segments');
    const marker = bytes[at + 1] ?? 0;
    if (marker === 0xff) { at += 1; continue; }
    // Start of scan: the image data follows, to the end; nothing after it is parsed.
    if (marker === 0xda || marker === 0xd9) { kept.push(bytes.subarray(at)); at = bytes.length; break; }
    const length = bytes.readUInt16BE(at + 2);
    const segment = bytes.subarray(at, at + 2 + length);
    const body = segment.subarray(4);
    if (SOF.has(marker)) { height = body.readUInt16BE(1); width = body.readUInt16BE(3); }
    if (marker === 0xe1 && body.subarray(0, 6).toString('latin1') === 'Exif\0\0') orientation = exifOrientation(body.subarray(6)) ?? orientation;
    if (keepJpegSegment(marker, body)) kept.push(segment);
    else removed = true;
    at += 2 + length;
  }
  if (at < bytes.length) throw new Error('JPEG without image data');
  if (orientation !== 1) kept.splice(1, 0, orientationSegment(orientation));
  return { bytes: removed ? Buffer.concat(kept) : bytes, width: width || null, height: height || null, metadataRemoved: removed };
}

/** The Orientation tag (0x0112) of an EXIF block's first IFD (its TIFF header first), or null. */
function exifOrientation(tiff: Buffer): number | null {
  try {
    return orientationTag(tiff);
  } catch {
    return null; // a damaged EXIF block: the photo keeps its default orientation, and loses the block all the same
  }
}

function orientationTag(tiff: Buffer): number | null {
  const little = tiff.toString('latin1', 0, 2) === 'II';
  const u16 = (o: number) => (little ? tiff.readUInt16LE(o) : tiff.readUInt16BE(o));
  const u32 = (o: number) => (little ? tiff.readUInt32LE(o) : tiff.readUInt32BE(o));
  const ifd = u32(4);
  const entries = u16(ifd);
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + i * 12;
    if (u16(entry) === 0x0112) {
      const value = u16(entry + 8);
      return value >= 1 && value <= 8 ? value : null;
    }
  }
  return null;
}

/** An APP1 segment with an EXIF block of one tag: the orientation. */
function orientationSegment(orientation: number): Buffer {
  const tiff = Buffer.alloc(8 + 2 + 12 + 4);
  tiff.write('MM', 0, 'latin1');
  tiff.writeUInt16BE(42, 2);
  tiff.writeUInt32BE(8, 4);
  tiff.writeUInt16BE(1, 8);
  tiff.writeUInt16BE(0x0112, 10);
  tiff.writeUInt16BE(3, 12); // SHORT
  tiff.writeUInt32BE(1, 14);
  tiff.writeUInt16BE(orientation, 18);
  const body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const head = Buffer.alloc(4);
  head.writeUInt16BE(0xffe1, 0);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
}

function stripPng(bytes: Buffer): { bytes: Buffer } & ImageFacts {
  if (!bytes.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error('not a PNG');
  const kept: Buffer[] = [bytes.subarray(0, 8)];
  let removed = false;
  let width: number | null = null;
  let height: number | null = null;
  let at = 8;
  while (at + 12 <= bytes.length) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    const chunk = bytes.subarray(at, at + 12 + length);
    if (chunk.length !== 12 + length) throw new Error('PNG chunk cut short');
    if (type === 'IHDR') { width = bytes.readUInt32BE(at + 8); height = bytes.readUInt32BE(at + 12); }
    if (PNG_METADATA.has(type)) removed = true;
    else kept.push(chunk);
    at += 12 + length;
    if (type === 'IEND') break;
  }
  return { bytes: removed ? Buffer.concat(kept) : bytes, width: width || null, height: height || null, metadataRemoved: removed };
}
