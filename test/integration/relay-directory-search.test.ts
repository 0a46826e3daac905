/**
 * The directory search on a real relay process: a signed-in clinician finds colleagues by name, department
 * or job title, sees their directory fields, and those still to enroll as pending; bad queries get a clear
 * 400, callers without a device credential a 401.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../server/Clock';
import { openStore } from '../../server/openStore';
import { Clinician, RelayProcess, adminCli } from '../fixtures/relayProcess';
import { useTempDirs } from '../fixtures/tempDirs';
import { Workstation } from '../fixtures/workstation';

const PASSWORD = 'correct horse battery staple 7';
const LDAP = { kind: 'ldap', runId: 'sync-test' } as const;

describe('directory search through the relay', () => {
  const dir = useTempDirs();
  let relay: RelayProcess;
  let me: Clinician;
  let data: string;
  let workstation: Workstation | undefined;

  beforeAll(async () => {
    data = dir();
    const added = adminCli(['user', 'add', '--data', data, '--username', 'a.muller@hospital.example', '--display-name', 'Dr. Anna Müller', '--role', 'clinician', '--department', 'Cardiology', '--job-title', 'Consultant cardiologist', '--contact', 'Bleep 4471']);
    const code = /enrollment code: (\S+)/.exec(added.stdout)?.[1] ?? '';
    const store = openStore(data, systemClock, { create: false });
    try {
      const person = { contact: null, active: true };
      await store.provisionPerson({ ...person, externalId: 'e-1', username: 'b.okafor@hospital.example', displayName: 'Ben Okafor', department: 'Ward 4', jobTitle: 'Charge nurse', contact: 'Ext 2231' }, LDAP, Date.now());
      await store.provisionPerson({ ...person, externalId: 'e-2', username: 'c.gone@hospital.example', displayName: 'Cara Gone', department: 'Cardiology', jobTitle: 'Registrar', active: false }, LDAP, Date.now());
      await store.provisionPerson({ ...person, externalId: 'e-3', username: 'd.lee@hospital.example', displayName: 'Dr. Dan Lee', department: 'Cardiology', jobTitle: 'Registrar' }, LDAP, Date.now());
    } finally {
      await store.close();
    }
    relay = await RelayProcess.start(data);
    me = await Clinician.enroll(relay.url, 'a.muller@hospital.example', code, PASSWORD);
  });

  afterAll(async () => {
    await workstation?.app.close();
    await relay?.stop();
  });

  const get = async (query: string, credential: string | null = me.session.credential) => {
    const response = await fetch(`${relay.url}/v1/directory${query}`, { headers: credential ? { authorization: `Bearer ${credential}` } : {} });
    return { status: response.status, body: (await response.json()) as { users?: { username: string }[]; code?: string; message?: string } };
  };

  it('finds colleagues by name, department or title, with their directory fields; pending ones without devices, deactivated ones not at all', async () => {
    const cardiology = await me.relay.searchDirectory('CARDIO', 10);
    expect(cardiology.users).toEqual([
      { userId: me.address.userId, username: 'a.muller@hospital.example', displayName: 'Dr. Anna Müller', role: 'clinician', devices: [me.address.deviceId], department: 'Cardiology', jobTitle: 'Consultant cardiologist', contact: 'Bleep 4471', status: 'active' },
      { userId: expect.any(String), username: 'd.lee@hospital.example', displayName: 'Dr. Dan Lee', role: 'clinician', devices: [], department: 'Cardiology', jobTitle: 'Registrar', contact: null, status: 'pending' },
    ]);
    expect((await me.relay.searchDirectory('charge nurse', 10)).users.map((u) => u.username)).toEqual(['b.okafor@hospital.example']);
    expect((await me.relay.searchDirectory('muller', 10)).users.map((u) => u.username)).toEqual(['a.muller@hospital.example']);
    expect((await me.relay.searchDirectory('', 2)).users.map((u) => u.username)).toEqual(['b.okafor@hospital.example', 'a.muller@hospital.example']);
    // Without a query, the whole directory as before (now with the fields), the deactivated left out.
    const all = (await me.relay.directory()).users;
    expect(all.map((u) => [u.username, u.status])).toEqual([['a.muller@hospital.example', 'active'], ['b.okafor@hospital.example', 'pending'], ['d.lee@hospital.example', 'pending']]);
  });

  it('refuses bad queries with a clear 400, and callers without a device credential with a 401', async () => {
    for (const [query, said] of [['?q=x&limit=0', /limit/], ['?q=x&limit=51', /limit/], ['?limit=ten', /limit/], [`?q=${'a'.repeat(129)}`, /q/], ['?q=a%0Ab', /q.*control/], ['?q=a&q=b', /q/], ['?who=me', /who|key/i]] as const) {
      const { status, body } = await get(query);
      expect([query, status, body.code]).toEqual([query, 400, 'BAD_REQUEST']);
      expect(body.message).toMatch(said);
    }
    expect((await get('?q=cardio', null)).status).toBe(401);
    expect((await get('?q=cardio', 'rd1.not-a-credential')).status).toBe(401);
  });

  it('the app searches through the relay (directory.search), and offline falls back to the names it has', async () => {
    // Dr. Dan Lee, provisioned from the directory, is given an enrollment code and enrolls on a workstation.
    const added = adminCli(['user', 'add', '--data', data, '--username', 'd.lee@hospital.example', '--display-name', 'Dr. Dan Lee', '--role', 'clinician']);
    workstation = new Workstation(dir());
    await workstation.enroll(relay.url, 'd.lee@hospital.example', /enrollment code: (\S+)/.exec(added.stdout)?.[1] ?? '');
    const found = await workstation.call('directory.search', { query: 'Cardiology' });
    expect(found.map((c) => [c.displayName, c.jobTitle, c.contact, c.status, c.reachable])).toEqual([
      ['Dr. Anna Müller', 'Consultant cardiologist', 'Bleep 4471', 'active', true],
      ['Dr. Dan Lee', 'Registrar', null, 'active', true],
    ]);
    expect((await workstation.call('directory.search', { query: 'charge nurse', limit: 5 })).map((c) => [c.username, c.reachable])).toEqual([['b.okafor@hospital.example', false]]);
    expect((await workstation.fails('directory.search', { query: 'a\u0000b' })).code).toBe('INVALID_INPUT');
    expect((await workstation.fails('directory.search', { query: 'a', limit: 51 })).code).toBe('INVALID_INPUT');

    await relay.stop();
    const offline = await workstation.call('directory.search', { query: 'OKAF' });
    expect(offline.map((c) => [c.username, c.reachable])).toEqual([['b.okafor@hospital.example', true]]);
  });
});

describe('a person the hospital directory says has left', () => {
  const dir = useTempDirs();

  it('is cut off at once: every connected workstation disconnected, the credential void, gone from the directory', async () => {
    const data = dir();
    const codes = ['e.ward@hospital.example', 'f.nurse@hospital.example'].map((username) => /enrollment code: (\S+)/.exec(adminCli(['user', 'add', '--data', data, '--username', username, '--display-name', username, '--role', 'clinician']).stdout)?.[1] ?? '');
    const relay = await RelayProcess.start(data);
    try {
      const leaving = await Clinician.enroll(relay.url, 'e.ward@hospital.example', codes[0]!, PASSWORD);
      const colleague = await Clinician.enroll(relay.url, 'f.nurse@hospital.example', codes[1]!, PASSWORD);
      await leaving.connect();
      expect(leaving.connection?.open).toBe(true);
      // The directory sync, in another process on the same data (as SCIM or LDAP sync in the relay would be).
      const store = openStore(data, systemClock, { create: false });
      try {
        const result = await store.provisionPerson({ externalId: 'guid-e', username: 'E.Ward@hospital.example', displayName: 'Dr. Eve Ward', department: 'Renal', jobTitle: 'Registrar', contact: null, active: false }, LDAP, Date.now());
        expect(result).toMatchObject({ outcome: 'deactivated', changed: ['displayName', 'department', 'jobTitle'] });
      } finally {
        await store.close();
      }
      const deadline = Date.now() + 3000;
      while (leaving.connection?.open && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(leaving.connection?.open).toBe(false);
      await expect(leaving.relay.keyCount()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      expect((await colleague.relay.searchDirectory('ward', 10)).users).toEqual([]);
    } finally {
      await relay.stop();
    }
  });
});
