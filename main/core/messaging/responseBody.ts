import type { Response } from 'undici';
import type { z } from 'zod';
import { describeWireIssue, tolerant } from '../../../shared/wire/tolerant';
import { RelayRequestError } from './RelayRequestError';

/*
 * Reading a relay's response body within a bound (issue 20). The relay is trusted with availability, not with this
 * workstation's memory: a body read whole before its length is checked lets a faulty or hostile relay (or anything
 * between) make the app hold gigabytes. So the announced length is checked before a byte is read, and the bytes are
 * counted as they stream in; past the bound the connection is cancelled and the answer refused, typed.
 */

/** The relay sent (or announced) more bytes than the request can take: refused, the rest never read. */
export class ResponseTooLargeError extends RelayRequestError {
  constructor(what: string, limit: number, status: number) {
    super('BAD_RESPONSE', `the relay sent more than the ${limit} bytes ${what} can be`, status);
    this.name = 'ResponseTooLargeError';
  }
}

/** Error and JSON answers are small; one longer than this is not read to its end. */
export const MAX_JSON_BODY_BYTES = 256 * 1024;

/** What a body's buffer starts at; it doubles as bytes arrive, up to the bound. */
const INITIAL_BUFFER_BYTES = 64 * 1024;

/** The Content-Length the relay announced, when it is a plain byte count of what will be read (no encoding). */
function announcedLength(response: Response): number | null {
  const encoding = response.headers.get('content-encoding');
  const header = response.headers.get('content-length');
  if (header === null || (encoding !== null && encoding !== 'identity') || !/^\d{1,15}$/.test(header)) return null;
  return Number(header);
}

/**
 * The body, streamed into a buffer of at most `limit` bytes; ResponseTooLargeError as soon as the announced length
 * or the bytes received pass it (the stream is cancelled: nothing more comes over the connection).
 */
export async function readBodyAtMost(response: Response, limit: number, what: string): Promise<Uint8Array> {
  const announced = announcedLength(response);
  if (announced !== null && announced > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw new ResponseTooLargeError(what, limit, response.status);
  }
  // Grown as bytes arrive: an announced length is only a claim, and claiming 32 MiB costs a relay nothing.
  let buffer = new Uint8Array(Math.min(announced ?? limit, limit, INITIAL_BUFFER_BYTES));
  let received = 0;
  // Leaving the loop (a throw) cancels the stream.
  for await (const chunk of response.body ?? []) {
    if (received + chunk.length > limit) throw new ResponseTooLargeError(what, limit, response.status);
    if (received + chunk.length > buffer.length) {
      const grown = new Uint8Array(Math.min(limit, Math.max(buffer.length * 2, received + chunk.length)));
      grown.set(buffer.subarray(0, received));
      buffer = grown;
    }
    buffer.set(chunk, received);
    received += chunk.length;
  }
  return buffer.subarray(0, received);
}

/** Exactly `length` bytes (a blob range), or a typed refusal: more is ResponseTooLargeError, fewer BAD_RESPONSE. */
export async function readBodyExactly(response: Response, length: number, what: string): Promise<Uint8Array> {
  const bytes = await readBodyAtMost(response, length, what);
  if (bytes.length !== length) throw new RelayRequestError('BAD_RESPONSE', `the relay sent ${bytes.length} bytes of ${what} where ${length} were asked for`, response.status);
  return bytes;
}

/**
 * A successful JSON answer to one of RelayClient's requests: at most MAX_ANSWER_BYTES (the whole directory of a large
 * hospital fits many times over), ResponseTooLargeError past it (the rest never read), BAD_RESPONSE when not JSON.
 */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

export async function readJsonAnswer(response: Response, what: string): Promise<unknown> {
  const bytes = await readBodyAtMost(response, MAX_ANSWER_BYTES, `an answer from ${what}`);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch {
    throw new RelayRequestError('BAD_RESPONSE', `unexpected answer from ${what}`, response.status);
  }
}

/** The relay's signed audit bundle can be large, but not without bound. */
export const MAX_AUDIT_EXPORT_BYTES = 512 * 1024 * 1024;

/** A small JSON answer (at most MAX_JSON_BODY_BYTES), or undefined when it is longer, cut off or not JSON. */
export async function readSmallJson(response: Response): Promise<unknown> {
  try {
    return JSON.parse(new TextDecoder().decode(await readBodyAtMost(response, MAX_JSON_BODY_BYTES, 'an answer'))) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * A relay's answer read with `schema`, tolerant of fields this workstation does not know (a relay upgraded before it:
 * shared/wire/tolerant.ts); a known field of the wrong type is BAD_RESPONSE naming the field, never its value.
 */
export function answerFrom<T extends z.ZodType>(schema: T, value: unknown, what: string, status: number): z.infer<T> {
  const parsed = tolerant(schema).safeParse(value);
  if (!parsed.success) throw new RelayRequestError('BAD_RESPONSE', `unexpected answer from ${what} (${describeWireIssue(parsed.error)})`, status);
  return parsed.data;
}
