/*
 * Issue 19 at /v1/acknowledgements and /v1/escalations: a device reports the acknowledgement it signed (the
 * relay verifies it with the identity key that device uploaded, audits it and stops the message's ladders);
 * a sender's device hands the relay an urgent message's escalation ladder, and its account's devices read the
 * ladder's progress. Bodies are parsed with the shared schemas; they hold ciphertext, ids and times, and the
 * request log never carries them.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DeviceAddress } from '../../shared/ids';
import { AcknowledgementReportSchema, EscalationIdSchema, EscalationRequestSchema } from '../../shared/wire/escalation';
import type { EscalationService } from '../escalation/EscalationService';
import { parse } from './relayApp';

export interface EscalationRouteOptions {
  readonly escalations: EscalationService;
  /** The signed-in device of a request (refuses one without a valid credential). */
  readonly device: (request: FastifyRequest) => Promise<{ readonly address: DeviceAddress }>;
}

export function registerEscalationRoutes(app: FastifyInstance, { escalations, device }: EscalationRouteOptions): void {
  app.post('/v1/acknowledgements', async (request) => {
    const { address } = await device(request);
    return escalations.acknowledge(address, parse(AcknowledgementReportSchema, request.body));
  });

  app.post('/v1/escalations', async (request) => {
    const { address } = await device(request);
    return escalations.hold(address, parse(EscalationRequestSchema, request.body));
  });

  app.get('/v1/escalations/:escalationId', async (request) => {
    const { address } = await device(request);
    return escalations.state(address, parse(EscalationIdSchema, (request.params as { escalationId?: string }).escalationId));
  });
}
