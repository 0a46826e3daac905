import type { SignedAcknowledgement } from '../../../shared/acknowledgement';
import { AcknowledgementReportResponseSchema, EscalationStateSchema, type EscalationRequest } from '../../../shared/wire/escalation';
import type { IncomingMessage } from 'node:http';
import { fetch, type Response } from 'undici';
import WebSocket from 'ws';
import type { z } from 'zod';
import type { DeviceId, UserId } from '../../../shared/ids';
import type { KeyUpload } from '../../../shared/wire/keys';
import {
  BundlesResponseSchema,
  DirectoryResponseSchema,
  OwnDevicesResponseSchema,
  EnrollBeginResponseSchema,
  KeyUploadResponseSchema,
  SendResponseSchema,
  SessionResponseSchema,
  type OutgoingEnvelope,
  type SessionResponse,
} from '../../../shared/wire/relay';
import type { PreKeyCount } from '../../../shared/wire/keys';
import { PresenceResponseSchema, PresenceSchema, type Presence, type PresenceSetRequest } from '../../../shared/wire/presence';
import { AddShiftResponseSchema, RemoveShiftResponseSchema, RoleDetailSchema, RoleSearchResponseSchema, ShiftListResponseSchema, type AddShiftRequest, type RoleId } from '../../../shared/wire/roles';
import { relayCaList, relayDispatcher, type RelayTrust } from './RelayTrust';
import { SsoBeginResponseSchema, SsoProviderResponseSchema, type SsoProviderResponse, type SsoBeginRequest, type SsoBeginResponse, type SsoCompleteRequest } from '../../../shared/wire/sso';

/** How long one HTTP request to the relay may take (an audit export included). */
const REQUEST_TIMEOUT_MS = 60_000;

import { MAX_SERVER_FRAME_BYTES, RelayConnection, type ConnectionHandlers } from './RelayConnection';
import { RelayRequestError, relayErrorBody } from './RelayRequestError';
import { MAX_AUDIT_EXPORT_BYTES, answerFrom, readBodyAtMost, readJsonAnswer, readSmallJson } from './responseBody';

export { RelayConnection, RelayRequestError, type ConnectionHandlers };

/** TLS failures that mean "this workstation does not trust who issued the relay's certificate" (Node's codes). */
const UNTRUSTED_ISSUER = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT']);
const OUT_OF_DATE = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

function unreachable(error: Error): RelayRequestError {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  const why = UNTRUSTED_ISSUER.has(code)
    ? `the relay's certificate is not trusted (${error.message}); if it comes from the hospital's own certificate authority, IT sets relayCaFile in the Rounds policy`
    : OUT_OF_DATE.has(code)
      ? `the relay's certificate is out of date (${error.message}); IT must renew it, or check this workstation's clock`
      : code === 'ERR_TLS_CERT_ALTNAME_INVALID'
        ? `the relay's certificate is not for this address (${error.message}); check the relay address, or IT must reissue the certificate`
        : `cannot reach the relay: ${error.message}`;
  return new RelayRequestError('UNREACHABLE', why, 0);
}

/** Error bodies of a refused socket open are small; a longer one, or one slower than this, is not read to its end. */
const MAX_REFUSAL_BODY = 16 * 1024;
const REFUSAL_BODY_MS = 5000;

/**
 * Why the relay refused to open the socket: its `{ code, message }` body and Retry-After (RELAY_BUSY while
 * it sheds a reconnect storm, so the link waits at least that long), or for an answer without one (a proxy's
 * error page), UNAUTHENTICATED for 401 and UNREACHABLE otherwise.
 */
