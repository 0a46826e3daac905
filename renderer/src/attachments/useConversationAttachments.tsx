import { useMemo, useRef, useState, type DragEvent, type ReactNode } from 'react';
import type { AttachmentPolicyView } from '../../../shared/attachmentContract';
import type { MessageId } from '../../../shared/ids';
import { useApi } from '../context';
import { AttachmentOpener, useAttachmentPolicy } from './AttachmentOpener';
import type { AttachmentActions } from './MessageAttachments';
import { useAttachmentProgress, type LiveAttachment, type ProgressById } from './useAttachmentProgress';
import { useStagedFiles, type StagedFiles } from './useStagedFiles';

export interface ConversationAttachments {
  readonly staging: StagedFiles;
  readonly policy: AttachmentPolicyView | null;
  readonly progress: ProgressById;
  /** The tiles' actions for one message. */
  actionsFor(messageId: MessageId): AttachmentActions;
  /** The viewer, when an attachment is open. */
  readonly viewer: ReactNode;
  /** Drag and drop of files anywhere on the conversation: `dragging` while files hover over it. */
  readonly dropTarget: { onDragEnter: (e: DragEvent) => void; onDragOver: (e: DragEvent) => void; onDragLeave: (e: DragEvent) => void; onDrop: (e: DragEvent) => void };
  readonly dragging: boolean;
}

const carriesFiles = (e: DragEvent) => [...e.dataTransfer.types].includes('Files');

/**
 * Everything about attachments one open conversation needs: the composer's staged files, the transfers'
 * progress, the tiles' open/cancel/retry, the viewer, and drag and drop onto the conversation. `canAttach`:
 * false while sending is blocked (then dropped files are ignored, as typing is).
 */
export function useConversationAttachments(onError: (error: unknown) => void, canAttach: boolean): ConversationAttachments {
  const api = useApi();
  const policy = useAttachmentPolicy(api);
  const staging = useStagedFiles(api, policy?.maxBytes ?? null);
  const progress = useAttachmentProgress(api);
  const [open, setOpen] = useState<{ messageId: MessageId; attachment: LiveAttachment } | null>(null);
  const [dragging, setDragging] = useState(false);
  const depth = useRef(0);

  const actionsFor = useMemo(() => {
    const cache = new Map<MessageId, AttachmentActions>();
    return (messageId: MessageId): AttachmentActions => {
      let actions = cache.get(messageId);
      if (!actions) {
        actions = {
          open: (attachment) => setOpen({ messageId, attachment }),
          cancel: (a) => void api.call('attachments.cancel', { messageId, attachmentId: a.id }).catch(onError),
          retry: (a) => void api.call('attachments.retry', { messageId, attachmentId: a.id }).catch(onError),
        };
        cache.set(messageId, actions);
      }
      return actions;
    };
  }, [api, onError]);

  // The open attachment follows its progress events (a download under way shows in the viewer).
  const live = open && progress.get(open.attachment.view.id);
  const attachment = open && live ? { ...open.attachment, state: live.state, transferred: live.transferred, total: live.total, error: live.error } : open?.attachment;
  const viewer = open && attachment ? <AttachmentOpener api={api} messageId={open.messageId} attachment={attachment} policy={policy} onClose={() => setOpen(null)} /> : null;

  const dropTarget = {
    onDragEnter: (e: DragEvent) => {
      if (!carriesFiles(e) || !canAttach) return;
      depth.current += 1;
      setDragging(true);
    },
    onDragOver: (e: DragEvent) => {
      if (!carriesFiles(e)) return;
      // Without this the browser would open a dropped file itself (and navigate away from Rounds).
      e.preventDefault();
      e.dataTransfer.dropEffect = canAttach ? 'copy' : 'none';
    },
    onDragLeave: (e: DragEvent) => {
      if (!carriesFiles(e)) return;
      depth.current = Math.max(0, depth.current - 1);
      if (depth.current === 0) setDragging(false);
    },
    onDrop: (e: DragEvent) => {
      if (!carriesFiles(e)) return;
      e.preventDefault();
      depth.current = 0;
      setDragging(false);
      if (canAttach && e.dataTransfer.files.length > 0) staging.add(e.dataTransfer.files);
    },
  };
  return { staging, policy, progress, actionsFor, viewer, dropTarget, dragging };
}
