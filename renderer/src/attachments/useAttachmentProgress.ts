import { useEffect, useState } from 'react';
import type { AttachmentProgressEvent, AttachmentView } from '../../../shared/attachmentContract';
import type { Api } from '../api';

export type ProgressById = ReadonlyMap<string, AttachmentProgressEvent>;

/** The latest progress event of each attachment (the core sends a few per second per transfer). */
export function useAttachmentProgress(api: Api): ProgressById {
  const [progress, setProgress] = useState<ProgressById>(new Map());
  useEffect(() => api.subscribe((event) => {
    if (event.type === 'attachmentProgress') setProgress((old) => new Map(old).set(event.attachmentId, event));
  }), [api]);
  return progress;
}

/** An attachment as it is now: its view, updated by a progress event that came after the view was read. */
export interface LiveAttachment {
  readonly view: AttachmentView;
  readonly state: AttachmentView['state'];
  readonly transferred: number;
  /** Of the transfer under way (ciphertext bytes), else the file's size. */
  readonly total: number;
  readonly error: string | null;
}

export function liveAttachment(view: AttachmentView, progress: ProgressById): LiveAttachment {
  const event = progress.get(view.id);
  if (!event) return { view, state: view.state, transferred: view.transferred, total: view.size, error: view.error };
  return { view, state: event.state, transferred: event.transferred, total: event.total, error: event.error };
}

/** Whether the file is on this workstation, ready to read: a received one once stored, the sender's own from the start. */
export function isHere(state: AttachmentView['state']): boolean {
  return state === 'stored' || state === 'uploaded' || state === 'uploading' || state === 'uploadFailed';
}