async function refusedSocket(response: IncomingMessage): Promise<RelayRequestError> {
  const status = response.statusCode ?? 0;
  let text = '';
  // A body that never ends (a proxy holding the connection) must not hold up the next attempt.
  AbortSignal.timeout(REFUSAL_BODY_MS).addEventListener('abort', () => response.destroy());
  try {
    for await (const chunk of response) {
      text += String(chunk);
      if (text.length > MAX_REFUSAL_BODY) break;
    }
  } catch {
    // The body is a courtesy: the status and Retry-After are enough.
  }
  const header = Number(response.headers['retry-after'] ?? Number.NaN);
  const body = relayErrorBody((() => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  })());
  const afterMs = body?.data.retryAfterMs !== undefined ? body.data.retryAfterMs : Number.isFinite(header) && header >= 0 ? header * 1000 : undefined;
  const details = afterMs === undefined ? {} : { retryAfterMs: afterMs, retryAfterSeconds: Math.ceil(afterMs / 1000) };
  if (body) return new RelayRequestError(body.code, body.data.message, status, details);
  return new RelayRequestError(status === 401 ? 'UNAUTHENTICATED' : 'UNREACHABLE', `relay refused the connection (${status})`, status, details);
}

/*
 * HTTP and WebSocket transport to the relay. Every response and frame is parsed with the shared
 * schemas before it is used. The credential is a secret: it is sent only in the Authorization header
 * and never logged.
 */
export class RelayClient {
  #credential: string | undefined;

  readonly #trust: RelayTrust | undefined;

  /** `trust`: the hospital's own CAs for the relay's certificate (org policy `relayCaFile`), besides the public ones. */
  constructor(readonly baseUrl: string, credential?: string, trust?: RelayTrust) {
    this.#credential = credential;
    this.#trust = trust;
  }

  enrollBegin(username: string, enrollmentCode: string) {
    return this.#request('POST', '/v1/enroll/begin', EnrollBeginResponseSchema, { username, enrollmentCode });
  }

  async enrollComplete(enrollmentId: string, password: string, totpCode: string, device: { name: string; keys: KeyUpload; auditKey?: string }): Promise<SessionResponse> {
    return this.#session(await this.#request('POST', '/v1/enroll/complete', SessionResponseSchema, { enrollmentId, password, totpCode, device }));
  }

  async login(username: string, password: string, totpCode: string, device: { kind: 'new'; name: string; keys: KeyUpload; auditKey?: string } | { kind: 'existing'; deviceId: DeviceId }): Promise<SessionResponse> {
    return this.#session(await this.#request('POST', '/v1/login', SessionResponseSchema, { username, password, totpCode, device }));
  }

  /** Whether the relay offers single sign-on (its provider's name); NOT_FOUND when it does not. */
  ssoProvider(): Promise<SsoProviderResponse> {
    return this.#request('GET', '/v1/sso', SsoProviderResponseSchema);
  }

  /**
   * Single sign-on, step 1 (issue 18): the caller made a PKCE pair (keeps the verifier) and listens on a
   * loopback redirect URI (RFC 8252); it opens `authorizationUrl` in the system browser and waits for the
   * redirect carrying `state` (compare it before step 2).
   */
  ssoBegin(request: SsoBeginRequest): Promise<SsoBeginResponse> {
    return this.#request('POST', '/v1/sso/begin', SsoBeginResponseSchema, request);
  }

  /** Single sign-on, step 2: the redirect's code, state and iss (RFC 9207, whenever present) with the verifier. Secrets: never logged. */
  async ssoComplete(request: SsoCompleteRequest): Promise<SessionResponse> {
    return this.#session(await this.#request('POST', '/v1/sso/complete', SessionResponseSchema, request));
  }

  async emergencyLogin(username: string, emergencyCode: string, device: { name: string; keys: KeyUpload }): Promise<SessionResponse> {
    return this.#session(await this.#request('POST', '/v1/login/emergency', SessionResponseSchema, { username, emergencyCode, device }));
  }

  /** This account's active workstations with their names (the relay shows the names to their owner only). */
  ownDevices() {
    return this.#request('GET', '/v1/devices', OwnDevicesResponseSchema);
  }

  directory() {
    return this.#request('GET', '/v1/directory', DirectoryResponseSchema);
  }

  /** Colleagues whose name, username, department or job title contains `query` (the relay's directory search). */
  searchDirectory(query: string, limit: number) {
    return this.#request('GET', `/v1/directory?${new URLSearchParams({ q: query, limit: String(limit) }).toString()}`, DirectoryResponseSchema);
  }

