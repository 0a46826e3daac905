import type { UserId } from '../../../shared/ids';
import { BlobStatusSchema, type BlobStatus } from '../../../shared/wire/blobs';
import type { Response } from 'undici';
import type { RelayClient } from '../messaging/RelayClient';
import { answerFrom, readBodyExactly, readSmallJson } from '../messaging/responseBody';

/**
 * The relay's blob endpoints (shared/wire/blobs.ts) as the workstation uses them: every request authenticated
 * with the device credential, every answer parsed. Bodies are ciphertext only.
 */
export class RelayBlobs {
  constructor(private readonly relay: RelayClient) {}

  async create(size: number, sha256: string, readers: readonly UserId[], expiresAt: number | undefined): Promise<BlobStatus> {
    const response = await this.relay.http('POST', '/v1/blobs', { json: { size, sha256, readers, ...(expiresAt === undefined ? {} : { expiresAt }) } });
    return parsed(response, '/v1/blobs');
  }

  async status(id: string): Promise<BlobStatus> {
    return parsed(await this.relay.http('GET', `/v1/blobs/${id}/status`, {}), 'blob status');
  }

  async append(id: string, offset: number, bytes: Uint8Array, signal?: AbortSignal): Promise<BlobStatus> {
    return parsed(await this.relay.http('PATCH', `/v1/blobs/${id}`, { bytes, headers: { 'upload-offset': String(offset) }, ...(signal ? { signal } : {}) }), 'blob upload');
  }

  /** Bytes [from, to) of a blob (a Range request). */
  async read(id: string, from: number, to: number, signal?: AbortSignal): Promise<Uint8Array> {
    // Uncompressed (its length is then the Content-Length), and never more than asked for: responseBody.ts.
    const response = await this.relay.http('GET', `/v1/blobs/${id}`, { headers: { range: `bytes=${from}-${to - 1}`, 'accept-encoding': 'identity' }, ...(signal ? { signal } : {}) });
    return readBodyExactly(response, to - from, 'a range of a blob');
  }

  /** Tells the relay this device has the whole blob, verified (it may then go once every device has). */
  async fetched(id: string): Promise<void> {
    await this.relay.http('POST', `/v1/blobs/${id}/fetched`, { json: {} });
  }

  /** Names more accounts that may fetch the blob (those the message reaches as decided when it goes); never fewer. */
  async addReaders(id: string, readers: readonly UserId[]): Promise<void> {
    await this.relay.http('POST', `/v1/blobs/${id}/readers`, { json: { readers } });
  }

  /** Withdraws the blob from the relay (the uploader only), finished or not: its message will not go. */
  async withdraw(id: string): Promise<void> {
    await this.relay.http('DELETE', `/v1/blobs/${id}`, {});
  }
}

async function parsed(response: Response, what: string): Promise<BlobStatus> {
  return answerFrom(BlobStatusSchema, await readSmallJson(response), what, response.status);
}
