/**
 * Roles from SCIM groups (issues 18 and 19) on a real relay process: the config maps a group (by displayName,
 * or by externalId) to an on-call role; the members Entra ID pushes hold the role standing, follow its add and
 * remove member PATCHes, stop holding it when deactivated or when the group goes, and every change is audited
 * with the token's name as its source. Groups the config does not map change no role.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STANDING_SHIFT_END } from '../../shared/wire/roles';
import { readRelayConfigFile } from '../../server/relayConfigFile';
import { GUIDE, blocks } from '../fixtures/deploymentGuide';
import * as entra from '../fixtures/scim/entraIdRequests';
import { RelayProcess, adminCli, openRelayDatabase } from '../fixtures/relayProcess';
import { useTempDirs } from '../fixtures/tempDirs';

const ROLE = 'Cardiology on call';
const GROUP = 'Cardiology On-Call Registrars';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';

describe('on-call roles from SCIM groups', () => {
  const dir = useTempDirs();
  let data: string;
  let relay: RelayProcess;
  let token: string;

  beforeAll(async () => {
    data = dir();
    const made = adminCli(['role', 'create', ROLE, '--time-zone', 'Europe/London', '--data', data]);
    expect(made.status, made.stderr).toBe(0);
    const created = adminCli(['scim', 'token', 'create', '--data', data, '--name', 'entra-prod']);
    expect(created.status, created.stderr).toBe(0);
    token = /^(rscim_\S+)$/m.exec(created.stdout)?.[1] ?? '';
    const config = join(dir(), 'relay.json');
    // By displayName (any case), and a second key by the group's externalId (Entra's object id) for the same role;
    // a mapped role nobody created is only warned about.
    writeFileSync(config, JSON.stringify({ scim: { roleGroups: { [GROUP.toLowerCase()]: ROLE, 'obj-ward-4': 'Ward 4 charge nurse', 'obj-cardio-consultants': ROLE } } }));
    relay = await RelayProcess.start(data, ['--config', config]);
  });
  afterAll(async () => {
    await relay?.stop();
  });

  const scim = async (method: string, target: string, body?: object) => {
    const response = await fetch(`${relay.url}/scim/v2${target}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/scim+json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, json: (text ? JSON.parse(text) : undefined) as { id: string } };
  };
  const person = async (name: string) => (await scim('POST', '/Users', { schemas: [USER_SCHEMA], userName: `${name}@hospital.example`, externalId: `obj-${name}`, displayName: name, active: true })).json.id;

  /** Who holds the role standing from SCIM now, by username; and the ended standing shifts. */
  const standing = () => {
    const db = openRelayDatabase(data);
    try {
      const rows = db.prepare(`SELECT u.username, s.ends_at, s.created_by FROM oncall_shifts s JOIN users u ON u.id = s.user_id JOIN oncall_roles r ON r.id = s.role_id
        WHERE r.name = ? AND s.source = 'scim' ORDER BY u.username`).all([ROLE]) as { username: string; ends_at: number; created_by: string }[];
      return {
        now: rows.filter((r) => r.ends_at === STANDING_SHIFT_END).map((r) => r.username.split('@')[0]),
        ended: rows.filter((r) => r.ends_at !== STANDING_SHIFT_END).map((r) => r.username.split('@')[0]),
        by: [...new Set(rows.map((r) => r.created_by))],
      };
    } finally {
      db.close();
    }
  };
  const shiftRecords = () => {
    const db = openRelayDatabase(data);
    try {
      return (db.prepare("SELECT type, actor, details FROM audit_log WHERE type IN ('shift.added', 'shift.removed') ORDER BY seq").all() as { type: string; actor: string; details: string }[])
        .map((r) => ({ type: r.type, actor: r.actor, ...(JSON.parse(r.details) as { role: string; source: string }) }));
    } finally {
      db.close();
    }
  };

  it("makes a mapped group's members standing holders, following Entra ID's member PATCHes, deactivations and the group's deletion", async () => {
    const [lee, patel, kim, ortiz] = [await person('lee'), await person('patel'), await person('kim'), await person('ortiz')];
    // A group the config does not map: no role changes.
    expect((await scim('POST', '/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Ward 9 nurses', members: [{ value: ortiz }] })).status).toBe(201);
    expect(standing().now).toEqual([]);

    const group = await scim('POST', '/Groups', { ...entra.entraCreateGroup, externalId: 'entra-obj-1', displayName: GROUP, members: [{ value: lee }, { value: patel }] });
    expect(group.status).toBe(201);
    expect(standing()).toEqual({ now: ['lee', 'patel'], ended: [], by: ['scim:entra-prod'] });
    // The admin's view: both on the role (not reachable until they enroll), standing, and no hand-over at the end of time.
    const shown = adminCli(['role', 'show', ROLE, '--data', data]);
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/not reachable: lee \(on the rota;/);
    expect(shown.stdout).toMatch(/standing \(directory group\)\tpatel\tscim/);
    expect(shown.stdout).toMatch(/next hand-over: none scheduled/);
    // Changed in the directory, not by hand: the command refuses to remove a standing holder.
    const shiftId = /^(\S+)\t.*\tpatel\tscim$/m.exec(shown.stdout)?.[1] ?? '';
    expect(adminCli(['role', 'unassign', ROLE, shiftId, '--data', data])).toMatchObject({ status: 1, stderr: expect.stringMatching(/comes from a directory group/) });

    expect((await scim('PATCH', `/Groups/${group.json.id}`, entra.entraAddMember(kim))).status).toBeLessThan(300);
    expect(standing().now).toEqual(['kim', 'lee', 'patel']);
    // Entra's two shapes of a member's removal (with and without its feature flag).
    expect((await scim('PATCH', `/Groups/${group.json.id}`, entra.entraRemoveMemberWithoutFlag(lee))).status).toBeLessThan(300);
    expect(standing()).toMatchObject({ now: ['kim', 'patel'], ended: ['lee'] });
    expect((await scim('PATCH', `/Groups/${group.json.id}`, entra.entraRemoveMemberWithFlag(kim))).status).toBeLessThan(300);
    expect(standing()).toMatchObject({ now: ['patel'], ended: ['kim', 'lee'] });

    // A second group mapped to the same role by its externalId adds its members; Patel deactivated stops holding it.
    const consultants = await scim('POST', '/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Cardiology consultants', externalId: 'obj-cardio-consultants', members: [{ value: ortiz }] });
    expect(consultants.status).toBe(201);
    expect(standing().now).toEqual(['ortiz', 'patel']);
    expect((await scim('PATCH', `/Users/${patel}`, entra.entraDisableUser)).status).toBe(200);
    expect(standing().now).toEqual(['ortiz']);

    // The groups deleted: nobody holds the role from SCIM any more.
    expect((await scim('DELETE', `/Groups/${group.json.id}`)).status).toBe(204);
    expect((await scim('DELETE', `/Groups/${consultants.json.id}`)).status).toBe(204);
    expect(standing().now).toEqual([]);

    const records = shiftRecords();
    expect(records.every((r) => r.actor === 'scim:entra-prod' && r.role === ROLE && r.source === 'scim')).toBe(true);
    // Patel's deactivation took her off every rota at once (audited as shifts.vacated, with counts): the group's next
    // update found nothing of hers to end.
    expect(records.map((r) => r.type)).toEqual([
      'shift.added', 'shift.added', 'shift.added', 'shift.removed', 'shift.removed', 'shift.added', 'shift.removed',
    ]);
    const db = openRelayDatabase(data);
    try {
      expect(db.prepare("SELECT count(*) AS n FROM audit_log WHERE type = 'shifts.vacated' AND subject = ?").get([patel])).toEqual({ n: 1 });
    } finally {
      db.close();
    }
  });

  it('grants nothing through a key two groups answer to, and a deactivated member who comes back does not hold it again', async () => {
    const [chen, mallory, nguyen] = [await person('chen'), await person('mallory'), await person('nguyen')];
    const consultants = await scim('POST', '/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Cardiology consultants 2', externalId: 'obj-cardio-consultants', members: [{ value: chen }] });
    expect(consultants.status).toBe(201);
    expect(standing().now).toEqual(['chen']);
    // Another group renamed (in the directory) to the mapped group's id: the key is ambiguous, and grants nothing.
    const other = await scim('POST', '/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Ward 9 porters', members: [{ value: mallory }] });
    expect((await scim('PATCH', `/Groups/${other.json.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: 'obj-cardio-consultants' }] })).status).toBeLessThan(300);
    expect(standing().now).toEqual([]);
    expect((await scim('DELETE', `/Groups/${other.json.id}`)).status).toBe(204);
    expect(standing().now).toEqual(['chen']);
    // Chen leaves (deactivated) and is reactivated by an admin: his old membership gave him nothing back.
    expect((await scim('PATCH', `/Users/${chen}`, entra.entraDisableUser)).status).toBe(200);
    expect(standing().now).toEqual([]);
    expect(adminCli(['user', 'reactivate', 'chen@hospital.example', '--data', data]).status).toBe(0);
    expect((await scim('PATCH', `/Groups/${consultants.json.id}`, entra.entraAddMember(nguyen))).status).toBeLessThan(300);
    expect(standing().now).toEqual(['nguyen']);
    expect((await scim('DELETE', `/Groups/${consultants.json.id}`)).status).toBe(204);
  });

  it('takes the guide\'s example ("Roles from directory groups", docs/deployment.md) as a valid config file', async () => {
    const guide = readFileSync(GUIDE, 'utf8');
    const section = guide.slice(guide.indexOf('### Roles from directory groups'), guide.indexOf('### Single sign-on'));
    const [example] = blocks(section);
    expect(example?.lang).toBe('json');
    const file = join(dir(), 'relay.json');
    writeFileSync(file, example?.text ?? '');
    expect((await readRelayConfigFile(file)).scim?.roleGroups).toEqual({ '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159': 'Ward 4 charge nurse', 'Cardiology on-call registrars': 'Cardiology on call' });
  });
});
