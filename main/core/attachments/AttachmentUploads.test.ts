import { describe, expect, it } from 'vitest';
import { MAX_BLOB_CHUNK_BYTES } from '../../../shared/wire/blobs';
import { nextChunk } from './AttachmentUploads';

/*
 * What an upload sends next, as a relay's blob status asks for it (issue 20): a hostile or broken relay can neither
 * make the workstation read a gigabyte of the profile into one request nor walk an upload backwards or past its end.
 */
describe('the next chunk of an upload, as the relay asks for it', () => {
  const MiB = 1024 * 1024;

  it('sends from what the relay holds, at most its chunk size and never more than the client maximum', () => {
    expect(nextChunk({ received: 0, chunkBytes: MiB }, 10 * MiB, 0)).toEqual({ offset: 0, end: MiB });
    expect(nextChunk({ received: 9 * MiB + 5, chunkBytes: MiB }, 10 * MiB, MiB)).toEqual({ offset: 9 * MiB + 5, end: 10 * MiB });
    // A relay announcing 1 GiB chunks gets the client's 4 MiB.
    expect(nextChunk({ received: 0, chunkBytes: 1024 * MiB }, 100 * MiB, 0)).toEqual({ offset: 0, end: MAX_BLOB_CHUNK_BYTES });
  });

  it('refuses a relay that says it holds less than before, or more than the blob, with a clear typed error', () => {
    expect(() => nextChunk({ received: MiB, chunkBytes: MiB }, 10 * MiB, 2 * MiB)).toThrow(expect.objectContaining({
      name: 'RelayRequestError', code: 'BAD_RESPONSE', message: `the relay says it holds ${MiB} bytes of a blob after it held ${2 * MiB}: the upload stops`,
    }));
    expect(() => nextChunk({ received: 11 * MiB, chunkBytes: MiB }, 10 * MiB, 0)).toThrow(expect.objectContaining({ code: 'BAD_RESPONSE', message: expect.stringMatching(/of a blob of 10485760/) }));
  });
});
