import { randomUUID } from 'node:crypto';
import { ATTACHMENT_CHUNK_BYTES, StagingIdSchema, type StagedAttachmentView, type StagingId } from '../../../shared/attachmentContract';
import { displayFileName } from '../../../shared/fileNames';
import { RoundsError } from '../errors';
import { describeFile, type FileFacts } from './fileFacts';

/** Files staged at once per profile (a message takes up to 10). */
const MAX_STAGED = 20;

interface Staging {
  readonly fileName: string | null;
  readonly size: number;
  readonly chunks: Buffer[];
  received: number;
  facts?: FileFacts;
}

/**
 * Files the composer is attaching, before the message goes (issue 20): the bytes come in chunks over the UI
 * contract, in order, and are kept in this process's memory only: never in a temporary file. Dropped when
 * discarded, sent (taken), or the profile locks (`clear`).
 */
export class AttachmentStaging {
  readonly #staged = new Map<StagingId, Staging>();

  constructor(private readonly maxBytes: () => number) {}

  begin(size: number, fileName: string | null): { stagingId: StagingId; chunkBytes: number } {
    if (size > this.maxBytes()) throw new RoundsError('ATTACHMENT_TOO_LARGE', `the organisation's policy allows files of at most ${this.maxBytes()} bytes`);
    if (this.#staged.size >= MAX_STAGED) throw new RoundsError('ATTACHMENT_STAGING', `at most ${MAX_STAGED} files can be attached at once`);
    const stagingId = StagingIdSchema.parse(randomUUID());
    // The name as it will be shown and sent: no control, format or bidirectional characters, no path (shared/fileNames.ts).
    this.#staged.set(stagingId, { fileName: displayFileName(fileName), size, chunks: [], received: 0 });
    return { stagingId, chunkBytes: ATTACHMENT_CHUNK_BYTES };
  }

  chunk(stagingId: StagingId, offset: number, data: Buffer): number {
    const staging = this.#get(stagingId);
    if (staging.facts) throw new RoundsError('ATTACHMENT_STAGING', 'this file is staged completely already');
    if (offset !== staging.received) throw new RoundsError('ATTACHMENT_STAGING', `the next chunk starts at ${staging.received}, not ${offset}`);
    if (staging.received + data.length > staging.size) throw new RoundsError('ATTACHMENT_TOO_LARGE', 'more bytes than the size announced');
    staging.chunks.push(data);
    staging.received += data.length;
    return staging.received;
  }

  async finish(stagingId: StagingId): Promise<StagedAttachmentView> {
    const staging = this.#get(stagingId);
    if (!staging.facts) {
      if (staging.received !== staging.size) throw new RoundsError('ATTACHMENT_STAGING', `${staging.received} of ${staging.size} bytes staged`);
      staging.facts = await describeFile(Buffer.concat(staging.chunks), staging.fileName);
      staging.chunks.length = 0;
    }
    const f = staging.facts;
    return {
      stagingId, contentType: f.contentType, kind: f.kind, size: f.bytes.length, fileName: f.fileName, width: f.width, height: f.height,
      thumbnail: f.thumbnail ? f.thumbnail.toString('base64') : null, metadataRemoved: f.metadataRemoved,
    };
  }

  /** The finished files, in order, removed from staging (a message takes them). */
  take(ids: readonly StagingId[]): FileFacts[] {
    if (new Set(ids).size !== ids.length) throw new RoundsError('ATTACHMENT_STAGING', 'the same file is attached twice');
    const facts = ids.map((id) => {
      const f = this.#get(id).facts;
      if (!f) throw new RoundsError('ATTACHMENT_STAGING', 'a file is not staged completely yet (attachments.stageFinish)');
      return f;
    });
    for (const id of ids) this.#staged.delete(id);
    return facts;
  }

  discard(stagingId: StagingId): void {
    this.#staged.delete(stagingId);
  }

  /** Forgets everything staged (lock, sign-out). */
  clear(): void {
    this.#staged.clear();
  }

  #get(stagingId: StagingId): Staging {
    const staging = this.#staged.get(stagingId);
    if (!staging) throw new RoundsError('ATTACHMENT_STAGING', 'no such staged file (discarded, sent, or the profile was locked)');
    return staging;
  }
}
