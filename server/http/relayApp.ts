import websocket from '@fastify/websocket';
import { isIP } from 'node:net';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { describeError } from '../../shared/errors';
import { DeviceIdSchema, UserIdSchema, type UserId } from '../../shared/ids';
import { KeyUploadSchema } from '../../shared/wire/keys';
import {
  EmergencyLoginRequestSchema,
  EnrollBeginRequestSchema,
  EnrollCompleteRequestSchema,
  LoginRequestSchema,
  SendRequestSchema,
  type RelayError,
} from '../../shared/wire/relay';
import type { AccountService } from '../AccountService';
import type { MessageService } from '../MessageService';
import { DEFAULT_CONFIG, type ConnectAdmissionLimits, type ConnectionTimeouts } from '../RelayConfig';
import { RelayFailure } from '../RelayFailure';
import type { RelayStore } from '../storage/RelayStore';
import { ConnectAdmission } from './ConnectAdmission';
import type { DeliveryHub } from './DeliveryHub';
import { EventLoopLag } from './EventLoopLag';
import { notReadyReason } from './Readiness';
import { relayLogger } from './relayLog';
import type { RelayMetrics, SignInStep } from '../metrics/RelayMetrics';
import { AuditExportQuerySchema } from '../../shared/wire/relay';
import { DirectorySearchQuerySchema } from '../../shared/wire/directory';
import { SsoBeginRequestSchema, SsoCompleteRequestSchema } from '../../shared/wire/sso';
import { directoryEntries } from './directoryEntries';
import type { AuditKey } from '../audit/auditKey';
import type { CheckpointMemory } from '../audit/checkpointMemory';
import { InMemoryRateLimiter, type RateLimiter } from '../RateLimiter';
import { registerScimRoutes } from './scimRoutes';
import type { RoleGroupMap } from '../roles/directoryRoleHolders';
import { registerBlobRoutes } from './blobRoutes';
import type { BlobService } from '../BlobService';
import { registerRoleRoutes } from './roleRoutes';
import { RoleService } from '../roles/RoleService';
import { registerPresenceRoutes } from './presenceRoutes';
import { registerEscalationRoutes } from './escalationRoutes';
import type { EscalationService } from '../escalation/EscalationService';
import { PresenceService } from '../presence/PresenceService';

export interface RelayAppOptions {
  readonly accounts: AccountService;
  readonly messages: MessageService;
  /** Acknowledgements and escalation ladders (issue 19): /v1/acknowledgements, /v1/escalations. */
  readonly escalations?: EscalationService;
  readonly hub: DeliveryHub;
  readonly store: RelayStore;
  /** A user's status was set here (issue 19): the relay tells the connected workstations. */
  readonly presenceChanged?: (userId: UserId) => void;
  readonly now: () => number;
  readonly maxEnvelopeBytes: number;
  readonly keysLowThreshold: number;
  /** `minVersion`: TLSv1.2 (AEAD suites only) or TLSv1.3 only. */
  readonly tls?: { readonly key: Buffer; readonly cert: Buffer; readonly minVersion: TlsMinVersion };
  readonly timeouts: ConnectionTimeouts;
  /** The level of the request log when no `logger` is given (a JSON log on standard error at that level). */
  readonly logLevel: 'silent' | 'error' | 'warn' | 'info';
  /** The relay's JSON log (relayLog.ts), which the request log and the sign-in warnings join. */
  readonly logger?: Logger;
  /** Where refused sign-ins are counted (the metrics listener serves them). */
  readonly metrics?: Pick<RelayMetrics, 'signInRefused'>;
  /** True once the relay is closing: /readyz then says not ready. */
  readonly shuttingDown?: () => boolean;
  /** The org audit key: with it, the compliance role can export the audit log through the API. */
  /** The org audit key, read for each export (so a rotation applies without a restart). */
  readonly auditKey?: () => AuditKey;
  readonly auditCheckpoints?: CheckpointMemory;
  /** Proxies whose X-Forwarded-For names the client (ServeOptions.trustProxy); none by default. */
  readonly trustProxy?: readonly string[];
  /** When `/v1/ws` sheds new connects (503, Retry-After); DEFAULT_CONFIG's without it. */
  readonly admission?: ConnectAdmissionLimits;
  /**
   * SCIM at /scim/v2 (scimRoutes.ts): the limiter its per-token rate is kept in (shared by the instances on
   * a PostgreSQL store; in memory without one), and what to do after a change (apply control events now).
   */
  readonly scim?: { readonly rateLimiter: RateLimiter; readonly afterChange: () => void; readonly roleGroups?: RoleGroupMap };
  /** Attachment blobs at /v1/blobs (blobRoutes.ts, shared/wire/blobs.ts); how many transfers one device may run at once. */
  readonly blobs: BlobService;
  readonly maxBlobTransfersPerDevice?: number;
}

