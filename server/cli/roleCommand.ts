import { Option, type Command } from 'commander';
import { z } from 'zod';
import { readFileSync } from 'node:fs';
import { UsernameSchema } from '../../shared/wire/relay';
import { DepartmentSchema } from '../../shared/wire/directory';
import { RoleNameSchema, STANDING_SHIFT_END, TimeZoneSchema, type RoleDetail } from '../../shared/wire/roles';
import { dataOption, databasePasswordFileOption, keyFileOption, siteDatabaseOption, validated, withStore, type DataOptions } from '../cliOptions';
import { RelayFailure } from '../RelayFailure';
import { RoleService, type BackupName } from '../roles/RoleService';
import { RotaRefused, rotaFormatOf, type RotaFormat } from '../roles/rotaImport';
import { systemClock } from '../Clock';
import type { RelayStore } from '../storage/RelayStore';

/*
 * `rounds-server role create|update|list|show|import|assign|unassign` and `rounds-server user scheduler`
 * (issue 19): on-call roles, their rotas and who may change them in the app. Times typed here are wall
 * times in the role's time zone (`2026-12-03 08:00`), or instants with `Z`/an offset; times printed are in
 * the role's zone with its offset. Every change is audited with the admin's OS account as the actor.
 */

const storeOptions = (command: Command) => command.addOption(dataOption()).addOption(keyFileOption()).addOption(siteDatabaseOption()).addOption(databasePasswordFileOption());
const roleArgument = '<role>';
const roleHelp = 'the role: its name (any case) or id';
const RoleDaysSchema = z.number().int().min(1).max(31);

interface BackupOptions { backupUser?: string; backupRole?: string; backup?: false }
/** The backup the options name: undefined when none of them is given; null for --no-backup. */
function backupOf(opts: BackupOptions): BackupName | undefined {
  if (opts.backupUser && opts.backupRole) throw new RelayFailure('BAD_REQUEST', 'a role has one backup: --backup-user or --backup-role, not both');
  if (opts.backupUser) return { username: opts.backupUser };
  if (opts.backupRole) return { role: opts.backupRole };
  return opts.backup === false ? null : undefined;
}

const UNREACHABLE: Readonly<Record<'accountNotActive' | 'noWorkstation', string>> = { accountNotActive: 'account not active', noWorkstation: 'no workstation signed in' };

/**
 * The backup as `role list` and `role show` print it. A backup account deactivated (or gone) since it was named
 * is flagged: it is no backup now, and a message for the role with no one on duty reaches no one.
 */
async function describeBackup(detail: RoleDetail, store: Pick<RelayStore, 'userById'>): Promise<string> {
  const backup = detail.backup;
  if (backup) return backup.kind === 'user' ? backup.displayName : `the role ${backup.role.name} (${backup.holders.map((h) => h.displayName).join(', ') || 'no one now'})`;
  const out = detail.unreachable.find((u) => u.as === 'backup' && u.reason === 'accountNotActive');
  if (!out) return 'none';
  const status = (await store.userById(out.userId))?.status;
  if (status === 'pending') return `${out.displayName} (not enrolled yet: no backup until then)`;
  return `${out.displayName} (${status === undefined ? 'NO SUCH ACCOUNT' : 'DEACTIVATED'}: no backup until it is changed with role update)`;
}

/**
 * The times of roles typed and printed here (luxon, ICU's time zones), loaded by the commands that use them:
 * every other command of rounds-server, `serve` first, starts without them.
 */
const roleTimes = () => import('./roleTimes');

