import { ATTACHMENT_CHUNK_BYTES, type AttachmentId } from '../../../shared/attachmentContract';
import type { MessageId } from '../../../shared/ids';
import type { Api } from '../api';
import { fromBase64Into } from './base64';

/**
 * The bytes of a stored attachment, read from the core in chunks into one array in memory (the viewer's, or a
 * sharp preview's); `contentType` of what was read (the display variant of a HEIC is a JPEG). `live()` false:
 * the caller lost interest; reading stops (and answers null).
 */
export async function readAttachment(api: Api, messageId: MessageId, attachmentId: AttachmentId, live: () => boolean): Promise<{ bytes: Uint8Array; contentType: string } | null> {
  let bytes: Uint8Array | null = null;
  let contentType = '';
  for (let offset = 0; bytes === null || offset < bytes.length;) {
    const chunk = await api.call('attachments.read', { messageId, attachmentId, variant: 'display', offset, length: ATTACHMENT_CHUNK_BYTES });
    if (!live()) return null;
    if (bytes === null) {
      bytes = new Uint8Array(chunk.total);
      contentType = chunk.contentType;
    }
    const wrote = fromBase64Into(chunk.data, bytes, offset);
    if (wrote === 0 && offset < bytes.length) throw 'ATTACHMENT_UNREADABLE';
    offset += wrote;
  }
  return { bytes, contentType };
}