/**
 * The relay's HTTP(S) and WebSocket routes. Every body and frame is parsed with the shared schemas
 * before anything acts on it; every failure leaves as `{ code, message }` with a fitting status.
 * Request logs (JSON lines, relayLog.ts) carry method, URL, client address and status, never bodies or the
 * Authorization header; a refused sign-in adds a warning naming its username and address.
 */
export async function buildRelayApp(options: RelayAppOptions): Promise<FastifyInstance> {
  const { accounts, messages, hub, store } = options;
  // A send request holds up to 1000 envelopes; each is checked against the envelope limit separately.
  const bodyLimit = Math.max(1024 * 1024, Math.ceil((options.maxEnvelopeBytes * 4) / 3) * 8);
  const { headersMs, idleMs } = options.timeouts;
  // Every listener, plain (loopback) or TLS, cuts off a connection that does not finish its headers in
  // time (one that sends nothing, or half a header), that trickles a request in, or that goes silent.
  // Node checks header and request deadlines every `connectionsCheckingInterval`; the TLS handshake has
  // its own deadline. Sockets that upgraded to WebSocket are exempt (ws clears the socket timeout): the
  // delivery hub's heartbeat watches them instead.
  const requestTimeout = Math.max(30_000, headersMs);
  const server = { headersTimeout: headersMs, requestTimeout, keepAliveTimeout: 10_000, connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(headersMs / 4))) };
  const app = Fastify({
    bodyLimit,
    connectionTimeout: idleMs,
    requestTimeout,
    keepAliveTimeout: 10_000,
    loggerInstance: options.logger ?? relayLogger(options.logLevel),
    // A load balancer checks every instance every second or two: its checks would drown the request log.
    logController: new LogController({ disableRequestLogging: (request: { url?: string }) => request.url === '/readyz' || request.url === '/healthz' }),
    // Requests are checked with zod (`parse`), never with route JSON schemas: without these factories Fastify
    // loads Ajv and fast-json-stringify (~230 files, ~3 MiB of heap) at start for schemas no route has.
    schemaController: { compilersFactory: { buildValidator: noRouteSchemas, buildSerializer: noRouteSchemas } },
    // request.ip, which throttling and the audit log use, is the client's, not a load balancer's.
    trustProxy: options.trustProxy ? [...options.trustProxy] : false,
    ...(options.tls
      ? { https: { key: options.tls.key, cert: options.tls.cert, ...tlsPolicy(options.tls.minVersion), handshakeTimeout: headersMs, ...server } }
      : { http: server }),
  }) as unknown as FastifyInstance;

  await app.register(websocket, { options: { maxPayload: bodyLimit } });

  app.setErrorHandler((error: unknown, request, reply) => {
    if (error instanceof RelayFailure) return sendFailure(reply, error);
    const status = (error as { statusCode?: number }).statusCode;
    if (status === 413) return sendFailure(reply, new RelayFailure('PAYLOAD_TOO_LARGE', 'request body is too large'));
    if (status !== undefined && status >= 400 && status < 500) return sendFailure(reply, new RelayFailure('BAD_REQUEST', 'request is not valid JSON of the expected type'));
    request.log.error(`unhandled: ${describeError(error)}`);
    return sendFailure(reply, new RelayFailure('INTERNAL', 'internal error'));
  });
  app.setNotFoundHandler((_request, reply) => sendFailure(reply, new RelayFailure('NOT_FOUND', 'no such endpoint')));

  // The bearer credential travels with sign-ins too: it proves the attempt comes from that enrolled workstation.
  // Behind a trusted proxy `request.ip` comes from X-Forwarded-For: anything but an IP address there (a
  // proxy passing on what a client sent) is not taken, the connection's own address is.
  const caller = (request: FastifyRequest) => ({ address: isIP(request.ip) ? request.ip : request.socket.remoteAddress ?? 'unknown', credential: bearer(request) });
  const device = async (request: FastifyRequest) => accounts.credentials.authenticate(bearer(request), caller(request));

  app.get('/healthz', async () => ({ status: 'ok', connectedDevices: hub.connected }));
  // For a load balancer: whether to send this instance requests (its store can serve them, it is not stopping).
  app.get('/readyz', async (_request, reply) => {
    const reason = await notReadyReason(store, options.shuttingDown ?? (() => false));
    return reason === undefined ? { ready: true } : reply.status(503).send({ ready: false, reason });
  });

  /**
   * A sign-in's outcome for the operators: a refusal is counted (RelayMetrics) and logged as a warning with
   * the username (where the request names one) and the address it came from; passwords, codes and
   * enrollment ids never reach the log.
   */
  const signIn = async <T>(step: SignInStep, request: FastifyRequest, who: { username?: string }, attempt: () => Promise<T>): Promise<T> => {
    try {
      return await attempt();
    } catch (error) {
      if (error instanceof RelayFailure) {
        options.metrics?.signInRefused(step, error);
        request.log.warn({ step, code: error.code, ...who, address: caller(request).address }, `${step} refused: ${error.code}`);
      }
      throw error;
    }
  };

  app.post('/v1/enroll/begin', async (request) => {
    const body = parse(EnrollBeginRequestSchema, request.body);
    return signIn('enrollment', request, { username: body.username }, () => accounts.beginEnrollment(body.username, body.enrollmentCode, caller(request)));
  });

  app.post('/v1/enroll/complete', async (request) => {
    const body = parse(EnrollCompleteRequestSchema, request.body);
    // The enrollment id is not logged: with the TOTP secret handed out beside it, it finishes an enrollment.
    return signIn('enrollment', request, {}, () => accounts.completeEnrollment(body.enrollmentId, body.password, body.totpCode, body.device, caller(request)));
  });

  app.post('/v1/login', async (request) => {
    const body = parse(LoginRequestSchema, request.body);
    return signIn('sign-in', request, { username: body.username }, () => accounts.login(body.username, body.password, body.totpCode, body.device, caller(request)));
  });

  app.post('/v1/login/emergency', async (request) => {
    const body = parse(EmergencyLoginRequestSchema, request.body);
    return signIn('emergency', request, { username: body.username }, () => accounts.emergencyLogin(body.username, body.emergencyCode, body.device, caller(request)));
  });

  // Single sign-on (issue 18): codes, verifiers and states are secrets of the sign-in and are not logged.
  app.get('/v1/sso', async () => accounts.ssoProvider());

  app.post('/v1/sso/begin', async (request) => {
    const body = parse(SsoBeginRequestSchema, request.body);
    return signIn('sso', request, {}, () => accounts.ssoBegin(body, caller(request)));
  });

  app.post('/v1/sso/complete', async (request) => {
    const body = parse(SsoCompleteRequestSchema, request.body);
    return signIn('sso', request, {}, () => accounts.ssoComplete(body, caller(request)));
  });

  app.get('/v1/directory', async (request) => {
    await device(request);
    return { users: await directoryEntries(store, options.now(), parse(DirectorySearchQuerySchema, request.query)) };
  });

  app.get('/v1/devices', async (request) => {
    const { address } = await device(request);
    const now = options.now();
    const devices = (await store.devices(address.userId))
      .filter((d) => d.revokedAt === null && (d.expiresAt === null || d.expiresAt > now))
      .map((d) => ({ deviceId: d.deviceId, name: d.name, createdAt: d.createdAt, lastSeenAt: d.lastSeenAt }));
    return { devices };
  });

  // The compliance officer's export, from the app: a signed bundle (.zip) of the relay's audit log.
  app.get('/v1/audit/export', async (request, reply) => {
    const { address } = await device(request);
    const user = await store.userById(address.userId);
    if (user?.role !== 'compliance') throw new RelayFailure('FORBIDDEN', 'only the compliance role may export the audit log');
    if (!options.auditKey) throw new RelayFailure('NOT_FOUND', 'this relay has no audit key');
    const query = parse(AuditExportQuerySchema, request.query);
    let subject: string | null = null;
    if (query.user) {
      const target = await store.userByUsername(query.user);
      if (!target) throw new RelayFailure('NOT_FOUND', 'no such account');
      subject = target.id;
    }
    // The bundle's builder (its report, tiles, zip) is loaded on the first export, not held by every relay from its start.
    const [{ buildRelayBundle }, { auditDirectory }, { zipSync }] = await Promise.all([import('../audit/exportAudit'), import('../audit/auditDirectory'), import('fflate')]);
    const { files } = await buildRelayBundle(store, options.auditKey(), {
      from: query.from, to: query.to, user: subject, ...(query.user ? { username: query.user } : {}), actor: `${address.userId}.${address.deviceId}`,
      directory: await auditDirectory(store), ...(options.auditCheckpoints ? { memory: options.auditCheckpoints } : {}),
    });
    return reply.header('content-type', 'application/zip').header('content-disposition', 'attachment; filename="rounds-relay-audit.zip"').send(Buffer.from(zipSync(Object.fromEntries(files), { level: 6 })));
  });

  app.put('/v1/keys', async (request) => {
    const { address } = await device(request);
    return { preKeys: await messages.uploadKeys(address, parse(KeyUploadSchema, request.body)) };
  });

  app.get('/v1/keys/count', async (request) => {
    const { address } = await device(request);
    return { preKeys: await messages.keyCount(address) };
  });

  app.get('/v1/keys/:userId', async (request) => {
    const { address } = await device(request);
    const params = request.params as { userId?: string };
    const query = request.query as { device?: string };
    const userId = parse(UserIdSchema, params.userId);
    const deviceId = query.device === undefined ? undefined : parse(DeviceIdSchema, Number(query.device));
    return { bundles: await messages.bundles(address, userId, deviceId) };
  });

  app.post('/v1/messages', async (request) => {
    const { address } = await device(request);
    const { envelopes, allOwnDevices } = parse(SendRequestSchema, request.body);
    return messages.send(address, envelopes, { allOwnDevices });
  });
  // Acknowledgements and escalation ladders (issue 19).
  if (options.escalations) registerEscalationRoutes(app, { escalations: options.escalations, device });

  registerPresenceRoutes(app, { presence: new PresenceService(store, options.now, options.presenceChanged), device, charge: (address) => messages.chargeRequest(address, 'presence') });
  registerRoleRoutes(app, { store, roles: new RoleService(store, options.now), now: options.now, device });

  await registerBlobRoutes(app, { blobs: options.blobs, device, parse, maxTransfersPerDevice: options.maxBlobTransfersPerDevice ?? DEFAULT_CONFIG.blobs.maxTransfersPerDevice });

  await registerScimRoutes(app, {
    store, now: options.now, address: (request) => caller(request).address,
    rateLimiter: options.scim?.rateLimiter ?? new InMemoryRateLimiter(), afterChange: options.scim?.afterChange ?? (() => undefined),
    ...(options.scim?.roleGroups ? { roleGroups: options.scim.roleGroups } : {}),
  });

  // A connect the relay cannot take now is shed before its credential is looked at (ConnectAdmission.ts).
  const lag = new EventLoopLag();
  const admission = new ConnectAdmission(options.admission ?? DEFAULT_CONFIG.admission, options.now, () => lag.lagMs, (line) => app.log.warn(line));
  const episodes = setInterval(() => admission.endQuiet(), 5000).unref();
  app.addHook('onClose', async () => {
    lag.stop();
    clearInterval(episodes);
    admission.endAll();
  });

  app.get('/v1/ws', {
    websocket: true,
    preValidation: async (request, reply) => {
      const admitted = admission.enter();
      if (admitted instanceof RelayFailure) return sendFailure(reply, admitted);
      try {
        (request as FastifyRequest & { rounds?: unknown }).rounds = await device(request);
      } catch (error) {
        if (error instanceof RelayFailure) return sendFailure(reply, error);
        throw error;
      } finally {
        admitted.leave();
      }
    },
  }, (socket, request) => {
    const authenticated = (request as FastifyRequest & { rounds?: Awaited<ReturnType<typeof device>> }).rounds;
    if (!authenticated) {
      socket.close(4401, 'unauthenticated');
      return;
    }
    const { address, device: record, until } = authenticated;
    hub.attach(socket, address, record.credentialHash, until, options.now(), request.socket);
    store.touchDevice(address.userId, address.deviceId, options.now()).catch((error: unknown) => request.log.error(`touch failed: ${describeError(error)}`));
    // A device that connects with a low one-time key stock hears about it at once.
    messages.keyCount(address).then((count) => {
      if (count.preKeys < options.keysLowThreshold || count.kyberPreKeys < options.keysLowThreshold) hub.keysLow(address, count);
    }).catch((error: unknown) => request.log.error(`key count failed: ${describeError(error)}`));
  });

  return app;
}

