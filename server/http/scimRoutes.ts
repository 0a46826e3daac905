/*
 * SCIM 2.0 on the relay, at /scim/v2 (issue 18): the bearer token is checked before the body is read (a
 * missing, unknown, revoked or expired token is a 401 with a SCIM error and `WWW-Authenticate: Bearer`, audited by
 * episode per address and reason, so a misconfigured identity provider retrying all day writes a handful of
 * records); each token has its own request rate, shared by every relay instance on the store; the raw body
 * (at most 1 MiB) goes to the framework-free handler (server/scim), so malformed JSON is a SCIM error too.
 * Tokens are secrets: never logged, only their hash is looked up. Directory data passes through; the request
 * log carries method, URL and status as for every route, and SCIM's filters name no patient.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { describeError } from '../../shared/errors';
import { RepeatCounter } from '../auth/RepeatCounter';
import type { RoleGroupMap } from '../roles/directoryRoleHolders';
import type { RateLimit, RateLimiter } from '../RateLimiter';
import { ScimError } from '../scim/ScimError';
import { scimErrorResponse, type ScimResponse } from '../scim/scimResponses';
import { scimTokenHash } from '../scim/scimTokens';
import type { RelayStore } from '../storage/RelayStore';
import type { ScimTokenRecord } from '../storage/ScimStore';

export const SCIM_MOUNT_PATH = '/scim/v2';
/** Entra ID sends a few hundred users per PATCH of a group at most; no SCIM request comes near this. */
export const SCIM_BODY_LIMIT = 1024 * 1024;
/** Per token, for every relay instance together: Entra ID's and Okta's provisioning runs stay well below it. */
export const SCIM_RATE: RateLimit = { amount: 1200, windowMs: 60_000 };
/**
 * Accounts one token may deactivate (or delete) in an hour, for every relay instance together. Each cuts a
 * clinician off and deletes what is queued for their workstations: a leaked token or a provider assigned to the
 * wrong group must not take a hospital down in a minute (the LDAP sync has its share rule; SCIM has this). A
 * real leaver wave past it is refused with 429, which Entra ID and Okta retry at their next cycle.
 */
export const SCIM_DEACTIVATIONS: RateLimit = { amount: 100, windowMs: 3600_000 };
/** A run of refused requests from one address for one reason ends after this long without one. */
const REFUSED_QUIET_MS = 15 * 60_000;

export interface ScimRouteOptions {
  readonly store: RelayStore;
  readonly now: () => number;
  readonly rateLimiter: RateLimiter;
  /** After a request that may have changed accounts: apply the store's control events now (cut off a deactivated person's sockets at once). */
  readonly afterChange: () => void;
  /** The client's address, as the rest of the relay takes it (trusted proxies considered). */
  readonly address: (request: FastifyRequest) => string;
  /** Each token's request rate (SCIM_RATE unless told). */
  readonly rate?: RateLimit;
  /** Each token's deactivations (SCIM_DEACTIVATIONS unless told). */
  readonly deactivations?: RateLimit;
  /**
   * SCIM groups whose members hold on-call roles (config `scim.roleGroups`): the roles mapped to a group follow each
   * write of it in the write's transaction; the relay's hourly pass reports missing roles and oversized groups.
   */
  readonly roleGroups?: RoleGroupMap;
}

type Refusal = { readonly reason: 'missing' | 'unknown' | 'revoked' | 'expired'; readonly token?: string };

const DETAIL: Record<Refusal['reason'], string> = {
  missing: 'A SCIM bearer token is required (Authorization: Bearer).',
  unknown: 'This bearer token is not a SCIM token of this relay.',
  revoked: 'This SCIM token has been revoked.',
  expired: 'This SCIM token has expired; the relay\'s administrator makes a new one (rounds-server scim token create).',
};

function send(reply: FastifyReply, response: ScimResponse) {
  return reply.code(response.status).headers(response.headers).send(response.body ?? null);
}

