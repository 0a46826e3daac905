import type { UserId } from '../../../shared/ids';
import { BlobLimitsSchema, BlobStatusSchema, type BlobLimits, type BlobStatus } from '../../../shared/wire/blobs';
import type { Response } from 'undici';
import type { z } from 'zod';
import type { RelayClient } from '../messaging/RelayClient';
import { answerFrom, readBodyExactly, readSmallJson } from '../messaging/responseBody';
import type { BlobReaders } from './TransferHost';

/**
 * The relay's blob endpoints (shared/wire/blobs.ts) as the workstation uses them: every request authenticated
 * with the device credential, every answer parsed. Bodies are ciphertext only.
 */
export class RelayBlobs {
  #limits: Promise<BlobLimits> | undefined;

  constructor(private readonly relay: RelayClient) {}

  /** The largest blob this relay takes (asked once per client: it changes only with the relay's configuration). */
  limits(): Promise<BlobLimits> {
    this.#limits ??= this.relay.http('GET', '/v1/blobs/limits', {}).then((response) => parsed(response, BlobLimitsSchema, 'blob limits'));
    // Not kept when it failed (offline): asked again at the next attach.
    this.#limits.catch(() => (this.#limits = undefined));
    return this.#limits;
  }

  async create(size: number, sha256: string, { readers, ladder }: BlobReaders, expiresAt: number | undefined): Promise<BlobStatus> {
    const json = { size, sha256, readers, ...(expiresAt === undefined ? {} : { expiresAt }), ...(ladder && ladder.readers.length > 0 ? { ladder } : {}) };
    const response = await this.relay.http('POST', '/v1/blobs', { json });
    return parsed(response, BlobStatusSchema, '/v1/blobs');
  }

  async status(id: string): Promise<BlobStatus> {
    return parsed(await this.relay.http('GET', `/v1/blobs/${id}/status`, {}), BlobStatusSchema, 'blob status');
  }

  async append(id: string, offset: number, bytes: Uint8Array, signal?: AbortSignal): Promise<BlobStatus> {
    return parsed(await this.relay.http('PATCH', `/v1/blobs/${id}`, { bytes, headers: { 'upload-offset': String(offset) }, ...(signal ? { signal } : {}) }), BlobStatusSchema, 'blob upload');
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

async function parsed<T extends z.ZodType>(response: Response, schema: T, what: string): Promise<z.infer<T>> {
  return answerFrom(schema, await readSmallJson(response), what, response.status);
}
