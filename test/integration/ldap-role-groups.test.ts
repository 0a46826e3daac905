/**
 * Roles from LDAP / Active Directory groups (issues 18 and 19): `directory.ldap.roleGroups` maps a group's DN to
 * an on-call role; each sync makes the group's members (read from memberOf on their entries, as AD keeps it and
 * OpenLDAP's memberof overlay does) the role's standing holders, ends the holding of whoever left the group,
 * was disabled or left the directory, and of everyone once the group is no longer mapped. Real slapd, real
 * `rounds-server directory sync` and `role create`; the shifts and their audit records read from the database.
 */
import { writeFileSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STANDING_SHIFT_END } from '../../shared/wire/roles';
import { SUFFIX, directorySync, ldapPerson, organizationalUnit, relayConfigFor } from '../fixtures/ldapSync';
import { adminCli, openRelayDatabase } from '../fixtures/relayProcess';
import { slapdUnavailable, startSlapd, type TestSlapd } from '../fixtures/slapd';
import { useTempDirs } from '../fixtures/tempDirs';

const unavailable = slapdUnavailable();
if (unavailable) console.log(`LDAP role group tests skipped: ${unavailable}`);

const STAFF = `ou=staff,${SUFFIX}`;
const GROUPS = `ou=groups,${SUFFIX}`;
const ONCALL = `cn=cardio-oncall,${GROUPS}`;
const ROLE = 'Cardiology on call';
const member = (uid: string) => `uid=${uid},${STAFF}`;

describe.skipIf(unavailable !== null)('on-call roles from LDAP groups', () => {
  const dir = useTempDirs();
  let slapd: TestSlapd;

  beforeAll(async () => {
    slapd = await startSlapd({ memberOf: true, ldif: [organizationalUnit(STAFF), organizationalUnit(GROUPS), organizationalUnit(`ou=leavers,${SUFFIX}`)].join('\n') });
    // Online, so the memberof overlay keeps memberOf on each person as the group changes.
    await slapd.modify([
      ldapPerson('alee', STAFF, 'Dr Amy Lee', 'a.lee@hospital.example'),
      ldapPerson('bpatel', STAFF, 'Dr Bo Patel', 'b.patel@hospital.example'),
      ldapPerson('ckim', STAFF, 'Dr Cy Kim', 'c.kim@hospital.example'),
      `dn: ${ONCALL}\nobjectClass: groupOfNames\ncn: cardio-oncall\nmember: ${member('alee')}\nmember: ${member('bpatel')}\n`,
    ].join('\n'));
  }, 60_000);
  afterAll(async () => {
    await slapd?.stop();
  });

  it("makes the mapped group's members standing holders, and follows the directory at each sync", async () => {
    const data = dir();
    expect(adminCli(['role', 'create', ROLE, '--time-zone', 'Europe/London', '--data', data]).status).toBe(0);
    // The DN as an administrator might copy it from AD: other case, spaces after the commas.
    const config = relayConfigFor(slapd, dir(), STAFF, { roleGroups: { [ONCALL.toUpperCase().replaceAll(',', ', ')]: ROLE } });
    const holders = () => {
      const db = openRelayDatabase(data);
      try {
        const rows = db.prepare(`SELECT u.username, s.ends_at FROM oncall_shifts s JOIN users u ON u.id = s.user_id WHERE s.source = 'ldap' ORDER BY u.username`).all() as { username: string; ends_at: number }[];
        return { now: rows.filter((r) => r.ends_at === STANDING_SHIFT_END).map((r) => r.username), ended: rows.filter((r) => r.ends_at !== STANDING_SHIFT_END).map((r) => r.username) };
      } finally {
        db.close();
      }
    };

    const first = directorySync(config, data);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/role Cardiology on call: 2 standing holders added, 0 ended/);
    expect(holders()).toEqual({ now: ['a.lee@hospital.example', 'b.patel@hospital.example'], ended: [] });
    // Nothing changed in the directory: nothing changes, nothing is audited again.
    expect(directorySync(config, data).stdout).not.toMatch(/standing holders/);

    // Lee leaves the group, Kim joins it.
    await slapd.modify(`dn: ${ONCALL}\nchangetype: modify\ndelete: member\nmember: ${member('alee')}\n-\nadd: member\nmember: ${member('ckim')}\n`);
    expect(directorySync(config, data).stdout).toMatch(/role Cardiology on call: 1 standing holders added, 1 ended/);
    expect(holders()).toEqual({ now: ['b.patel@hospital.example', 'c.kim@hospital.example'], ended: ['a.lee@hospital.example'] });

    // Patel leaves the hospital (out of the synced part of the directory): deactivated, and no longer holds the role.
    await slapd.move(member('bpatel'), `ou=leavers,${SUFFIX}`);
    const left = directorySync(config, data);
    expect(left.status, left.stderr).toBe(0);
    expect(holders().now).toEqual(['c.kim@hospital.example']);

    // The group no longer mapped (the config changed): its members stop holding the role at the next sync.
    const file = JSON.parse(readFileSync(config, 'utf8')) as { directory: { ldap: Record<string, unknown> } };
    delete file.directory.ldap['roleGroups'];
    writeFileSync(config, JSON.stringify(file));
    expect(directorySync(config, data).stdout).toMatch(/role Cardiology on call: 0 standing holders added, 1 ended/);
    expect(holders().now).toEqual([]);

    const db = openRelayDatabase(data);
    try {
      const records = (db.prepare("SELECT type, actor, details FROM audit_log WHERE type IN ('shift.added', 'shift.removed') ORDER BY seq").all() as { type: string; actor: string; details: string }[]);
      // Patel's deactivation took her off every rota at once (shifts.vacated, by the system): no shift.removed of hers.
      expect(records.map((r) => r.type)).toEqual(['shift.added', 'shift.added', 'shift.added', 'shift.removed', 'shift.removed']);
      expect((db.prepare("SELECT count(*) AS n FROM audit_log WHERE type = 'shifts.vacated'").get() as { n: number }).n).toBe(1);
      expect(records.every((r) => /^ldap:sync-[0-9a-f]{8}$/.test(r.actor) && (JSON.parse(r.details) as { source: string; role: string }).source === 'ldap')).toBe(true);
    } finally {
      db.close();
    }
  });

  it('refuses a role group map that is not one, naming the setting', () => {
    const config = relayConfigFor(slapd, dir(), STAFF, { roleGroups: { [ONCALL]: '' } });
    expect(directorySync(config, dir())).toMatchObject({ status: 1, stderr: expect.stringMatching(/roleGroups/) });
  });
});