  /** On-call roles whose name or department contains `query` (issue 19: the pickers). */
  searchRoles(query: string, limit: number) {
    return this.#request('GET', `/v1/roles?${new URLSearchParams({ q: query, limit: String(limit) }).toString()}`, RoleSearchResponseSchema);
  }

  /** A role with its holders now, or at `at` (a send to it encrypts to their devices), its backup and its next hand-over. */
  role(id: RoleId, at?: number) {
    return this.#request('GET', `/v1/roles/${id}${at === undefined ? '' : `?${new URLSearchParams({ at: String(at) }).toString()}`}`, RoleDetailSchema);
  }

  /** A role's shifts overlapping [from, to) (at most 31 days). */
  roleShifts(id: RoleId, from: number, to: number) {
    return this.#request('GET', `/v1/roles/${id}/shifts?${new URLSearchParams({ from: String(from), to: String(to) }).toString()}`, ShiftListResponseSchema);
  }

  /** Adds a shift to a role (the scheduler permission; FORBIDDEN otherwise). */
  addRoleShift(id: RoleId, shift: AddShiftRequest) {
    return this.#request('POST', `/v1/roles/${id}/shifts`, AddShiftResponseSchema, shift);
  }

  /** Removes a shift from a role (the scheduler permission). */
  removeRoleShift(id: RoleId, shiftId: string) {
    return this.#request('DELETE', `/v1/roles/${id}/shifts/${encodeURIComponent(shiftId)}`, RemoveShiftResponseSchema);
  }