export async function registerScimRoutes(app: FastifyInstance, options: ScimRouteOptions): Promise<void> {
  const refused = new RepeatCounter(REFUSED_QUIET_MS);
  const tokens = new WeakMap<FastifyRequest, ScimTokenRecord>();

  const refuse = async (request: FastifyRequest, reply: FastifyReply, refusal: Refusal) => {
    const address = options.address(request);
    const { count, audit } = refused.note(`${address}\n${refusal.reason}\n${refusal.token ?? ''}`, options.now());
    if (audit) {
      await options.store.appendAudit([{
        type: 'scim.refused', actor: `anonymous@${address}`, subject: '',
        details: { reason: refusal.reason, ...(refusal.token ? { token: refusal.token } : {}), episode: count === 1 ? 'started' : 'ongoing', requests: count },
        flagged: count === 1,
      }]);
    }
    request.log.warn({ address, reason: refusal.reason }, `SCIM request refused: ${refusal.reason} token`);
    return send(reply, scimErrorResponse(new ScimError(401, null, DETAIL[refusal.reason]), { 'www-authenticate': 'Bearer realm="Rounds SCIM"' }));
  };

  /** Takes one of the token's deactivations this hour, or refuses (429, audited and flagged by episode). */
  const deactivationAllowed = async (request: FastifyRequest, token: string): Promise<void> => {
    const limit = options.deactivations ?? SCIM_DEACTIVATIONS;
    const decision = await options.rateLimiter.take([{ key: `scim-deactivations:${token}`, cost: 1, limit }], options.now());
    if (decision.ok) return;
    const { count, audit } = refused.note(`deactivations|${token}`, options.now());
    if (audit) {
      await options.store.appendAudit([{
        type: 'scim.refused', actor: `scim:${token}`, subject: '',
        details: { reason: 'deactivations', token, limit: limit.amount, episode: count === 1 ? 'started' : 'ongoing', requests: count },
        flagged: true,
      }]);
    }
    request.log.warn({ token }, 'SCIM deactivation refused: the token deactivated as many accounts as it may in an hour');
    throw new ScimError(429, null, `This token has deactivated ${limit.amount} accounts within the last hour, as many as the relay allows; the rest wait (ask the relay's administrator if this is a real leaver wave).`);
  };

  await app.register(async (scim) => {
    scim.removeAllContentTypeParsers();
    scim.addContentTypeParser('*', { parseAs: 'string', bodyLimit: SCIM_BODY_LIMIT }, (_request, body, done) => done(null, body));
    scim.setErrorHandler((error: unknown, request, reply) => {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 413) return send(reply, scimErrorResponse(new ScimError(413, null, `The request body is larger than ${SCIM_BODY_LIMIT} bytes.`)));
      if (status !== undefined && status >= 400 && status < 500) return send(reply, scimErrorResponse(new ScimError(400, 'invalidSyntax', 'The request could not be read.')));
      request.log.error(`SCIM: ${describeError(error)}`);
      return send(reply, scimErrorResponse(new ScimError(500, null, 'The relay could not complete the request.')));
    });

    // Before the body is read: who may send one.
    scim.addHook('onRequest', async (request, reply) => {
      const header = request.headers.authorization;
      const token = typeof header === 'string' && /^bearer /i.test(header) ? header.slice('bearer '.length).trim() : '';
      if (token === '') return refuse(request, reply, { reason: 'missing' });
      const record = await options.store.scim.tokenByHash(scimTokenHash(token));
      if (!record) return refuse(request, reply, { reason: 'unknown' });
      if (record.revokedAt !== null) return refuse(request, reply, { reason: 'revoked', token: record.name });
      if (record.expiresAt <= options.now()) return refuse(request, reply, { reason: 'expired', token: record.name });
      const decision = await options.rateLimiter.take([{ key: `scim:${record.name}`, cost: 1, limit: options.rate ?? SCIM_RATE }], options.now());
      if (!decision.ok) {
        const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
        return send(reply, scimErrorResponse(new ScimError(429, 'tooMany', 'Too many SCIM requests with this token; try again later.'), { 'retry-after': String(seconds) }));
      }
      tokens.set(request, record);
      return undefined;
    });

    const serve = async (request: FastifyRequest, reply: FastifyReply) => {
      const token = tokens.get(request);
      if (token === undefined) return refuse(request, reply, { reason: 'missing' });
      // SCIM's handlers (their filter and PATCH path parsers) are loaded by the first authorised request: a relay
      // no identity provider provisions never holds them.
      let handlers: [typeof import('../scim/scimRequestHandler'), typeof import('../scim/StoreScimDirectory')];
      try {
        handlers = await Promise.all([import('../scim/scimRequestHandler'), import('../scim/StoreScimDirectory')]);
      } catch (error) {
        // Its files replaced under a running relay (an upgrade without a restart): a SCIM answer, and the reason on the log.
        request.log.error(`SCIM: the relay could not load its SCIM handlers (restart it after an upgrade): ${describeError(error)}`);
        return send(reply, scimErrorResponse(new ScimError(500, null, 'The relay could not complete the request.')));
      }
      const [{ handleScimRequest }, { StoreScimDirectory }] = handlers;
      const directory = new StoreScimDirectory(options.store, token, options.now, {
        beforeDeactivating: () => deactivationAllowed(request, token.name), ...(options.roleGroups ? { roleGroups: options.roleGroups } : {}),
      });
      const response = await handleScimRequest(
        { method: request.method, url: request.url, body: typeof request.body === 'string' ? request.body : undefined },
        directory,
        { baseUrl: `${request.protocol}://${request.host}${SCIM_MOUNT_PATH}`, mountPath: SCIM_MOUNT_PATH, onUnexpectedError: (error) => request.log.error(`SCIM: ${describeError(error)}`) },
      );
      // The mapped roles' holders followed each group write in its own transaction (StoreScimDirectory).
      if (request.method !== 'GET') options.afterChange();
      return send(reply, response);
    };
    scim.all(SCIM_MOUNT_PATH, serve);
    scim.all(`${SCIM_MOUNT_PATH}/*`, serve);
  });
}