export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

/**
 * TLS 1.2 at least, and for TLS 1.2 only forward-secret AEAD suites (ECDHE with AES-GCM or ChaCha20-
 * Poly1305; no CBC, no SHA-1, no static RSA): what Mozilla's "intermediate" profile and NIST SP 800-52r2
 * allow. TLS 1.3 suites are all AEAD. The relay's certificate may be ECDSA (as the deployment guide makes
 * it) or RSA.
 */
function tlsPolicy(minVersion: TlsMinVersion) {
  return {
    minVersion,
    ciphers: [
      'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
      'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
      'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
    ].join(':'),
    honorCipherOrder: true,
  } as const;
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) return undefined;
  return header.slice('Bearer '.length).trim();
}

/** Fastify's compiler factories for route JSON schemas: the relay declares none (a route that did would fail at start, saying so). */
function noRouteSchemas(): () => never {
  return () => {
    throw new Error('relay routes validate with zod (parse), not with Fastify route schemas');
  };
}

export function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new RelayFailure('BAD_REQUEST', `invalid request: ${issue?.path.join('.') || '(body)'} ${issue?.message ?? ''}`.trim());
  }
  return result.data;
}

function sendFailure(reply: FastifyReply, failure: RelayFailure) {
  const body: RelayError = { code: failure.code, message: failure.message, ...failure.extra } as RelayError;
  if (failure.extra.retryAfterSeconds !== undefined) void reply.header('retry-after', String(failure.extra.retryAfterSeconds));
  return reply.status(failure.status).send(body);
}
