/**
 * On-call roles on a real relay process (issue 19): an admin creates "Cardiology on call" and imports its rota
 * (a faulty rota first: refused, every bad line named, nothing stored), grants Alice the scheduler permission;
 * signed-in clinicians find the role, see who holds it now and since when, its backup and the next hand-over;
 * Alice (a scheduler) adds and removes a shift from the app, Carol (not one) may not; bad requests get a clear
 * 4xx; Bob's account deactivated takes him off the rota (the role falls to its backup); every change is in the
 * audit log with its actor and source.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../server/Clock';
import { openStore } from '../../server/openStore';
import type { RoleId } from '../../shared/wire/roles';
import { Clinician, RelayProcess, addUser, adminCli } from '../fixtures/relayProcess';
import { useTempDirs } from '../fixtures/tempDirs';

const PASSWORD = 'correct horse battery staple 7';
const HOUR = 3600_000;
const ZONE = 'Europe/London';
/** A wall time in the rota's zone, as a rota tool writes it (to the minute). */
const wall = (at: number) => DateTime.fromMillis(at, { zone: ZONE }).toFormat('yyyy-MM-dd HH:mm');
const minute = (at: number) => Math.floor(at / 60_000) * 60_000;

describe('on-call roles through the relay', () => {
  const dir = useTempDirs();
  let data: string;
  let relay: RelayProcess;
  let alice: Clinician;
  let carol: Clinician;
  let roleId: RoleId;
  const now = minute(Date.now());
  const bobFrom = now - 2 * HOUR;
  const handOver = now + 2 * HOUR;
  const carolTo = now + 14 * HOUR;
  const cli = (...args: string[]) => adminCli([...args, '--data', data]);

  beforeAll(async () => {
    data = dir();
    const aliceCode = addUser(data, 'alice', 'Dr. Alice Moreau');
    const bobCode = addUser(data, 'bob', 'Dr. Bob Lee');
    const carolCode = addUser(data, 'carol', 'Dr. Carol Patel');
    expect(cli('role', 'create', 'Cardiology on call', '--time-zone', ZONE, '--department', 'Cardiology', '--backup-user', 'carol')).toMatchObject({ status: 0, stdout: expect.stringContaining('created the role Cardiology on call (Europe/London)') });
    expect(cli('role', 'create', 'cardiology ON CALL', '--time-zone', ZONE)).toMatchObject({ status: 1, stderr: expect.stringContaining('a role named cardiology ON CALL exists already') });
    expect(cli('role', 'create', 'Ward 4 charge nurse', '--time-zone', 'Europe/Londn')).toMatchObject({ status: 1, stderr: expect.stringContaining('time zone') });

    const rotas = dir();
    const bad = join(rotas, 'bad.csv');
    writeFileSync(bad, `username,start,end\nbob,${wall(bobFrom)},${wall(handOver)}\nnobody,${wall(handOver)},${wall(carolTo)}\ncarol,${wall(carolTo)},2026-13-01 08:00\n`);
    const refused = cli('role', 'import', 'Cardiology on call', bad);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('the rota was not imported (nothing was changed)');
    expect(refused.stderr).toContain('line 3: no account "nobody"');
    expect(refused.stderr).toContain('line 4: end: 2026-13-01 08:00 is not a date and time');
    const good = join(rotas, 'cardiology.csv');
    writeFileSync(good, `Username,Start,End\nbob,${wall(bobFrom)},${wall(handOver)}\nDr. Carol Patel,${wall(handOver)},${wall(carolTo)}\n`);
    expect(cli('role', 'import', 'Cardiology on call', good)).toMatchObject({ status: 0, stdout: expect.stringContaining('imported 2 shifts into Cardiology on call') });
    // Imported again: the same schedule, not twice.
    expect(cli('role', 'import', 'cardiology on call', good)).toMatchObject({ status: 0, stdout: expect.stringContaining('replacing 2') });
    expect(cli('user', 'scheduler', 'alice')).toMatchObject({ status: 0, stdout: 'alice may now change schedules in the app\n' });
    // Before anyone has a workstation, the rota names Bob but no message could reach him (nor Carol, the backup).
    const early = cli('role', 'show', 'Cardiology on call');
    expect(early.stdout).toContain('now: no one holds it');
    expect(early.stdout).toContain('not reachable: Dr. Bob Lee (on the rota; account not active)');
    expect(early.stdout).toContain('not reachable: Dr. Carol Patel (the backup; account not active)');

    relay = await RelayProcess.start(data);
    alice = await Clinician.enroll(relay.url, 'alice', aliceCode, PASSWORD);
    carol = await Clinician.enroll(relay.url, 'carol', carolCode, PASSWORD);
    await Clinician.enroll(relay.url, 'bob', bobCode, PASSWORD);
    const shown = cli('role', 'show', 'Cardiology on call');
    expect(shown.stdout).toContain(`now: Dr. Bob Lee, since ${DateTime.fromMillis(bobFrom, { zone: ZONE }).toFormat('yyyy-MM-dd HH:mm ZZZZ')}`);
    expect(shown.stdout).toContain('backup: Dr. Carol Patel');
    expect(shown.stdout).not.toContain('not reachable');
  }, 120_000);

  afterAll(async () => {
    await relay?.stop();
  });

  it('finds the role by name or department, with who holds it now and since when, its backup and the next hand-over', async () => {
    const { roles } = await carol.relay.searchRoles('CARDIO', 10);
    expect(roles).toEqual([{ id: expect.any(String), name: 'Cardiology on call', department: 'Cardiology', timeZone: ZONE }]);
    roleId = roles[0]!.id;
    expect((await carol.relay.searchRoles('nurse', 10)).roles).toEqual([]);
    const detail = await carol.relay.role(roleId);
    expect(detail.holders).toEqual([{ userId: expect.any(String), displayName: 'Dr. Bob Lee', since: bobFrom }]);
    expect(detail.nextHandOver).toEqual({ at: handOver, holders: [{ userId: carol.address.userId, displayName: 'Dr. Carol Patel' }] });
    expect(detail.backup).toEqual({ kind: 'user', userId: carol.address.userId, displayName: 'Dr. Carol Patel' });
    expect(detail.canSchedule).toBe(false);
    expect((await alice.relay.role(roleId)).canSchedule).toBe(true);
    // As the rota stands at a later instant (an escalation step's release): Carol, after the hand-over.
    const later = await carol.relay.role(roleId, handOver + HOUR);
    expect([later.at, later.holders.map((h) => h.displayName)]).toEqual([handOver + HOUR, ['Dr. Carol Patel']]);
  });

  it('lets a scheduler add and remove a shift from the app, and no one else', async () => {
    const { shift } = await alice.relay.addRoleShift(roleId, { userId: carol.address.userId, startsAt: now - HOUR, endsAt: now + HOUR });
    expect(shift).toMatchObject({ displayName: 'Dr. Carol Patel', source: 'app' });
    expect((await carol.relay.role(roleId)).holders.map((h) => h.displayName)).toEqual(['Dr. Bob Lee', 'Dr. Carol Patel']);
    expect((await carol.relay.roleShifts(roleId, now, now + 24 * HOUR)).shifts.map((s) => [s.displayName, s.source])).toEqual([['Dr. Bob Lee', 'csv'], ['Dr. Carol Patel', 'app'], ['Dr. Carol Patel', 'csv']]);
    await expect(carol.relay.addRoleShift(roleId, { userId: carol.address.userId, startsAt: now, endsAt: now + HOUR })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(carol.relay.removeRoleShift(roleId, shift.id)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await alice.relay.removeRoleShift(roleId, shift.id)).toEqual({ removed: true });
    expect(await alice.relay.removeRoleShift(roleId, shift.id)).toEqual({ removed: false });
    expect((await carol.relay.role(roleId)).holders.map((h) => h.displayName)).toEqual(['Dr. Bob Lee']);
  });

  it('refuses bad requests with a clear code', async () => {
    await expect(alice.relay.addRoleShift(roleId, { userId: carol.address.userId, startsAt: now + HOUR, endsAt: now })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('ends after it starts') });
    await expect(alice.relay.addRoleShift(roleId, { userId: '00000000-0000-4000-8000-000000000000' as never, startsAt: now, endsAt: now + HOUR })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('cannot hold a role') });
    await expect(carol.relay.role('00000000-0000-4000-8000-000000000000' as RoleId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(carol.relay.roleShifts(roleId, now, now + 40 * 24 * HOUR)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(carol.relay.role(roleId, Date.now() + 3 * 24 * HOUR)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('at must be within 2 days of now') });
    const anonymous = await fetch(`${relay.url}/v1/roles?q=cardio`);
    expect(anonymous.status).toBe(401);
    const notAnId = await fetch(`${relay.url}/v1/roles/not-an-id`, { headers: { authorization: `Bearer ${carol.session.credential}` } });
    expect(notAnId.status).toBe(400);
  });

  it('takes a deactivated holder off the rota: the role falls to its backup, the rota shows the gap, the audit counts the shifts', async () => {
    // Bob holds the role now (until the hand-over), and a shift of his tomorrow is on the rota too.
    const tomorrow = await alice.relay.addRoleShift(roleId, { userId: (await carol.relay.role(roleId)).holders[0]!.userId, startsAt: now + 24 * HOUR, endsAt: now + 30 * HOUR });
    const before = Date.now();
    expect(cli('user', 'deactivate', 'bob')).toMatchObject({ status: 0 });
    const detail = await carol.relay.role(roleId);
    expect(detail.holders).toEqual([]);
    expect(detail.backup).toEqual({ kind: 'user', userId: carol.address.userId, displayName: 'Dr. Carol Patel' });
    expect(cli('role', 'show', 'Cardiology on call').stdout).toContain('now: no one holds it');
    // His shift under way ends at the deactivation, tomorrow's is gone: nobody is on the rota until Carol's shift.
    const rota = (await carol.relay.roleShifts(roleId, now - 4 * HOUR, now + 36 * HOUR)).shifts;
    expect(rota.map((s) => [s.displayName, s.startsAt])).toEqual([['Dr. Bob Lee', bobFrom], ['Dr. Carol Patel', handOver]]);
    expect(rota[0]!.endsAt).toBeGreaterThanOrEqual(before - 1000);
    expect(rota[0]!.endsAt).toBeLessThanOrEqual(Date.now());
    expect(rota.some((s) => s.id === tomorrow.shift.id)).toBe(false);
    const store = openStore(data, systemClock, { create: false });
    try {
      const records = await store.auditRecordsAfter(0, 1000, { types: ['shifts.vacated'] });
      expect(records.map((r) => [r.actor, r.details])).toEqual([['system', { removed: 1, ended: 1, roles: 'Cardiology on call' }]]);
    } finally {
      await store.close();
    }
  });

  it('audits every change with its actor and source, never a file name', async () => {
    const store = openStore(data, systemClock, { create: false });
    try {
      const records = await store.auditRecordsAfter(0, 1000, { types: ['role.created', 'schedule.imported', 'scheduler.granted', 'shift.added', 'shift.removed'] });
      expect(records.map((r) => [r.type, r.actor.startsWith('admin:') ? 'admin' : r.actor === `${alice.address.userId}.${alice.address.deviceId}` ? 'alice' : r.actor])).toEqual([
        ['role.created', 'admin'], ['schedule.imported', 'admin'], ['schedule.imported', 'admin'], ['scheduler.granted', 'admin'], ['shift.added', 'alice'], ['shift.removed', 'alice'], ['shift.added', 'alice'],
      ]);
      expect(records[2]!.details).toMatchObject({ role: 'Cardiology on call', source: 'csv', added: 2, removed: 2, from: bobFrom, to: carolTo });
      expect(records[4]!.details).toMatchObject({ source: 'app', startsAt: now - HOUR, endsAt: now + HOUR });
      expect(JSON.stringify(records)).not.toContain('.csv');
    } finally {
      await store.close();
    }
  });
});
