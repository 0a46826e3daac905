import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test/fixtures/tempDirs';
import type { UserId } from '../../shared/ids';
import { MAX_ROLE_HOLDERS, RoleIdSchema, STANDING_SHIFT_END } from '../../shared/wire/roles';
import { openStore } from '../openStore';
import type { SqliteRelayStore } from '../storage/sqlite/SqliteRelayStore';
import { applyRoleGroups, ldapRolesOf, normalizedDn, RoleGroupMapSchema } from './directoryRoleHolders';

/*
 * How a map of directory groups to roles becomes standing holders, against the real SQLite store: roles
 * named in any case, a role the map names that does not exist, a group too large for a role message, and
 * roles no longer mapped losing their directory holders. (The SCIM and LDAP paths end to end:
 * test/integration/relay-scim-roles.test.ts and ldap-role-groups.test.ts.)
 */

const AT = Date.UTC(2026, 11, 3, 8);
const SCIM = { kind: 'scim', tokenName: 'entra-prod' } as const;

describe('directory groups mapped to on-call roles', () => {
  const tempDir = useTempDirs();
  let store: SqliteRelayStore;
  beforeEach(() => {
    store = openStore(tempDir());
  });
  afterEach(async () => {
    await store.close();
  });

  const people = async (n: number): Promise<UserId[]> => {
    const ids: UserId[] = [];
    for (let i = 0; i < n; i++) {
      ids.push((await store.provisionPerson({ externalId: `x-${i}`, username: `p${i}@hospital.example`, displayName: `Person ${i}`, department: null, jobTitle: null, contact: null, active: true }, SCIM, AT)).userId);
    }
    return ids;
  };
  const role = async (name: string) => store.roles.createRole({ id: RoleIdSchema.parse(randomUUID()), name, department: null, timeZone: 'Europe/London', backup: null }, AT, []);
  const standing = async (roleId: Parameters<SqliteRelayStore['roles']['shifts']>[0]) => (await store.roles.shifts(roleId, AT + 1000, AT + 1001)).filter((s) => s.endsAt === STANDING_SHIFT_END).map((s) => s.userId).sort();

  it('names roles in any case, reports missing ones, and leaves a role alone whose groups are larger than a role message reaches', async () => {
    const ids = await people(MAX_ROLE_HOLDERS + 1);
    const ward = await role('Ward 4 charge nurse');
    const cardio = await role('Cardiology on call');
    const map = { 'ward-4': 'WARD 4 CHARGE NURSE', cardio: 'Cardiology on call', ghosts: 'No such role' };
    const first = await applyRoleGroups(store, map, SCIM, new Map([['ward 4 charge nurse', ids.slice(0, 2)], ['cardiology on call', ids.slice(0, 2)]]), AT);
    expect(first).toEqual({ changed: [{ role: 'Cardiology on call', added: 2, ended: 0 }, { role: 'Ward 4 charge nurse', added: 2, ended: 0 }], missingRoles: ['No such role'], tooManyMembers: [] });
    const huge = await applyRoleGroups(store, map, SCIM, new Map([['ward 4 charge nurse', ids], ['cardiology on call', ids.slice(0, 2)]]), AT + 10);
    expect(huge.tooManyMembers).toEqual([{ role: 'Ward 4 charge nurse', members: MAX_ROLE_HOLDERS + 1 }]);
    expect(await standing(ward.id)).toEqual(ids.slice(0, 2).sort());
    // Every role: the one no longer mapped loses its holders from this source, the mapped one keeps them.
    const pass = await applyRoleGroups(store, { cardio: 'Cardiology on call' }, SCIM, new Map([['cardiology on call', ids.slice(0, 2)]]), AT + 20, { everyRole: true });
    expect(pass.changed).toEqual([{ role: 'Ward 4 charge nurse', added: 0, ended: 2 }]);
    expect(await standing(ward.id)).toEqual([]);
    expect(await standing(cardio.id)).toEqual(ids.slice(0, 2).sort());
    const records = await store.auditRecordsAfter(0, 1000, { types: ['shift.added', 'shift.removed'] });
    expect(records.every((r) => r.actor === 'scim:entra-prod' && r.details['source'] === 'scim')).toBe(true);
    expect(records).toHaveLength(6);
  });

  it('compares LDAP group DNs without regard to case or spaces, and checks the map', () => {
    expect(normalizedDn('CN=Rounds Ward 4, OU=Groups ,DC=hospital, DC=example')).toBe('cn=rounds ward 4,ou=groups,dc=hospital,dc=example');
    expect(ldapRolesOf({ 'cn=ward4,ou=groups,dc=h': 'Ward 4 charge nurse', 'cn=other,dc=h': 'Other' }, ['CN=Ward4, OU=Groups, DC=H', 'cn=unmapped,dc=h'])).toEqual(['ward 4 charge nurse']);
    expect(RoleGroupMapSchema.safeParse({ 'cn=x': 'Role' }).success).toBe(true);
    expect(RoleGroupMapSchema.safeParse({ '': 'Role' }).success).toBe(false);
    expect(RoleGroupMapSchema.safeParse(Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`g${i}`, 'Role']))).success).toBe(false);
  });
});
