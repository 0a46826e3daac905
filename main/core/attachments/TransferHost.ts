import type { AttachmentProgressEvent, AttachmentState } from '../../../shared/attachmentContract';
import type { MessageId, UserId } from '../../../shared/ids';
import type { LocalAuditDetails, LocalAuditKind } from '../audit/LocalAudit';
import { RoundsError } from '../errors';
import { RelayRequestError } from '../messaging/RelayClient';
import type { SqlRunner } from '../storage/ProfileDatabase';
import type { AttachmentStore, StoredAttachment } from './AttachmentStore';
import type { RelayBlobs } from './RelayBlobs';

/**
 * The accounts a blob names when it is created: the message's recipients known then, and apart (`ladder`) those only
 * its escalation ladder's rungs reach, whom the relay removes again when the ladder is acknowledged before their rung.
 */
export interface BlobReaders {
  readonly readers: readonly UserId[];
  readonly ladder?: { readonly messageId: MessageId; readonly readers: readonly UserId[] } | undefined;
}

/** What uploads and downloads reach in their client (one profile's). */
export interface TransferHost {
  readonly db: SqlRunner;
  readonly store: AttachmentStore;
  readonly blobs: RelayBlobs;
  now(): number;
  running(): boolean;
  emit(event: AttachmentProgressEvent): void;
  audit<K extends LocalAuditKind>(type: K, details: LocalAuditDetails[K]): void;
  /** Every attachment of the message is on the relay: the message itself goes now (AttachedSends), with their pointers. */
  release(messageId: string): void;
  /** The user cancelled one of the message's uploads: the message will not go. */
  cancelled(messageId: string): void;
  /** Whose accounts may fetch the message's blobs from the upload on (more may be named when it goes). */
  recipients(messageId: string): BlobReaders;
  /** When the sender's retention deletes the message (the relay keeps its blobs no longer), or undefined. */
  expiresAt(sentAt: number): number | undefined;
}

/** The contract error code a failed transfer is shown with. */
export function transferErrorCode(error: unknown, cancelled: boolean): string {
  if (cancelled) return 'ATTACHMENT_CANCELLED';
  if (error instanceof RoundsError || error instanceof RelayRequestError) return error.code;
  return 'INTERNAL';
}

/** The progress event of an attachment as it is now (re-read from the store). */
export function progressOf(host: TransferHost, a: StoredAttachment, direction: 'upload' | 'download', state: AttachmentState, transferred: number, error: string | null): AttachmentProgressEvent {
  return { type: 'attachmentProgress', messageId: a.messageId, attachmentId: a.id, direction, transferred, total: a.cipherSize, state, error, at: host.now() };
}

/** Runs transfers one after another (a clinician's uplink is not helped by ten at once); each can be aborted. */
export class TransferQueue {
  #chain: Promise<void> = Promise.resolve();
  readonly #active = new Map<string, AbortController>();

  /** Queues `work` for this attachment; nothing when it is queued or running already. */
  run(id: string, work: (signal: AbortSignal) => Promise<void>): Promise<void> {
    if (this.#active.has(id)) return this.#chain;
    const controller = new AbortController();
    this.#active.set(id, controller);
    const done = this.#chain.then(() => (controller.signal.aborted ? Promise.reject(controller.signal.reason as Error) : work(controller.signal))).finally(() => this.#active.delete(id));
    this.#chain = done.catch(() => undefined);
    return done;
  }

  /** Aborts the transfer of this attachment, queued or running; false when there is none. */
  abort(id: string): boolean {
    const controller = this.#active.get(id);
    controller?.abort(new RoundsError('ATTACHMENT_CANCELLED', 'the transfer was cancelled'));
    return controller !== undefined;
  }

  abortAll(): void {
    for (const id of [...this.#active.keys()]) this.abort(id);
  }

  /** Waits for the transfers queued so far, and any queued while waiting. */
  async settled(): Promise<void> {
    for (let chain; chain !== this.#chain; ) await (chain = this.#chain);
  }
}