export function addRoleCommands(program: Command, user: Command, admin: string): void {
  const role = program.command('role').description('on-call roles ("Cardiology on call") and their rotas: who holds each when');
  const service = (store: Parameters<Parameters<typeof withStore>[2]>[0]) => new RoleService(store, () => systemClock.now());

  storeOptions(role.command('create'))
    .description('create an on-call role; audited')
    .argument('<name>', 'its name, e.g. "Cardiology on call" (unique, any case)', validated(RoleNameSchema, 'role name'))
    .requiredOption('--time-zone <zone>', 'the IANA time zone its rota is written in, e.g. Europe/London', validated(TimeZoneSchema, 'time zone'))
    .option('--department <text>', 'the department it belongs to', validated(DepartmentSchema, 'department'))
    .option('--backup-user <username>', 'who covers when no one holds the role (and the first escalation)', validated(UsernameSchema, 'username'))
    .option('--backup-role <role>', 'or another role that covers it')
    .action(async (name: string, opts: DataOptions & BackupOptions & { timeZone: string; department?: string }) => withStore(admin, opts, async (store) => {
      const created = await service(store).createRole(admin, { name, timeZone: opts.timeZone, department: opts.department ?? null, backup: backupOf(opts) ?? null });
      console.log(`created the role ${created.name} (${created.timeZone}), id ${created.id}`);
    }));

  storeOptions(role.command('update'))
    .description("change a role's name, department, time zone or backup; audited")
    .argument(roleArgument, roleHelp)
    .option('--name <name>', 'a new name', validated(RoleNameSchema, 'role name'))
    .option('--time-zone <zone>', 'the IANA time zone its rota is written in', validated(TimeZoneSchema, 'time zone'))
    .option('--department <text>', 'the department ("" clears it)')
    .option('--backup-user <username>', 'who covers when no one holds the role', validated(UsernameSchema, 'username'))
    .option('--backup-role <role>', 'or another role that covers it')
    .option('--no-backup', 'no backup')
    .action(async (name: string, opts: DataOptions & BackupOptions & { name?: string; timeZone?: string; department?: string }) => withStore(admin, opts, async (store) => {
      const department = opts.department === undefined ? undefined : opts.department.trim() === '' ? null : validated(DepartmentSchema, 'department')(opts.department);
      const updated = await service(store).updateRole(admin, name, { ...(opts.name ? { name: opts.name } : {}), ...(opts.timeZone ? { timeZone: opts.timeZone } : {}), ...(department !== undefined ? { department } : {}), ...(backupOf(opts) !== undefined ? { backup: backupOf(opts) ?? null } : {}) });
      console.log(`updated the role ${updated.name}`);
    }));

  storeOptions(role.command('list'))
    .description('list the roles, with who holds each now')
    .action(async (opts: DataOptions) => withStore(admin, opts, async (store) => {
      const { local } = await roleTimes();
      const roles = service(store);
      const now = systemClock.now();
      for (const r of await store.roles.listRoles()) {
        const detail = await roles.detail(r, now);
        const holders = [...detail.holders.map((h) => `${h.displayName} since ${local(h.since, r.timeZone)}`), ...detail.unreachable.filter((u) => u.as === 'holder').map((u) => `${u.displayName} (not reachable)`)].join(', ') || 'no one';
        console.log(`${r.name}\t${r.department ?? '-'}\t${r.timeZone}\t${holders}\tbackup: ${await describeBackup(detail, store)}\t${r.id}`);
      }
    }));

  storeOptions(role.command('show'))
    .description("a role: who holds it now, its backup, the next hand-over and the shifts of the days ahead")
    .argument(roleArgument, roleHelp)
    .option('--days <n>', 'how many days of shifts to list', (v) => validated(RoleDaysSchema, 'days')(Number(v) as never), 7)
    .action(async (name: string, opts: DataOptions & { days: number }) => withStore(admin, opts, async (store) => {
      const { local } = await roleTimes();
      const roles = service(store);
      const r = await roles.requireRole(name);
      const now = systemClock.now();
      const detail = await roles.detail(r, now);
      const zone = r.timeZone;
      console.log(`${r.name}${r.department ? ` (${r.department})` : ''}, rota in ${zone}, id ${r.id}`);
      console.log(`now: ${detail.holders.map((h) => `${h.displayName}, since ${local(h.since, zone)}`).join('; ') || 'no one holds it'}`);
      // On the rota but out of reach: messages go past them (to the backup when no holder can be reached).
      for (const u of detail.unreachable) console.log(`not reachable: ${u.displayName} (${u.as === 'holder' ? 'on the rota' : 'the backup'}; ${UNREACHABLE[u.reason]})`);
      console.log(`backup: ${await describeBackup(detail, store)}`);
      const next = detail.nextHandOver;
      console.log(`next hand-over: ${next ? `${local(next.at, zone)} to ${next.holders.map((h) => h.displayName).join(', ') || 'no one'}` : 'none scheduled'}`);
      for (const s of await roles.shifts(r.id, now, now + opts.days * 86_400_000)) {
        console.log(`${s.id}\t${local(s.startsAt, zone)}\t${s.endsAt >= STANDING_SHIFT_END ? 'standing (directory group)' : local(s.endsAt, zone)}\t${s.displayName}\t${s.source}`);
      }
    }));

  storeOptions(role.command('import'))
    .description("import a rota file (.csv or .ics) into a role's schedule: all or nothing, every faulty line named; replaces the shifts it covers; audited")
    .argument(roleArgument, roleHelp)
    .argument('<file>', 'the rota: CSV (username, start, end; or username, date, start time, end time) or iCalendar (.ics)')
    .addOption(new Option('--format <format>', 'the file\'s format (by default from its extension)').choices(['csv', 'ics']))
    .action(async (name: string, file: string, opts: DataOptions & { format?: RotaFormat }) => withStore(admin, opts, async (store) => {
      const { local } = await roleTimes();
      const format = opts.format ?? rotaFormatOf(file);
      if (!format) throw new RelayFailure('BAD_REQUEST', `cannot tell the format of ${file} from its name: give --format csv or --format ics`);
      const roles = service(store);
      const r = await roles.requireRole(name);
      try {
        const done = await roles.importRota(admin, r, readFileSync(file, 'utf8'), format);
        console.log(`imported ${done.added.length} shifts into ${r.name} (${local(done.span.from, r.timeZone)} to ${local(done.span.to, r.timeZone)}), replacing ${done.removed}`);
      } catch (error) {
        if (!(error instanceof RotaRefused)) throw error;
        console.error(`error: ${error.message}`);
        for (const issue of error.issues) console.error(`  ${issue}`);
        process.exitCode = 1;
      }
    }));

  storeOptions(role.command('assign'))
    .description('put someone on a role for one shift; audited')
    .argument(roleArgument, roleHelp)
    .argument('<username>', 'who holds it', validated(UsernameSchema, 'username'))
    .requiredOption('--from <time>', 'start: YYYY-MM-DD HH:mm in the role\'s time zone (or with Z or an offset)')
    .requiredOption('--to <time>', 'end, likewise')
    .action(async (name: string, username: string, opts: DataOptions & { from: string; to: string }) => withStore(admin, opts, async (store, accounts) => {
      const { local, typedTime } = await roleTimes();
      const roles = service(store);
      const r = await roles.requireRole(name);
      const holder = await accounts.requireUser(username);
      const startsAt = typedTime(opts.from, r, 'start');
      const endsAt = typedTime(opts.to, r, 'end');
      if (endsAt <= startsAt) throw new RelayFailure('BAD_REQUEST', 'the shift must end after it starts');
      const shift = await roles.addShift(admin, r, { userId: holder.id, startsAt, endsAt }, 'cli');
      console.log(`${holder.displayName} holds ${r.name} from ${local(shift.startsAt, r.timeZone)} to ${local(shift.endsAt, r.timeZone)} (shift ${shift.id})`);
    }));

  storeOptions(role.command('unassign'))
    .description('remove one shift from a role (see `role show` for the ids); audited')
    .argument(roleArgument, roleHelp)
    .argument('<shift>', 'the shift id')
    .action(async (name: string, shiftId: string, opts: DataOptions) => withStore(admin, opts, async (store) => {
      const roles = service(store);
      const r = await roles.requireRole(name);
      if (!(await roles.removeShift(admin, r, shiftId))) throw new RelayFailure('NOT_FOUND', `${r.name} has no shift ${shiftId}`);
      console.log(`removed shift ${shiftId} from ${r.name}`);
    }));

  storeOptions(user.command('scheduler'))
    .description("allow an account to change on-call schedules in the app (--revoke: no longer); audited")
    .argument('<username>', 'the account', validated(UsernameSchema, 'username'))
    .option('--revoke', 'take the permission away')
    .action(async (username: string, opts: DataOptions & { revoke?: boolean }) => withStore(admin, opts, async (store, accounts) => {
      const account = await accounts.requireUser(username);
      const changed = await service(store).setScheduler(admin, account.id, !opts.revoke);
      console.log(opts.revoke ? `${username} ${changed ? 'may no longer' : 'could not'} change schedules` : `${username} ${changed ? 'may now' : 'could already'} change schedules in the app`);
    }));
}

