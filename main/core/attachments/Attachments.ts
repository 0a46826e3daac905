import type { AttachmentPolicyView, AttachmentView, StagedAttachmentView, StagingId } from '../../../shared/attachmentContract';
import type { MessageId } from '../../../shared/ids';
import type { AttachmentPointer } from '../../../shared/payload';
import { DEFAULT_POLICY, type OrgPolicy } from '../../../shared/policy';
import { RoundsError } from '../errors';
import { consoleLogger, type Logger } from '../Logger';
import { AttachmentDownloads } from './AttachmentDownloads';
import { AttachmentOpening, type AttachmentDoor } from './AttachmentOpening';
import { AttachmentStaging } from './AttachmentStaging';
import { AttachmentUploads } from './AttachmentUploads';
import { markAsDownloaded } from './downloadMarks';
import { PendingSaves } from './PendingSaves';
import type { FileFacts } from './fileFacts';
import type { DownloadMarker } from './savedCopy';
import type { TransferHost } from './TransferHost';
import { ClamdScanner, type VirusScanner } from './VirusScanner';
import { largestPlain } from './attachmentCipher';

const MIB = 1024 * 1024;
/** A size in MiB to one decimal, rounded down (a limit is never overstated). */
const mib = (bytes: number) => (Math.floor((bytes / MIB) * 10) / 10).toFixed(1);

/** How a client handles attachments: the organisation's policy, what the door can do with files, the scanner. */
export interface AttachmentOptions {
  readonly policy?: OrgPolicy['attachments'];
  readonly door?: AttachmentDoor | null;
  /** ClamAV by default (`clamdscan`, or the policy's `clamdscanPath`); used only when the policy asks for scans. */
  readonly scanner?: VirusScanner;
  /** An image went onto the clipboard (the lock then clears it). */
  readonly onImageCopied?: () => void;
  /** Sets the OS's "downloaded from the internet" mark on a saved copy (downloadMarks.ts for this OS by default). */
  readonly markDownloaded?: DownloadMarker;
  /** Where what goes wrong in the background is reported (standard error by default). */
  readonly logger?: Logger;
}

/**
 * One profile's attachments (issue 20), as one facade over staging (the composer's files, in memory), uploads,
 * downloads and opening. The UI contract's attachment commands land here (main/core/app/attachmentHandlers.ts).
 */
export class Attachments {
  readonly staging: AttachmentStaging;
  readonly #uploads: AttachmentUploads;
  readonly #downloads: AttachmentDownloads;
  readonly #opening: AttachmentOpening;
  readonly #policy: OrgPolicy['attachments'];
  readonly #saves: PendingSaves;

  constructor(private readonly host: TransferHost, options: AttachmentOptions = {}) {
    const policy = options.policy ?? DEFAULT_POLICY.attachments;
    this.#policy = policy;
    this.staging = new AttachmentStaging(() => policy.maxBytes);
    this.#uploads = new AttachmentUploads(host);
    this.#downloads = new AttachmentDownloads(host, () => policy.autoDownloadBytes);
    this.#saves = new PendingSaves(host.db, () => host.now(), options.logger ?? consoleLogger);
    this.#opening = new AttachmentOpening(host, policy, options.door ?? null, options.scanner ?? new ClamdScanner(policy.clamdscanPath), options.onImageCopied ?? (() => undefined),
      options.markDownloaded ?? ((path) => markAsDownloaded(path, host.now())), this.#saves);
  }

  /** The policy as the UI applies it; `maxBytes` the smaller of the policy's and what the relay takes (when it said). */
  async policyView(): Promise<AttachmentPolicyView> {
    const { maxBytes, autoDownloadBytes, saveAllowed, clipboardAllowed, scanBeforeOpen } = this.#policy;
    const relay = await this.#relayLargestFile();
    return { maxBytes: Math.min(maxBytes, relay ?? maxBytes), autoDownloadBytes, saveAllowed, clipboardAllowed, scanBeforeOpen };
  }

