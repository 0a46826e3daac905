import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { DeviceAddress } from '../../shared/ids';
import { BlobCreateRequestSchema, BlobIdSchema, MAX_BLOB_CHUNK_BYTES } from '../../shared/wire/blobs';
import type { BlobService } from '../BlobService';
import { RelayFailure } from '../RelayFailure';

export interface BlobRouteOptions {
  readonly blobs: BlobService;
  /** The device a request's bearer credential names (RelayFailure UNAUTHENTICATED otherwise). */
  readonly device: (request: FastifyRequest) => Promise<{ address: DeviceAddress }>;
  readonly parse: <T extends z.ZodType>(schema: T, value: unknown) => z.infer<T>;
}

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

/**
 * The blob endpoints of shared/wire/blobs.ts, in a scope of their own: only here does the relay take raw
 * bytes (application/octet-stream, at most MAX_BLOB_CHUNK_BYTES a request). Bodies are never logged.
 */
export async function registerBlobRoutes(app: FastifyInstance, options: BlobRouteOptions): Promise<void> {
  const { blobs, device, parse } = options;
  const blobId = (request: FastifyRequest) => parse(BlobIdSchema, (request.params as { id?: string }).id);
  await app.register(async (scope) => {
    scope.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: MAX_BLOB_CHUNK_BYTES }, (_request, body, done) => done(null, body));

    scope.post('/v1/blobs', async (request, reply) => {
      const { address } = await device(request);
      return reply.status(201).send(await blobs.create(address, parse(BlobCreateRequestSchema, request.body)));
    });

    scope.get('/v1/blobs/:id/status', async (request) => {
      const { address } = await device(request);
      return blobs.status(address, blobId(request));
    });

    scope.patch('/v1/blobs/:id', { bodyLimit: MAX_BLOB_CHUNK_BYTES }, async (request) => {
      const { address } = await device(request);
      const id = blobId(request);
      const offsetHeader = request.headers['upload-offset'];
      if (typeof offsetHeader !== 'string' || !/^\d{1,15}$/.test(offsetHeader)) throw new RelayFailure('BAD_REQUEST', 'Upload-Offset must be the number of bytes already uploaded');
      if (!Buffer.isBuffer(request.body)) throw new RelayFailure('BAD_REQUEST', 'a chunk is sent as application/octet-stream');
      return blobs.append(address, id, Number(offsetHeader), request.body);
    });

    scope.get('/v1/blobs/:id', async (request, reply) => {
      const { address } = await device(request);
      const id = blobId(request);
      const range = parseRange(request.headers.range);
      const read = await blobs.read(address, id, range);
      // Noted once the last byte has gone out to this device (a broken-off download is not a fetch).
      if (read.to === read.size) {
        reply.raw.once('finish', () => void blobs.fetched(address, id).catch((error: unknown) => request.log.error(`noting a blob fetch failed: ${String(error)}`)));
      }
      void reply.header('content-type', 'application/octet-stream').header('content-length', String(read.to - read.from)).header('accept-ranges', 'bytes').header('cache-control', 'no-store');
      if (range) void reply.status(206).header('content-range', `bytes ${read.from}-${read.to - 1}/${read.size}`);
      return reply.send(Readable.from(read.bytes));
    });

    scope.delete('/v1/blobs/:id', async (request) => {
      const { address } = await device(request);
      await blobs.withdraw(address, blobId(request));
      return {};
    });
  });
}
