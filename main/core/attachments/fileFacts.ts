import { fileTypeFromBuffer } from 'file-type';
import heicConvert from 'heic-convert';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { AttachmentKind } from '../../../shared/attachmentContract';
import { RoundsError } from '../errors';
import { stripImageMetadata } from './imageMetadata';

/*
 * What a file is, from its bytes (never its name): its type (file-type's signatures), what the viewer does with
 * it, and for images their size and a small preview. HEIC/HEIF photos (iPhones) become JPEG on the sender: most
 * workstations cannot show HEIC, and re-encoding drops their metadata too. Works on bytes in memory only: no
 * temporary file is ever written.
 */

/** The longest side of a preview, in pixels, and the most bytes it may take in the message. */
const THUMBNAIL_SIDE = 96;
const THUMBNAIL_MAX_BYTES = 6000;
/** Images larger than this are not decoded for a preview (jpeg-js is pure JavaScript). */
const THUMBNAIL_MAX_MEGAPIXELS = 50;

export interface FileFacts {
  readonly bytes: Buffer;
  readonly contentType: string;
  readonly kind: AttachmentKind;
  readonly width: number | null;
  readonly height: number | null;
  readonly thumbnail: Buffer | null;
  readonly metadataRemoved: boolean;
  /** The name to show: a converted HEIC's becomes `.jpg`. */
  readonly fileName: string | null;
}

const HEIC = new Set(['image/heic', 'image/heif', 'image/heic-sequence', 'image/heif-sequence']);

/** The MIME type sniffed from the bytes (application/octet-stream when nothing matches; text is not told apart). */
export async function sniffContentType(bytes: Uint8Array): Promise<string> {
  return (await fileTypeFromBuffer(bytes))?.mime ?? 'application/octet-stream';
}

export function kindOf(contentType: string): AttachmentKind {
  if (contentType === 'application/pdf') return 'pdf';
  if (contentType === 'image/jpeg' || contentType === 'image/png' || contentType === 'image/gif' || contentType === 'image/webp' || HEIC.has(contentType)) return 'image';
  return 'file';
}

export function isHeic(contentType: string): boolean {
  return HEIC.has(contentType);
}

/** A HEIC/HEIF image as JPEG; ATTACHMENT_UNREADABLE when it cannot be decoded. */
export async function heicToJpeg(bytes: Uint8Array): Promise<Buffer> {
  try {
    return Buffer.from(await heicConvert({ buffer: bytes, format: 'JPEG', quality: 0.92 }) as ArrayBuffer);
  } catch (error) {
    throw new RoundsError('ATTACHMENT_UNREADABLE', 'the HEIC/HEIF image could not be decoded', { cause: error });
  }
}

/** Everything the sender needs to know about a staged file, with its metadata removed. */
export async function describeFile(original: Buffer, fileName: string | null): Promise<FileFacts> {
  let bytes = original;
  let contentType = await sniffContentType(bytes);
  let name = fileName;
  let converted = false;
  if (isHeic(contentType)) {
    bytes = await heicToJpeg(bytes);
    contentType = 'image/jpeg';
    name = name === null ? null : `${name.replace(/\.(heic|heif)$/i, '')}.jpg`;
    converted = true;
  }
  const stripped = stripImageMetadata(bytes, contentType);
  return {
    bytes: stripped.bytes, contentType, kind: kindOf(contentType), width: stripped.width, height: stripped.height,
    thumbnail: thumbnailOf(stripped.bytes, contentType, stripped.width, stripped.height),
    metadataRemoved: stripped.metadataRemoved || converted, fileName: name,
  };
}

/** A small JPEG of a JPEG or PNG (box-filtered down to THUMBNAIL_SIDE), or null when it cannot be made small enough. */
export function thumbnailOf(bytes: Buffer, contentType: string, width: number | null, height: number | null): Buffer | null {
  if (width === null || height === null || (width * height) / 1e6 > THUMBNAIL_MAX_MEGAPIXELS) return null;
  let image: { width: number; height: number; data: Uint8Array };
  try {
    if (contentType === 'image/jpeg') image = jpeg.decode(bytes, { useTArray: true, maxResolutionInMP: THUMBNAIL_MAX_MEGAPIXELS, maxMemoryUsageInMB: 1024 });
    else if (contentType === 'image/png') image = PNG.sync.read(bytes);
    else return null;
  } catch {
    return null;
  }
  const scale = Math.min(1, THUMBNAIL_SIDE / Math.max(image.width, image.height));
  const w = Math.max(1, Math.round(image.width * scale));
  const h = Math.max(1, Math.round(image.height * scale));
  const small = boxResize(image, w, h);
  for (const quality of [70, 50, 30]) {
    const encoded = jpeg.encode({ data: small, width: w, height: h }, quality).data;
    if (encoded.length <= THUMBNAIL_MAX_BYTES) return encoded;
  }
  return null;
}

/** RGBA pixels averaged down to w x h. */
function boxResize(image: { width: number; height: number; data: Uint8Array }, w: number, h: number): Buffer {
  const out = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    const y0 = Math.floor((y * image.height) / h);
    const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * image.height) / h));
    for (let x = 0; x < w; x++) {
      const x0 = Math.floor((x * image.width) / w);
      const x1 = Math.max(x0 + 1, Math.floor(((x + 1) * image.width) / w));
      let r = 0;
      let g = 0;
      let b = 0;
      // At most a few samples per axis: a preview does not need every pixel of a 12-megapixel photo.
      const stepY = Math.max(1, Math.floor((y1 - y0) / 4));
      const stepX = Math.max(1, Math.floor((x1 - x0) / 4));
      let n = 0;
      for (let sy = y0; sy < y1; sy += stepY) {
        for (let sx = x0; sx < x1; sx += stepX) {
          const i = (sy * image.width + sx) * 4;
          r += image.data[i] ?? 0;
          g += image.data[i + 1] ?? 0;
          b += image.data[i + 2] ?? 0;
          n++;
        }
      }
      const o = (y * w + x) * 4;
      out[o] = r / n;
      out[o + 1] = g / n;
      out[o + 2] = b / n;
      out[o + 3] = 255;
    }
  }
  return out;
}
