/*
 * Presence at /v1/presence (issue 19): PUT sets the signed-in user's own status (any of their devices), GET
 * reads up to MAX_PRESENCE_QUERY users' at once (`?users=<id>,<id>`) for any signed-in device. Bodies are
 * parsed with the shared schemas; a bad one is BAD_REQUEST naming the field. Notes are organisational words
 * the user typed: the request log carries method, URL and status only, never a body.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DeviceAddress } from '../../shared/ids';
import { PresenceQuerySchema, PresenceSetRequestSchema } from '../../shared/wire/presence';
import type { PresenceService } from '../presence/PresenceService';
import { parse } from './relayApp';

export interface PresenceRouteOptions {
  readonly presence: PresenceService;
  /** The signed-in device of a request (refuses one without a valid credential). */
  readonly device: (request: FastifyRequest) => Promise<{ readonly address: DeviceAddress }>;
  /** Charges a status change to the relay's rate limiter (refuses with SEND_RATE_LIMITED past it). */
  readonly charge: (address: DeviceAddress) => Promise<void>;
}

export function registerPresenceRoutes(app: FastifyInstance, { presence, device, charge }: PresenceRouteOptions): void {
  app.put('/v1/presence', async (request) => {
    const { address } = await device(request);
    await charge(address);
    return presence.set(address, parse(PresenceSetRequestSchema, request.body));
  });

  app.get('/v1/presence', async (request) => {
    await device(request);
    return { presence: await presence.read(parse(PresenceQuerySchema, request.query).users) };
  });
}
