/*
 * On-call roles at /v1/roles (issue 19), for any signed-in device: search (the pickers), one role with its
 * holders now (or at a given instant), its backup and the next hand-over (a send to the role encrypts to the holders' devices), and
 * its shifts in a window. Accounts with the scheduler permission add and remove shifts (audited with the
 * device as the actor, source 'app'); anyone else is FORBIDDEN. Role names and schedules are organisational
 * data; the request log carries method, URL and status only.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { addressKey, type DeviceAddress } from '../../shared/ids';
import { AddShiftRequestSchema, MAX_ROLE_AT_DISTANCE_MS, MAX_ROLE_SEARCH_LIMIT, RoleDetailQuerySchema, RoleIdSchema, RoleSearchQuerySchema, ShiftWindowQuerySchema } from '../../shared/wire/roles';
import { RelayFailure } from '../RelayFailure';
import type { RoleService } from '../roles/RoleService';
import { summary } from '../roles/RoleService';
import type { RelayStore } from '../storage/RelayStore';
import { parse } from './relayApp';

export interface RoleRouteOptions {
  readonly store: RelayStore;
  readonly roles: RoleService;
  readonly now: () => number;
  /** The signed-in device of a request (refuses one without a valid credential). */
  readonly device: (request: FastifyRequest) => Promise<{ readonly address: DeviceAddress }>;
}

export function registerRoleRoutes(app: FastifyInstance, { store, roles, now, device }: RoleRouteOptions): void {
  const role = async (request: FastifyRequest) => {
    const id = parse(RoleIdSchema, (request.params as { id?: string }).id);
    const found = await store.roles.roleById(id);
    if (!found) throw new RelayFailure('NOT_FOUND', 'no such role');
    return found;
  };
  const scheduler = async (request: FastifyRequest) => {
    const { address } = await device(request);
    if (!(await store.roles.isScheduler(address.userId))) throw new RelayFailure('FORBIDDEN', 'only a scheduler may change a role\'s schedule (an admin grants it: rounds-server user scheduler)');
    return address;
  };

  app.get('/v1/roles', async (request) => {
    await device(request);
    const query = parse(RoleSearchQuerySchema, request.query);
    return { roles: (await store.roles.searchRoles(query.q ?? '', query.limit ?? MAX_ROLE_SEARCH_LIMIT)).map(summary) };
  });

  app.get('/v1/roles/:id', async (request) => {
    const { address } = await device(request);
    // At an instant other than now: the rota is known in advance (an escalation step goes to whoever is on duty when it is released).
    const { at } = parse(RoleDetailQuerySchema, request.query);
    const current = now();
    if (at !== undefined && Math.abs(at - current) > MAX_ROLE_AT_DISTANCE_MS) throw new RelayFailure('BAD_REQUEST', `at must be within ${MAX_ROLE_AT_DISTANCE_MS / 86_400_000} days of now`);
    return roles.detail(await role(request), at ?? current, address.userId);
  });

  app.get('/v1/roles/:id/shifts', async (request) => {
    await device(request);
    const window = parse(ShiftWindowQuerySchema, request.query);
    return { shifts: await roles.shifts((await role(request)).id, window.from, window.to) };
  });

  app.post('/v1/roles/:id/shifts', async (request) => {
    const address = await scheduler(request);
    const shift = parse(AddShiftRequestSchema, request.body);
    return { shift: await roles.addShift(addressKey(address), await role(request), shift, 'app') };
  });

  app.delete('/v1/roles/:id/shifts/:shiftId', async (request) => {
    const address = await scheduler(request);
    const shiftId = String((request.params as { shiftId?: string }).shiftId ?? '');
    return { removed: await roles.removeShift(addressKey(address), await role(request), shiftId) };
  });
}
