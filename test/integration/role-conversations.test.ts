import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserId } from '../../shared/ids';
import { DEFAULT_POLICY } from '../../shared/policy';
import type { RoleId } from '../../shared/wire/roles';
import { adminCli } from '../fixtures/relayProcess';
import { Ward } from '../fixtures/ward';
import { Workstation, until } from '../fixtures/workstation';

const HOUR = 3600_000;

/*
 * Conversations with an on-call role (issue 19) through the UI contract, three workstations and a real relay:
 * Alice writes to "Cardiology on call"; Bob, who holds it, gets it in the role conversation, Carol does not;
 * after a hand-over to Carol (entered by Alice, a scheduler) the next message reaches Carol only, marked as a
 * hand-over; Carol's reply reaches Alice in the same conversation. No one holding the role and no backup:
 * nothing is sent, and the clinician is told.
 */
describe('role conversations', () => {
  let ward: Ward;
  let alice: Workstation;
  let bob: Workstation;
  let carol: Workstation;
  const ids: Record<string, UserId> = {};
  let roleId: RoleId;
  const now = Date.now();

  beforeAll(async () => {
    ward = await Ward.open({ alice: 'Dr. Alice Moreau', bob: 'Dr. Bob Lee', carol: 'Dr. Carol Patel' }, {
      station: { policy: { ...DEFAULT_POLICY, notificationPreviews: false } },
      accountsOnly: { dana: 'Dr. Dana Idowu' },
      prepare: (cli) => {
        // Dana is Night pharmacy's backup, and has left since.
        cli('role', 'create', 'Night pharmacy', '--time-zone', 'Europe/London', '--backup-user', 'dana');
        cli('user', 'deactivate', 'dana');
        cli('role', 'create', 'Cardiology on call', '--time-zone', 'Europe/London', '--department', 'Cardiology');
        cli('role', 'create', 'Night radiology', '--time-zone', 'Europe/London');
        cli('role', 'create', 'Ward 4 charge nurse', '--time-zone', 'Europe/London', '--backup-user', 'carol');
        cli('role', 'assign', 'Cardiology on call', 'bob', '--from', new Date(now - HOUR).toISOString(), '--to', new Date(now + 8 * HOUR).toISOString());
        cli('user', 'scheduler', 'alice');
      },
    });
    ({ alice, bob, carol } = ward.stations as Record<'alice' | 'bob' | 'carol', Workstation>);
    Object.assign(ids, ward.ids);
  }, 90_000);

  afterAll(async () => {
    await ward?.close();
  });

  const roleConversation = async (w: Workstation) => (await w.call('conversations.list', {})).find((c) => c.kind === 'role');

  it('sends to whoever holds the role now, files it in the role conversation, and tells of a hand-over', async () => {
    const [found] = await alice.call('roles.search', { query: 'cardio' });
    expect(found).toMatchObject({ name: 'Cardiology on call', department: 'Cardiology', timeZone: 'Europe/London' });
    roleId = found!.id;
    const { conversationId } = await alice.call('roles.open', { roleId });
    expect(await roleConversation(alice)).toMatchObject({ id: conversationId, kind: 'role', title: 'Cardiology on call', role: { id: roleId, initiator: ids.alice, holders: [{ userId: ids.bob, displayName: 'Dr. Bob Lee' }] } });

    await alice.call('messages.send', { conversationId, text: 'Bed 12: chest pain, troponin rising' });
    await until(async () => (await roleConversation(bob)) !== undefined, 'the message at Bob');
    await bob.call('directory.list', {}); // the names the screens show, as the main window loads them
    const atBob = (await roleConversation(bob))!;
    // Bob may hold many conversations with the role, one per colleague who wrote: named after both.
    expect(atBob).toMatchObject({ id: conversationId, kind: 'role', title: 'Cardiology on call · from Dr. Alice Moreau', unread: 1 });
    expect(await bob.call('messages.page', { conversationId, limit: 5 })).toEqual([expect.objectContaining({ body: 'Bed 12: chest pain, troponin rising', roleDelivery: expect.objectContaining({ roleName: 'Cardiology on call', handedOver: false, holders: [expect.objectContaining({ userId: ids.bob })] }) })]);

    // Bob replies: it reaches Alice in the same conversation.
    await bob.call('messages.send', { conversationId, text: 'On my way' });
    await until(async () => (await alice.bodies(conversationId)).includes('On my way'), 'Bob\'s reply at Alice');

    // The hand-over, entered in the app by Alice (a scheduler): Bob's shift ends now, Carol's starts.
    const bobs = await alice.call('roles.shifts', { roleId, from: now - HOUR, to: now + HOUR });
    await alice.call('roles.removeShift', { roleId, shiftId: bobs[0]!.id });
    await alice.call('roles.addShift', { roleId, userId: ids.carol!, startsAt: Date.now() - 1000, endsAt: now + 12 * HOUR });
    expect((await carol.call('roles.detail', { roleId })).holders.map((h) => h.displayName)).toEqual(['Dr. Carol Patel']);
    await carol.fails('roles.addShift', { roleId, userId: ids.carol!, startsAt: now, endsAt: now + HOUR });

    await alice.call('messages.send', { conversationId, text: 'Any update on bed 12?' });
    const [latest] = await alice.call('messages.page', { conversationId, limit: 1 });
    expect(latest?.roleDelivery).toMatchObject({ handedOver: true, holders: [{ userId: ids.carol, displayName: 'Dr. Carol Patel' }] });
    await until(async () => (await roleConversation(carol)) !== undefined, 'the message at Carol');
    expect(await carol.bodies(conversationId)).toEqual(['Any update on bed 12?']);
    // Carol replies; Alice has it; Bob never got the message after the hand-over.
    await carol.call('messages.send', { conversationId, text: 'Seen him, cath lab at 14:00' });
    await until(async () => (await alice.bodies(conversationId)).includes('Seen him, cath lab at 14:00'), 'Carol\'s reply at Alice');
    expect(await bob.bodies(conversationId)).toEqual(['Bed 12: chest pain, troponin rising', 'On my way']);
  });

  it('sends to the backup when no one holds the role, and says so', async () => {
    const [ward] = await alice.call('roles.search', { query: 'charge nurse' });
    expect(await alice.call('roles.detail', { roleId: ward!.id })).toMatchObject({ holders: [], backup: { kind: 'user', userId: ids.carol, displayName: 'Dr. Carol Patel' }, nextHandOver: null });
    const { conversationId } = await alice.call('roles.open', { roleId: ward!.id });
    await alice.call('messages.send', { conversationId, text: 'Bed 7 needs a second nurse for the transfer' });
    expect((await alice.call('messages.page', { conversationId, limit: 1 }))[0]?.roleDelivery).toMatchObject({ via: 'backup', holders: [{ userId: ids.carol }] });
    await until(async () => (await carol.bodies(conversationId)).includes('Bed 7 needs a second nurse for the transfer'), 'the message at Carol, the backup');
  });

  it('sends nothing when no one holds the role and it has no backup, and says so', async () => {
    const [radiology] = await alice.call('roles.search', { query: 'radiology' });
    const { conversationId } = await alice.call('roles.open', { roleId: radiology!.id });
    expect(await alice.fails('messages.send', { conversationId, text: 'Can someone report the CT?' })).toMatchObject({ code: 'ROLE_UNCOVERED', message: expect.stringContaining('No one holds Night radiology now') });
    expect(await alice.call('messages.page', { conversationId, limit: 5 })).toEqual([]);
  });

  it('sends nothing when the backup was deactivated since it was named, and says why; an admin cannot name such a backup', async () => {
    const [pharmacy] = await alice.call('roles.search', { query: 'pharmacy' });
    expect(await alice.call('roles.detail', { roleId: pharmacy!.id })).toMatchObject({ holders: [], backup: null, unreachable: [expect.objectContaining({ displayName: 'Dr. Dana Idowu', as: 'backup', reason: 'accountNotActive' })] });
    const { conversationId } = await alice.call('roles.open', { roleId: pharmacy!.id });
    expect(await alice.fails('messages.send', { conversationId, text: 'Is there any vancomycin left on the ward?' })).toMatchObject({
      code: 'ROLE_UNCOVERED', message: expect.stringContaining('No one holds Night pharmacy now and its backup, Dr. Dana Idowu, cannot be reached (account not active)'),
    });
    expect(await alice.call('messages.page', { conversationId, limit: 5 })).toEqual([]);
    // IT sees it flagged, and cannot name her again.
    const cli = (...args: string[]) => adminCli([...args, '--data', ward.relayDir]);
    expect(cli('role', 'show', 'Night pharmacy').stdout).toContain('backup: Dr. Dana Idowu (DEACTIVATED: no backup until it is changed with role update)');
    expect(cli('role', 'list').stdout).toMatch(/Night pharmacy\t.*\tbackup: Dr\. Dana Idowu \(DEACTIVATED/);
    expect(cli('role', 'list').stdout).toMatch(/Ward 4 charge nurse\t.*\tbackup: Dr\. Carol Patel\t/);
    for (const args of [['create', 'Night pharmacy 2', '--time-zone', 'Europe/London'], ['update', 'Ward 4 charge nurse']]) {
      expect(cli('role', ...args, '--backup-user', 'dana')).toMatchObject({ status: 1, stderr: expect.stringContaining("the account dana is deactivated and cannot be a role's backup") });
    }
    expect(cli('role', 'update', 'Ward 4 charge nurse', '--backup-user', 'nobody')).toMatchObject({ status: 1, stderr: expect.stringContaining('no account nobody to be the backup') });
    expect(cli('role', 'show', 'Ward 4 charge nurse').stdout).toContain('backup: Dr. Carol Patel');
  });

  it('sends nothing, and keeps nothing for later, when the server cannot be asked who holds the role', async () => {
    const conversationId = (await roleConversation(alice))!.id;
    const before = await alice.call('messages.page', { conversationId, limit: 20 });
    await ward.relay.stop();
    expect(await alice.fails('messages.send', { conversationId, text: 'Still there?' })).toMatchObject({ code: 'ROLE_LOOKUP_FAILED', message: expect.stringContaining('nothing was sent') });
    expect(await alice.call('messages.page', { conversationId, limit: 20 })).toEqual(before);
  });
});
