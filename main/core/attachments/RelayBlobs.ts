import type { UserId } from '../../../shared/ids';
import { BlobLimitsSchema, BlobStatusSchema, type BlobLimits, type BlobStatus } from '../../../shared/wire/blobs';
import type { Response } from 'undici';
import type { z } from 'zod';
import { realScheduler, type Cancellable, type Scheduler } from '../Clock';
import type { RelayClient } from '../messaging/RelayClient';
import { answerFrom, readBodyExactly, readSmallJson } from '../messaging/responseBody';
import type { BlobReaders } from './TransferHost';

/**
 * The relay's blob endpoints (shared/wire/blobs.ts) as the workstation uses them: every request authenticated
 * with the device credential, every answer parsed. Bodies are ciphertext only.
 */
/** How long attaching a file or opening the viewer waits for the relay's limits before going on without them. */
export const LIMITS_WAIT_MS = 1_500;
/** After the relay did not say its limits (in time), they are not asked again for this long: no attach waits again. */
export const LIMITS_RETRY_MS = 60_000;
/** Limits known are asked again this often (a relay's --blob-max-mib changes while a workstation stays unlocked). */
export const LIMITS_REFRESH_MS = 60 * 60_000;

export class RelayBlobs {
  #known: { limits: BlobLimits; at: number } | undefined;
  #asking: Promise<BlobLimits> | undefined;
  #failedAt = -Infinity;

  constructor(private readonly relay: RelayClient, private readonly scheduler: Scheduler = realScheduler) {}

  /**
   * The largest blob this relay takes, as far as known within LIMITS_WAIT_MS; undefined when it cannot say now (out
   * of reach, or a network that connects but does not carry: the upload then refuses a file too large with the
   * relay's own error). Known limits are answered at once, and asked again in the background once an hour old.
   */
  async limits(): Promise<BlobLimits | undefined> {
    const known = this.#known;
    if (known && this.now() - known.at < LIMITS_REFRESH_MS) return known.limits;
    if (this.now() - this.#failedAt < LIMITS_RETRY_MS) return known?.limits;
    const asking = this.#ask();
    if (known) {
      // Asked again in the background: a failure is remembered in #ask, nothing more to do with it here.
      asking.catch(() => undefined);
      return known.limits;
    }
    let timer: Cancellable | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = this.scheduler.after(LIMITS_WAIT_MS, () => {
        this.#failedAt = this.now();
        resolve(undefined);
      });
    });
    return Promise.race([asking.catch(() => undefined), late]).finally(() => timer?.cancel());
  }

  private now(): number {
    return this.scheduler.now();
  }

  /** One request for the limits at a time; a failure is remembered (LIMITS_RETRY_MS), a success kept with its time. */
  #ask(): Promise<BlobLimits> {
    this.#asking ??= this.relay.http('GET', '/v1/blobs/limits', {}).then((response) => parsed(response, BlobLimitsSchema, 'blob limits')).then(
      (limits) => {
        this.#known = { limits, at: this.now() };
        this.#failedAt = -Infinity;
        return limits;
      },
      (error: unknown) => {
        this.#failedAt = this.now();
        throw error;
      },
    ).finally(() => (this.#asking = undefined));
    return this.#asking;
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