  /** Presence (issue 19): the statuses of up to MAX_PRESENCE_QUERY users (Available for anyone without one). */
  async presence(userIds: readonly UserId[]): Promise<Presence[]> {
    return (await this.#request('GET', `/v1/presence?${new URLSearchParams({ users: userIds.join(',') }).toString()}`, PresenceResponseSchema)).presence;
  }

  /** Sets this user's own status (any of their devices may). */
  setPresence(request: PresenceSetRequest): Promise<Presence> {
    return this.#request('PUT', '/v1/presence', PresenceSchema, request);
  }

  async uploadKeys(upload: KeyUpload): Promise<PreKeyCount> {
    return (await this.#request('PUT', '/v1/keys', KeyUploadResponseSchema, upload)).preKeys;
  }

  async keyCount(): Promise<PreKeyCount> {
    return (await this.#request('GET', '/v1/keys/count', KeyUploadResponseSchema)).preKeys;
  }

  async bundles(userId: UserId, deviceId?: DeviceId) {
    const query = deviceId === undefined ? '' : `?device=${deviceId}`;
    return (await this.#request('GET', `/v1/keys/${userId}${query}`, BundlesResponseSchema)).bundles;
  }

  /** `allOwnDevices`: the envelopes go to every other device of this user too, and the relay is to hold them to it (SendRequestSchema). */
  send(envelopes: readonly OutgoingEnvelope[], allOwnDevices = false) {
    return this.#request('POST', '/v1/messages', SendResponseSchema, { envelopes, ...(allOwnDevices ? { allOwnDevices } : {}) });
  }

  /** Reports an acknowledgement this device signed (issue 19): the relay verifies, audits it and stops the message's ladders. */
  reportAcknowledgement(acknowledgement: SignedAcknowledgement) {
    return this.#request('POST', '/v1/acknowledgements', AcknowledgementReportResponseSchema, acknowledgement);
  }

  /** Hands the relay an urgent message's escalation ladder (envelopes it holds until each rung is due). */
  holdEscalation(request: EscalationRequest) {
    return this.#request('POST', '/v1/escalations', EscalationStateSchema, request);
  }

  /** The progress of one of this account's ladders. */
  escalationState(escalationId: string) {
    return this.#request('GET', `/v1/escalations/${encodeURIComponent(escalationId)}`, EscalationStateSchema);
  }

  /** Opens the authenticated WebSocket; resolves once it is open. */
  connect(handlers: ConnectionHandlers): Promise<RelayConnection> {
    if (!this.#credential) return Promise.reject(new RelayRequestError('UNAUTHENTICATED', 'sign in first', 0));
    const url = `${this.baseUrl.replace(/^http/, 'ws')}/v1/ws`;
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${this.#credential}` }, maxPayload: MAX_SERVER_FRAME_BYTES, ...(this.#trust ? { ca: relayCaList(this.#trust) } : {}) });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new RelayConnection(socket, handlers)));
      socket.once('unexpected-response', (_req, res) => void refusedSocket(res).then(reject));
      socket.once('error', (error) => reject(unreachable(error)));
    });
  }

  #session(session: SessionResponse): SessionResponse {
    this.#credential = session.credential;
    return session;
  }

  /** The relay's signed audit bundle (.zip) for [from, to); the relay allows it to the compliance role only. */
  async auditExport(from: number, to: number, username?: string): Promise<Uint8Array> {
    const query = new URLSearchParams({ from: String(from), to: String(to), ...(username ? { user: username } : {}) });
    const response = await this.#fetch('GET', `/v1/audit/export?${query}`);
    return readBodyAtMost(response, MAX_AUDIT_EXPORT_BYTES, 'the audit export');
  }

  async #request<T extends z.ZodType>(method: string, path: string, schema: T, body?: unknown): Promise<z.infer<T>> {
    const response = await this.#fetch(method, path, body);
    // Read within a bound (responseBody.ts): a broken or hostile relay cannot make the app hold a body of any size.
    return answerFrom(schema, await readJsonAnswer(response, path), path, response.status);
  }

  /** One authenticated request; a failure becomes a RelayRequestError with the relay's code. */
  /**
   * One authenticated request with raw bytes or JSON (attachment blobs: main/core/attachments/RelayBlobs.ts); the
   * response when it succeeded, a RelayRequestError otherwise. `signal` cancels it (an AbortError then).
   */
  http(method: string, path: string, options: { bytes?: Uint8Array; json?: unknown; headers?: Record<string, string>; signal?: AbortSignal }): Promise<Response> {
    return this.#fetch(method, path, options.json, options);
  }

  async #fetch(method: string, path: string, body?: unknown, raw: { bytes?: Uint8Array; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Response> {
    let response: Response;
    // A relay that stops answering (a dead network) fails the request rather than holding it for minutes.
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        signal: raw.signal ? AbortSignal.any([timeout, raw.signal]) : timeout,
        ...(this.#trust ? { dispatcher: relayDispatcher(this.#trust) } : {}),
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(raw.bytes ? { 'content-type': 'application/octet-stream' } : {}),
          ...raw.headers,
          ...(this.#credential ? { authorization: `Bearer ${this.#credential}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(raw.bytes ? { body: raw.bytes } : {}),
      });
    } catch (error) {
      if (raw.signal?.aborted) throw raw.signal.reason ?? error;
      // fetch says only "fetch failed"; the reason (refused, unknown host, untrusted certificate) is its cause.
      throw unreachable((error as { cause?: Error }).cause ?? (error as Error));
    }
    if (response.ok) return response;
    // An error body is small; a longer one (a proxy's page, a hostile relay) is not read to its end.
    const failure = relayErrorBody(await readSmallJson(response));
    if (!failure) throw new RelayRequestError('BAD_RESPONSE', `relay answered ${response.status} without an error body`, response.status);
    const { code } = failure;
    const { message, issues, retryAfterSeconds, retryAfterMs, devices, share } = failure.data;
    // Rate limits say when to come back in the body and in Retry-After; either will do.
    const header = Number(response.headers.get('retry-after') ?? Number.NaN);
    const afterMs = retryAfterMs ?? (retryAfterSeconds !== undefined ? retryAfterSeconds * 1000 : Number.isFinite(header) ? header * 1000 : undefined);
    throw new RelayRequestError(code, message, response.status, {
      ...(issues ? { issues } : {}),
      ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
      ...(afterMs !== undefined ? { retryAfterMs: afterMs } : {}),
      ...(devices ? { devices } : {}),
      ...(share ? { share } : {}),
    });
  }
}
