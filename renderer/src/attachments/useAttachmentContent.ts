import { useCallback, useEffect, useState } from 'react';
import type { MessageId } from '../../../shared/ids';
import type { Api } from '../api';
import { attachmentProblem } from './attachmentProblems';
import { readAttachment } from './readAttachment';
import type { ViewerContent } from './AttachmentViewer';
import { isHere, type LiveAttachment } from './useAttachmentProgress';

/**
 * The bytes the viewer shows: fetched first when they are not on this workstation yet (the download's progress
 * shows in the viewer), then read from the encrypted profile in chunks into memory. `contentType` is that of
 * what was read (a HEIC arrives as JPEG). Nothing is written anywhere.
 */
export function useAttachmentContent(api: Api, messageId: MessageId, attachment: LiveAttachment): { content: ViewerContent; contentType: string; retry: () => void } {
  const [content, setContent] = useState<ViewerContent>({ state: 'loading', transfer: null });
  const [contentType, setContentType] = useState(attachment.view.contentType);
  const [attempt, setAttempt] = useState(0);
  const id = attachment.view.id;
  const kind = attachment.view.kind;
  const stored = isHere(attachment.state);

  useEffect(() => {
    let live = true;
    setContent({ state: 'loading', transfer: null });
    void (async () => {
      if (!stored) {
        const fetched = await api.call('attachments.fetch', { messageId, attachmentId: id });
        if (fetched.state !== 'stored') throw fetched.error ?? 'ATTACHMENT_NOT_STORED';
      }
      // A file the viewer cannot show is fetched (for Save, where allowed) but not read into the page.
      if (kind === 'file') {
        if (live) setContent({ state: 'ready', bytes: new Uint8Array(0) });
        return;
      }
      const read = await readAttachment(api, messageId, id, () => live);
      if (!read) return;
      setContentType(read.contentType);
      setContent({ state: 'ready', bytes: read.bytes });
    })().catch((error: unknown) => {
      if (live) setContent({ state: 'failed', message: attachmentProblem(error) });
    });
    return () => {
      live = false;
    };
    // `stored` is read once per attempt: the download's own progress does not restart the reading.
  }, [api, messageId, id, kind, attempt]);

  const transfer = content.state === 'loading' && attachment.state === 'downloading'
    ? { direction: 'download' as const, done: attachment.transferred, total: attachment.total, state: 'running' as const }
    : null;
  const retry = useCallback(() => setAttempt((n) => n + 1), []);
  return { content: content.state === 'loading' ? { state: 'loading', transfer } : content, contentType, retry };
}
