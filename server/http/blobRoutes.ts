import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { DeviceAddress } from '../../shared/ids';
import { BlobCreateRequestSchema, BlobIdSchema, BlobReadersRequestSchema, MAX_BLOB_CHUNK_BYTES } from '../../shared/wire/blobs';
import type { BlobService } from '../BlobService';
import { RelayFailure } from '../RelayFailure';
import { TransfersUnderWay } from './TransfersUnderWay';

export interface BlobRouteOptions {
  readonly blobs: BlobService;
  /** The device a request's bearer credential names (RelayFailure UNAUTHENTICATED otherwise). */
  readonly device: (request: FastifyRequest) => Promise<{ address: DeviceAddress }>;
  readonly parse: <T extends z.ZodType>(schema: T, value: unknown) => z.infer<T>;
  /** Uploads and downloads one device may have under way on this instance at once. */
  readonly maxTransfersPerDevice: number;
}

/**
 * What a download keeps in memory besides the store's chunk in hand: the response stream's buffer. With one
 * stored chunk read at a time (at most MAX_BLOB_CHUNK_BYTES), a reader that takes nothing holds the relay to about
 * two chunks (the one the socket has not taken, the next one read), however large the blob.
 */
const DOWNLOAD_HIGH_WATER_MARK = 64 * 1024;

/** `bytes=a-b` or `bytes=a-` (one range; suffix ranges are not needed by our client). */
function parseRange(header: string | undefined): { from: number; to?: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d{1,15})-(\d{0,15})$/.exec(header.trim());
  if (!match) throw new RelayFailure('BAD_REQUEST', 'Range must be bytes=<from>-[<to>]');
  const from = Number(match[1]);
  const to = match[2] === '' ? undefined : Number(match[2]);
  if (to !== undefined && to < from) throw new RelayFailure('BAD_REQUEST', 'the Range ends before it starts');
  return to === undefined ? { from } : { from, to };
}

/** The bytes a chunk upload announces (the most a chunk may hold when it does not say). */
function announcedBytes(request: FastifyRequest): number {
  const length = Number(request.headers['content-length']);
  return Number.isSafeInteger(length) && length >= 0 ? Math.min(length, MAX_BLOB_CHUNK_BYTES) : MAX_BLOB_CHUNK_BYTES;
}

/**
 * The blob endpoints of shared/wire/blobs.ts, in a scope of their own: only here does the relay take raw
 * bytes (application/octet-stream, at most MAX_BLOB_CHUNK_BYTES a request). Bodies are never logged.
 * Every request is authenticated, charged to its device's rate and (an upload or a download) admitted among the
 * device's transfers before its body is read: a stranger's 4 MiB chunk is refused unread.
 */
export async function registerBlobRoutes(app: FastifyInstance, options: BlobRouteOptions): Promise<void> {
  const { blobs, device, parse } = options;
  const blobId = (request: FastifyRequest) => parse(BlobIdSchema, (request.params as { id?: string }).id);
  const callers = new WeakMap<FastifyRequest, DeviceAddress>();
  const caller = (request: FastifyRequest): DeviceAddress => {
    const address = callers.get(request);
    if (!address) throw new RelayFailure('UNAUTHENTICATED', 'no device credential');
    return address;
  };
  const transfers = new TransfersUnderWay(options.maxTransfersPerDevice);

  await app.register(async (scope) => {
    scope.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: MAX_BLOB_CHUNK_BYTES }, (_request, body, done) => done(null, body));

    scope.addHook('onRequest', async (request, reply) => {
      const { address } = await device(request);
      callers.set(request, address);
      const upload = request.method === 'PATCH';
      await blobs.charge(address, upload ? announcedBytes(request) : 0);
      if (upload || (request.method === 'GET' && request.routeOptions.url === '/v1/blobs/:id')) {
        const leave = transfers.enter(address);
        reply.raw.once('close', leave);
      }
    });

    scope.get('/v1/blobs/limits', { exposeHeadRoute: false }, async () => blobs.limitsAnswer());

    scope.post('/v1/blobs', async (request, reply) => {
      return reply.status(201).send(await blobs.create(caller(request), parse(BlobCreateRequestSchema, request.body)));
    });

    scope.get('/v1/blobs/:id/status', { exposeHeadRoute: false }, async (request) => blobs.status(caller(request), blobId(request)));

    scope.patch('/v1/blobs/:id', { bodyLimit: MAX_BLOB_CHUNK_BYTES }, async (request) => {
      const id = blobId(request);
      const offsetHeader = request.headers['upload-offset'];
      if (typeof offsetHeader !== 'string' || !/^\d{1,15}$/.test(offsetHeader)) throw new RelayFailure('BAD_REQUEST', 'Upload-Offset must be the number of bytes already uploaded');
      // An empty chunk (no body at all) only finishes an upload whose bytes are all there (BlobService.append).
      const body = request.body === undefined || request.body === null ? Buffer.alloc(0) : request.body;
      if (!Buffer.isBuffer(body)) throw new RelayFailure('BAD_REQUEST', 'a chunk is sent as application/octet-stream');
      return blobs.append(caller(request), id, Number(offsetHeader), body);
    });

    // No HEAD: it would answer (and once counted as a fetch) without a byte of the blob going out.
    scope.get('/v1/blobs/:id', { exposeHeadRoute: false }, async (request, reply) => {
      const address = caller(request);
      const id = blobId(request);
      const range = parseRange(request.headers.range);
      const read = await blobs.read(address, id, range);
      await blobs.charge(address, read.to - read.from);
      // Only bytes that all went out count towards a fetch (a broken-off download is none).
      reply.raw.once('finish', () => void blobs.sent(address, id, read.from, read.to, read.size).catch((error: unknown) => request.log.error(`noting a blob fetch failed: ${String(error)}`)));
      void reply.header('content-type', 'application/octet-stream').header('content-length', String(read.to - read.from)).header('accept-ranges', 'bytes').header('cache-control', 'no-store');
      if (range) void reply.status(206).header('content-range', `bytes ${read.from}-${read.to - 1}/${read.size}`);
      return reply.send(Readable.from(read.bytes, { objectMode: false, highWaterMark: DOWNLOAD_HIGH_WATER_MARK }));
    });

    // The device has the whole blob and its digest matched (a download in ranges over several instances, or resumed
    // after a relay restart, is only known to be complete this way).
    scope.post('/v1/blobs/:id/fetched', async (request) => {
      await blobs.fetched(caller(request), blobId(request));
      return {};
    });

    scope.post('/v1/blobs/:id/readers', async (request) => {
      await blobs.addReaders(caller(request), blobId(request), parse(BlobReadersRequestSchema, request.body));
      return {};
    });

    scope.delete('/v1/blobs/:id', async (request) => {
      await blobs.withdraw(caller(request), blobId(request));
      return {};
    });
  });
}
