import { useEffect, useRef, useState } from 'react';
import type { AttachmentId } from '../../../shared/attachmentContract';
import type { MessageId } from '../../../shared/ids';
import { useApi } from '../context';
import { readAttachment } from './readAttachment';

/** Photos up to this size get a sharp preview once they are on this workstation (larger ones keep the thumbnail). */
const SHARP_PREVIEW_MAX_BYTES = 25 * 1024 * 1024;
/**
 * Decoded previews kept for scrolling back (small bitmaps, in memory only). Gone on lock: App drops them when the
 * session leaves unlocked (forgetPreviews), and the desktop app reloads its page then as well (main/electron reloadOnLock).
 */
const previews = new Map<AttachmentId, ImageBitmap>();
const KEPT = 40;
/** Counts forgetPreviews calls: a decode begun before the last one is not kept (nor drawn). */
let generation = 0;

/** Drops every decoded preview (the session was locked or signed out of): patients' photos do not outlive it. */
export function forgetPreviews(): void {
  generation++;
  for (const bitmap of previews.values()) bitmap.close();
  previews.clear();
}

/**
 * A photo in the conversation, sharp: the payload's thumbnail is small (it travels inside every message), so
 * once the photo itself is stored here it is decoded at the tile's size and drawn into a canvas over the
 * thumbnail. Straight from the bytes in memory: no URL, no file.
 */
export function SharpPreview({ messageId, attachmentId, size, width, height }: { messageId: MessageId; attachmentId: AttachmentId; size: number; width: number; height: number }) {
  const api = useApi();
  const canvas = useRef<HTMLCanvasElement>(null);
  const [image, setImage] = useState<ImageBitmap | null>(() => previews.get(attachmentId) ?? null);

  useEffect(() => {
    if (image || size > SHARP_PREVIEW_MAX_BYTES) return;
    let live = true;
    const begun = generation;
    void (async () => {
      const read = await readAttachment(api, messageId, attachmentId, () => live);
      if (!read) return;
      const ratio = window.devicePixelRatio || 1;
      const decoded = await createImageBitmap(new Blob([read.bytes.slice().buffer], { type: read.contentType }), { resizeWidth: Math.round(width * ratio), resizeHeight: Math.round(height * ratio), resizeQuality: 'high' });
      // The session locked while it was being read or decoded: the photo is not kept past the lock.
      if (begun !== generation) {
        decoded.close();
        return;
      }
      if (previews.size >= KEPT) {
        const [oldest] = previews.keys();
        if (oldest) {
          // Already drawn wherever it was shown: the canvas keeps its pixels.
          previews.get(oldest)?.close();
          previews.delete(oldest);
        }
      }
      previews.set(attachmentId, decoded);
      if (live) setImage(decoded);
    })().catch(() => undefined); // The thumbnail stays: a preview is a nicety, the viewer reports problems.
    return () => {
      live = false;
    };
  }, [api, messageId, attachmentId, image, size, width, height]);

  useEffect(() => {
    const el = canvas.current;
    if (!el || !image) return;
    el.width = image.width;
    el.height = image.height;
    el.getContext('2d')?.drawImage(image, 0, 0);
  }, [image]);

  return image ? <canvas ref={canvas} className="sharp-preview" style={{ width, height }} aria-hidden="true" /> : null;
}