  /** The largest file the relay takes (its blob cap less the encryption's overhead), or undefined while it cannot say. */
  #relayLargestFile(): Promise<number | undefined> {
    return this.host.blobs.limits().then((l) => l && largestPlain(l.maxBlobBytes), () => undefined);
  }

  /**
   * A file the composer attaches: refused at once when it is larger than the organisation's policy or than the relay
   * takes (its --blob-max-mib, as RelayBlobs.limits knows it), rather than halfway through its upload. A relay out of
   * reach cannot say (within 1.5 s): the file is staged, and its upload says so if it is too large after all.
   */
  async beginStaging(size: number, fileName: string | null): Promise<{ stagingId: StagingId; chunkBytes: number }> {
    const relay = await this.#relayLargestFile();
    if (relay !== undefined && size > relay && size <= this.#policy.maxBytes) {
      throw new RoundsError('ATTACHMENT_TOO_LARGE', `the relay takes files of at most ${mib(relay)} MiB; this one is ${mib(size)} MiB`);
    }
    return this.staging.begin(size, fileName);
  }

  finishStaging(stagingId: StagingId): Promise<StagedAttachmentView> {
    return this.staging.finish(stagingId);
  }

  /** The staged files a message takes (they leave staging). */
  take(ids: readonly StagingId[]): FileFacts[] {
    return this.staging.take(ids);
  }

  /** Stores the message's files for upload (inside the send's transaction). */
  storeOutgoing(messageId: MessageId, files: readonly FileFacts[]): void {
    this.#uploads.store(messageId, files);
  }

  /** Starts the uploads of a message just sent, or (none given) resumes every upload under way. */
  startUploads(messageId?: MessageId): void {
    this.#uploads.start(messageId);
  }

  /** A message that will not go: its uploads stop and its blobs are withdrawn from the relay. */
  withdraw(messageId: MessageId): Promise<void> {
    return this.#uploads.withdraw(messageId);
  }

  /**
   * At start (and unlock): uploads and downloads that a lock or quit interrupted go on where they stopped, and what
   * saves cut short by a crash left beside their destination is removed (removeInterruptedSaves).
   */
  resume(): void {
    // Asked now, so attaching a file does not wait for it.
    void Promise.resolve().then(() => this.host.blobs.limits()).catch(() => undefined);
    void this.removeInterruptedSaves().catch(() => undefined);
    this.#uploads.start();
    this.#downloads.resume();
  }

  /** Removes the temporary files of this profile's saves that a crash or power cut interrupted (PendingSaves); how many. */
  removeInterruptedSaves(): Promise<number> {
    return this.#saves.removeLeftovers();
  }

  /** A received message's pointers (inside the transaction that stores it). */
  recordIncoming(messageId: MessageId, pointers: readonly AttachmentPointer[], outgoing: boolean): void {
    this.#downloads.record(messageId, pointers, outgoing);
  }

  /** A received message's small attachments are fetched without asking. */
  arrived(messageId: MessageId): void {
    this.#downloads.fetchSmall(messageId);
  }

  views(messageIds: readonly string[]): Map<string, AttachmentView[]> {
    return this.host.store.views(messageIds);
  }

  cancel(messageId: string, id: string): void {
    this.host.store.of(messageId, id);
    if (!this.#uploads.cancel(id) && !this.#downloads.cancel(id)) throw new RoundsError('INVALID_INPUT', 'nothing is being transferred for this attachment');
  }

  retry(messageId: string, id: string): void {
    const a = this.host.store.of(messageId, id);
    if (a.state === 'uploadFailed') this.#uploads.retry(a);
    else if (a.state === 'downloadFailed' || a.state === 'remote') void this.#downloads.fetch(a).catch(() => undefined);
    else throw new RoundsError('INVALID_INPUT', `an attachment that is ${a.state} cannot be retried`);
  }

  fetch(messageId: string, id: string): Promise<AttachmentView> {
    return this.#downloads.fetch(this.host.store.of(messageId, id));
  }

  read(messageId: string, id: string, variant: 'original' | 'display', offset: number, length: number) {
    return this.#opening.read(this.host.store.of(messageId, id), variant, offset, length);
  }

  save(messageId: string, id: string): Promise<string | null> {
    return this.#opening.save(this.host.store.of(messageId, id));
  }

  copyImage(messageId: string, id: string): Promise<void> {
    return this.#opening.copyImage(this.host.store.of(messageId, id));
  }

  /** Lock or quit: transfers stop (uploads resume at the next unlock), staged files and conversions are dropped. */
  async stop(): Promise<void> {
    this.staging.clear();
    this.#opening.forget();
    await Promise.all([this.#uploads.stop(), this.#downloads.stop()]);
  }
}
