import { useCallback, useEffect, useRef, useState } from 'react';
import { MAX_ATTACHMENTS_PER_MESSAGE, type StagedAttachmentView, type StagingId } from '../../../shared/attachmentContract';
import type { Api } from '../api';
import { attachmentProblem } from './attachmentProblems';
import { toBase64 } from './base64';

/**
 * A file picked, dropped or pasted into the composer, on its way into the core: read in chunks and handed
 * over (`attachments.stage*`), where its type is sniffed, its metadata removed and its thumbnail made.
 */
export interface StagedFile {
  readonly key: number;
  readonly name: string;
  readonly size: number;
  /** The type the browser guessed (from the name): only for the icon until the core has sniffed the bytes. */
  readonly guessedType: string;
  readonly state: 'staging' | 'ready' | 'failed' | 'cancelled';
  readonly done: number;
  readonly staged: StagedAttachmentView | null;
  readonly problem: string | null;
}

export interface StagedFiles {
  readonly files: readonly StagedFile[];
  add(files: Iterable<File>): void;
  remove(key: number): void;
  retry(key: number): void;
  /** Staged files are spent once a message took them: forget them without discarding. */
  sent(): void;
  /** The staging ids of the files ready to go, or null while one is still being staged or has failed. */
  readonly readyIds: StagingId[] | null;
  /** Why no more can be added (the per-message limit), if so. */
  readonly full: boolean;
}

/** Stages the composer's files. `maxBytes`: the policy's limit, checked here before a byte is read. */
export function useStagedFiles(api: Api, maxBytes: number | null): StagedFiles {
  const [files, setFiles] = useState<StagedFile[]>([]);
  const sources = useRef(new Map<number, File>());
  /** Keys whose staging the user stopped (the loop checks between chunks). */
  const stopped = useRef(new Set<number>());
  const stagingIds = useRef(new Map<number, StagingId>());
  const nextKey = useRef(0);
  const mounted = useRef(true);

  const update = useCallback((key: number, change: Partial<StagedFile>) => {
    if (mounted.current) setFiles((list) => list.map((f) => (f.key === key ? { ...f, ...change } : f)));
  }, []);

  const stage = useCallback(async (key: number, file: File) => {
    stopped.current.delete(key);
    update(key, { state: 'staging', done: 0, problem: null, staged: null });
    if (maxBytes !== null && file.size > maxBytes) {
      update(key, { state: 'failed', problem: attachmentProblem('ATTACHMENT_TOO_LARGE', maxBytes) });
      return;
    }
    if (file.size === 0) {
      update(key, { state: 'failed', problem: 'This file is empty.' });
      return;
    }
    try {
      const { stagingId, chunkBytes } = await api.call('attachments.stageBegin', { size: file.size, ...(file.name.trim() ? { fileName: file.name.slice(0, 255) } : {}) });
      stagingIds.current.set(key, stagingId);
      for (let offset = 0; offset < file.size; offset += chunkBytes) {
        if (stopped.current.has(key)) return;
        const chunk = new Uint8Array(await file.slice(offset, offset + chunkBytes).arrayBuffer());
        await api.call('attachments.stageChunk', { stagingId, offset, data: toBase64(chunk) });
        update(key, { done: Math.min(file.size, offset + chunk.length) });
      }
      if (stopped.current.has(key)) return;
      const staged = await api.call('attachments.stageFinish', { stagingId });
      update(key, { state: 'ready', staged, done: file.size });
    } catch (error) {
      if (!stopped.current.has(key)) update(key, { state: 'failed', problem: attachmentProblem(error, maxBytes ?? undefined) });
    }
  }, [api, maxBytes, update]);

  const discard = useCallback((key: number) => {
    stopped.current.add(key);
    const stagingId = stagingIds.current.get(key);
    stagingIds.current.delete(key);
    if (stagingId) void api.call('attachments.stageDiscard', { stagingId }).catch(() => undefined);
  }, [api]);

  useEffect(() => {
    mounted.current = true;
    const keys = stagingIds.current;
    return () => {
      mounted.current = false;
      // Leaving the conversation drops what was not sent (the core holds staged bytes in memory only).
      for (const key of [...keys.keys()]) discard(key);
    };
  }, [discard]);

  const add = useCallback((picked: Iterable<File>) => {
    const room = MAX_ATTACHMENTS_PER_MESSAGE - files.length;
    const accepted = [...picked].slice(0, Math.max(0, room));
    const added = accepted.map((file) => {
      const key = nextKey.current++;
      sources.current.set(key, file);
      const entry: StagedFile = { key, name: file.name || 'Pasted image', size: file.size, guessedType: file.type, state: 'staging', done: 0, staged: null, problem: null };
      return { file, entry };
    });
    setFiles((list) => [...list, ...added.map((a) => a.entry)]);
    for (const { file, entry } of added) void stage(entry.key, file);
  }, [files.length, stage]);

  const remove = useCallback((key: number) => {
    discard(key);
    sources.current.delete(key);
    setFiles((list) => list.filter((f) => f.key !== key));
  }, [discard]);

  const retry = useCallback((key: number) => {
    const file = sources.current.get(key);
    if (!file) return;
    discard(key);
    void stage(key, file);
  }, [discard, stage]);

  const sent = useCallback(() => {
    stagingIds.current.clear();
    sources.current.clear();
    setFiles([]);
  }, []);

  const ids = files.flatMap((f) => (f.state === 'ready' && f.staged ? [f.staged.stagingId] : []));
  return {
    files,
    add,
    remove,
    retry,
    sent,
    readyIds: ids.length === files.length ? ids : null,
    full: files.length >= MAX_ATTACHMENTS_PER_MESSAGE,
  };
}
