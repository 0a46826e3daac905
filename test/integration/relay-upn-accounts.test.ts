/**
 * Usernames from the hospital's directory: `j.smith@hospital.example`, typed in any case, at the admin's
 * command line and in the app, is one person, through a real relay process; and the directory fields an
 * admin sets by hand.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../server/Clock';
import { openStore } from '../../server/openStore';
import { RelayProcess, adminCli, exportAudit } from '../fixtures/relayProcess';
import { useTempDirs } from '../fixtures/tempDirs';
import { Workstation } from '../fixtures/workstation';

describe('e-mail-style usernames (UPNs), in any case', () => {
  const dir = useTempDirs();
  let data: string;
  let relay: RelayProcess;
  const workstations: Workstation[] = [];

  beforeAll(async () => {
    data = dir();
    relay = await RelayProcess.start(data);
  });

  afterAll(async () => {
    for (const w of workstations) await w.app.close();
    await relay?.stop();
  });

  it('an admin adds J.Smith@Hospital.example; she enrolls and adds a workstation typing her name as she likes', async () => {
    const added = adminCli(['user', 'add', '--data', data, '--username', 'J.Smith@Hospital.Example', '--display-name', 'Dr. Jo Smith', '--role', 'clinician']);
    expect(added.status, added.stderr).toBe(0);
    expect(added.stdout).toContain('created j.smith@hospital.example (clinician)');
    const code = /enrollment code: (\S+)/.exec(added.stdout)?.[1] ?? '';

    // The same person, whatever the case: a second `user add` gives a new code, not a second account.
    const again = adminCli(['user', 'add', '--data', data, '--username', 'j.smith@hospital.example', '--display-name', 'Dr. Jo Smith', '--role', 'clinician']);
    expect(again.status, again.stderr).toBe(0);
    const freshCode = /enrollment code: (\S+)/.exec(again.stdout)?.[1] ?? '';
    expect(freshCode).not.toBe(code);

    const first = new Workstation(dir());
    workstations.push(first);
    await first.enroll(relay.url, 'J.Smith@Hospital.example', freshCode);
    expect(await first.call('session.state', {})).toMatchObject({ phase: 'unlocked', profile: { username: 'j.smith@hospital.example', displayName: 'Dr. Jo Smith' } });

    const second = new Workstation(dir());
    workstations.push(second);
    await second.addDevice(relay.url, 'j.smith@HOSPITAL.example');
    expect(await second.call('session.state', {})).toMatchObject({ phase: 'unlocked', profile: { username: 'j.smith@hospital.example' } });

    const devices = adminCli(['device', 'list', '--data', data, 'J.SMITH@hospital.example']);
    expect(devices.status, devices.stderr).toBe(0);
    expect(devices.stdout.trim().split('\n')).toHaveLength(2);
    const list = adminCli(['user', 'list', '--data', data]);
    expect(list.stdout.match(/j\.smith@hospital\.example/gi)).toHaveLength(1);
  });

  it('the audit export finds her by her name in any case', () => {
    const result = adminCli(['audit', 'export', '--data', data, '--from', '2020-01-01', '--to', '2100-01-01', '--out', `${dir()}/bundle`, '--user', 'J.Smith@hospital.EXAMPLE']);
    expect(result.status, result.stderr).toBe(0);
    expect(exportAudit(data, `${dir()}/all`)).toBeTruthy();
  });

  it('names that are neither a short name nor an e-mail-style one are refused with a clear message', () => {
    for (const bad of ['j smith@hospital.example', 'j.smith@hospital', 'j..smith@hospital.example']) {
      const result = adminCli(['user', 'add', '--data', data, '--username', bad, '--display-name', 'X', '--role', 'clinician']);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/username: a short name .* or an e-mail-style name such as j\.smith@hospital\.example/);
    }
  });
});

describe('directory fields from the admin command line', () => {
  const dir = useTempDirs();

  it('user add and user update set department, job title and contact, each change audited with the admin who made it', async () => {
    const data = dir();
    const env = { SUDO_USER: 'jdoe' };
    const added = adminCli(['user', 'add', '--data', data, '--username', 'b.okafor@hospital.example', '--display-name', 'Ben Okafor', '--role', 'clinician', '--department', 'Ward 4', '--job-title', 'Charge nurse', '--contact', 'Bleep 4471'], { env });
    expect(added.status, added.stderr).toBe(0);
    const updated = adminCli(['user', 'update', '--data', data, 'B.Okafor@hospital.example', '--job-title', 'Ward manager', '--contact', '', '--department', 'Ward 4'], { env });
    expect(updated.status, updated.stderr).toBe(0);
    expect(updated.stdout.trim()).toBe('updated b.okafor@hospital.example: jobTitle, contact');
    expect(adminCli(['user', 'update', '--data', data, 'b.okafor@hospital.example', '--department', 'Ward 4'], { env }).stdout.trim()).toBe('nothing to change for b.okafor@hospital.example');
    expect(adminCli(['user', 'list', '--data', data]).stdout).toMatch(/^b\.okafor@hospital\.example\tBen Okafor\tclinician\tpending\t.*\tWard manager · Ward 4$/m);

    const refused = adminCli(['user', 'update', '--data', data, 'b.okafor@hospital.example', '--department', 'Ward\u202e 4']);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('department: no control characters');
    const missing = adminCli(['user', 'update', '--data', data, 'nobody', '--department', 'X']);
    expect([missing.status, missing.stderr.trim()]).toEqual([1, 'error: no user nobody']);

    const store = openStore(data, systemClock, { create: false });
    try {
      expect(await store.userByUsername('b.okafor@hospital.example')).toMatchObject({ displayName: 'Ben Okafor', department: 'Ward 4', jobTitle: 'Ward manager', contact: null, source: 'admin' });
      const records = await store.auditRecordsAfter(0, 100, { types: ['account.created', 'user.updated'] });
      expect(records.map((r) => [r.type, r.actor, r.details])).toEqual([
        ['account.created', 'admin:jdoe', { username: 'b.okafor@hospital.example', role: 'clinician', department: 'Ward 4', jobTitle: 'Charge nurse', contact: 'Bleep 4471' }],
        ['user.updated', 'admin:jdoe', { source: 'admin', sourceName: 'admin:jdoe', changed: 'jobTitle,contact', jobTitle: 'Ward manager', contact: null }],
      ]);
    } finally {
      await store.close();
    }
  });
});
