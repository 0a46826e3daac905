import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS, type UiEvent } from '../../shared/contract';
import type { UserId } from '../../shared/ids';
import { DEFAULT_POLICY } from '../../shared/policy';
import { RelayProcess, addUser, adminCli, removeDir, tempDataDir } from '../fixtures/relayProcess';
import { Workstation, until } from '../fixtures/workstation';

const HOUR = 3600_000;

/*
 * Presence and coverage (issue 19) through the UI contract, three workstations and a real relay: Bob goes off
 * shift and names Carol to cover; Alice's message to Bob also reaches Carol, marked as forwarded, and Alice's
 * conversation with Bob says so. Do not disturb keeps non-urgent notifications quiet, never urgent ones. Bad
 * input is refused with the field named.
 */
describe('presence and coverage', () => {
  let relayDir: string;
  let relay: RelayProcess;
  const dirs: string[] = [];
  let alice: Workstation;
  let bob: Workstation;
  let carol: Workstation;
  const ids: Record<string, UserId> = {};

  beforeAll(async () => {
    relayDir = tempDataDir();
    relay = await RelayProcess.start(relayDir);
    [alice, bob, carol] = ['alice', 'bob', 'carol'].map(() => {
      dirs.push(tempDataDir());
      return new Workstation(dirs.at(-1)!, { policy: { ...DEFAULT_POLICY, notificationPreviews: false } });
    }) as [Workstation, Workstation, Workstation];
    await alice.enroll(relay.url, 'alice', addUser(relayDir, 'alice', 'Dr. Alice Moreau'));
    await bob.enroll(relay.url, 'bob', addUser(relayDir, 'bob', 'Dr. Bob Lee'));
    await carol.enroll(relay.url, 'carol', addUser(relayDir, 'carol', 'Dr. Carol Patel'));
    for (const c of await alice.call('directory.list', {})) ids[c.username] = c.userId;
    await until(async () => (await alice.online()) && (await bob.online()) && (await carol.online()), 'all online');
  }, 90_000);

  afterAll(async () => {
    for (const w of [alice, bob, carol]) await w?.app.close();
    await relay.stop();
    removeDir(relayDir);
    for (const d of dirs) removeDir(d);
  });

  it('refuses bad input with the field named, on the workstation and on the relay', async () => {
    const soon = Date.now() + HOUR;
    expect(await bob.fails('presence.set', { status: 'onHoliday' })).toMatchObject({ code: 'INVALID_INPUT', issues: [expect.stringContaining('status')] });
    expect(await bob.fails('presence.set', { status: 'busy', forwardTo: { kind: 'user', userId: ids.carol } })).toMatchObject({ code: 'INVALID_INPUT', issues: [expect.stringMatching(/forwardTo: only Off shift and Do not disturb/)] });
    expect(await bob.fails('presence.set', { status: 'busy', note: 'x'.repeat(81) })).toMatchObject({ code: 'INVALID_INPUT', issues: [expect.stringContaining('note')] });
    expect(await bob.fails('presence.set', { status: 'busy', note: 'line one\nline two' })).toMatchObject({ code: 'INVALID_INPUT' });
    expect(await bob.fails('presence.set', { status: 'available', until: soon })).toMatchObject({ code: 'INVALID_INPUT', issues: [expect.stringContaining('Available has no end time')] });
    // What only the relay can judge: the time, who the colleague is.
    expect(await bob.fails('presence.set', { status: 'busy', until: Date.now() - 1000 })).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('until must be in the future') });
    expect(await bob.fails('presence.set', { status: 'busy', until: Date.now() + 8 * 24 * HOUR })).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('7 days') });
    expect(await bob.fails('presence.set', { status: 'offShift', forwardTo: { kind: 'user', userId: ids.bob } })).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('yourself') });
    expect(await bob.fails('presence.set', { status: 'offShift', forwardTo: { kind: 'user', userId: '00000000-0000-4000-8000-000000000000' } })).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('no active colleague') });
    // Nothing was set by any of them.
    expect(await alice.call('presence.get', { userIds: [ids.bob!] })).toContainEqual(expect.objectContaining({ userId: ids.bob, status: 'available', since: null }));
  });

  it('forwards a message to an off-shift colleague to whoever covers, and says so on both sides', async () => {
    const until2 = Date.now() + 2 * HOUR;
    const set = await bob.call('presence.set', { status: 'offShift', note: 'Back Monday 08:00', until: until2, forwardTo: { kind: 'user', userId: ids.carol! } });
    expect(set).toMatchObject({ userId: ids.bob, status: 'offShift', note: 'Back Monday 08:00', until: until2, forwardTo: { kind: 'user', userId: ids.carol } });
    // Read by a colleague, many at once (lists and pickers), with Available for those without a status.
    const read = await alice.call('presence.get', { userIds: [ids.bob!, ids.carol!] });
    expect(read.map((p) => [p.userId, p.status])).toEqual([[ids.alice, 'available'], [ids.bob, 'offShift'], [ids.carol, 'available']]);

    const { conversationId: toBob } = await alice.call('conversations.openDirect', { userId: ids.bob! });
    const { messageId } = await alice.call('messages.send', { conversationId: toBob, text: 'Bed 12: potassium 5.9, please review' });
    const [sent] = await alice.call('messages.page', { conversationId: toBob, limit: 5 });
    expect(sent).toMatchObject({ id: messageId, coverage: { kind: 'alsoSent', absent: ids.bob, status: 'offShift', to: [ids.carol] } });

    // Bob still gets it (he reads it when he is back); Carol gets her own copy, in her conversation with Alice.
    await until(async () => (await bob.bodies(toBob)).includes('Bed 12: potassium 5.9, please review'), 'the message at Bob');
    const carolsConversation = async () => (await carol.call('conversations.list', {})).find((c) => c.peer === ids.alice);
    await until(async () => (await carolsConversation()) !== undefined, 'the forwarded copy at Carol');
    await carol.call('directory.list', {}); // the names the screens show, as the main window loads them
    const atCarol = await carol.call('messages.page', { conversationId: (await carolsConversation())!.id, limit: 5 });
    expect(atCarol).toEqual([expect.objectContaining({ body: 'Bed 12: potassium 5.9, please review', senderName: 'Dr. Alice Moreau', coverage: { kind: 'forwarded', absent: ids.bob, status: 'offShift' } })]);
    expect(atCarol[0]?.id).not.toBe(messageId);
    // Alice's copy of what went to Carol sits in her conversation with Carol, delivered like any message.
    const { conversationId: toCarol } = await alice.call('conversations.openDirect', { userId: ids.carol! });
    await until(async () => (await alice.call('messages.page', { conversationId: toCarol, limit: 5 }))[0]?.state === 'delivered', 'the copy delivered to Carol');

    // Back on shift: nothing more is forwarded once Alice's workstation has read it (the screens read statuses on
    // opening a conversation and every minute; a send reuses a status read in the last 10 seconds).
    await bob.call('presence.set', { status: 'available' });
    await alice.call('presence.get', { userIds: [ids.bob!] });
    await alice.call('messages.send', { conversationId: toBob, text: 'Thanks, all sorted' });
    expect((await alice.call('messages.page', { conversationId: toBob, limit: 1 }))[0]).toMatchObject({ body: 'Thanks, all sorted', coverage: null });
  });

  it('offline, decides on the last status read, and sends both copies once the relay is back', async () => {
    await bob.call('presence.set', { status: 'doNotDisturb', forwardTo: { kind: 'user', userId: ids.carol! } });
    await alice.call('presence.get', { userIds: [ids.bob!] });
    const port = relay.port;
    await relay.kill();
    await until(async () => !(await alice.online()), 'Alice offline');
    const { conversationId: toBob } = await alice.call('conversations.openDirect', { userId: ids.bob! });
    const started = Date.now();
    await alice.call('messages.send', { conversationId: toBob, text: 'Written while the relay was down' });
    expect(Date.now() - started).toBeLessThan(5000); // no wait for a relay that cannot answer
    expect((await alice.call('messages.page', { conversationId: toBob, limit: 1 }))[0]).toMatchObject({ state: 'pending', coverage: { kind: 'alsoSent', status: 'doNotDisturb', to: [ids.carol] } });
    relay = await RelayProcess.start(relayDir, [], port);
    const { conversationId: carolWithAlice } = await carol.call('conversations.openDirect', { userId: ids.alice! });
    await until(async () => (await carol.bodies(carolWithAlice)).includes('Written while the relay was down'), 'the copy at Carol after the relay is back', 30_000);
    await bob.call('presence.set', { status: 'available' });
  });

  it('forwards to whoever holds the on-call role named, resolved when the message goes', async () => {
    const created = adminCli(['role', 'create', 'Cardiology on call', '--time-zone', 'Europe/London', '--data', relayDir]);
    const roleId = /id ([0-9a-f-]{36})/.exec(created.stdout)?.[1];
    expect(adminCli(['role', 'assign', 'Cardiology on call', 'carol', '--from', new Date(Date.now() - HOUR).toISOString(), '--to', new Date(Date.now() + 8 * HOUR).toISOString(), '--data', relayDir])).toMatchObject({ status: 0 });
    expect(await bob.fails('presence.set', { status: 'offShift', forwardTo: { kind: 'role', roleId: '6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9' } })).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('no on-call role') });
    await bob.call('presence.set', { status: 'offShift', forwardTo: { kind: 'role', roleId: roleId! } });
    await alice.call('presence.get', { userIds: [ids.bob!] });

    const { conversationId: toBob } = await alice.call('conversations.openDirect', { userId: ids.bob! });
    const { messageId } = await alice.call('messages.send', { conversationId: toBob, text: 'Troponin back, 2 x ULN' });
    expect((await alice.call('messages.page', { conversationId: toBob, limit: 1 }))[0]).toMatchObject({
      id: messageId, coverage: { kind: 'alsoSent', absent: ids.bob, status: 'offShift', to: [ids.carol], role: { id: roleId, name: 'Cardiology on call' } },
    });
    const { conversationId: carolWithAlice } = await carol.call('conversations.openDirect', { userId: ids.alice! });
    await until(async () => (await carol.bodies(carolWithAlice)).includes('Troponin back, 2 x ULN'), 'the copy at the role\'s holder');
    await bob.call('presence.set', { status: 'available' });
  });

  it('keeps non-urgent notifications quiet in Do not disturb, never urgent ones', async () => {
    await carol.call('presence.set', { status: 'doNotDisturb', note: 'Teaching until 15:00' });
    const { conversationId: toCarol } = await alice.call('conversations.openDirect', { userId: ids.carol! });
    const before = carol.events.length;
    const routine = await alice.call('messages.send', { conversationId: toCarol, text: 'Coffee after the round?' });
    // (Urgent needs a reason from the policy's list once the guardrail is in the contract.)
    const reason = 'urgentReason' in COMMANDS['messages.send'].input.shape ? { urgentReason: DEFAULT_POLICY.urgentReasons[0] } : {};
    const urgent = await alice.call('messages.send', { conversationId: toCarol, text: 'Resus bay 2 now', urgent: true, ...reason });
    const arrived = (id: string) => carol.events.slice(before).find((e): e is Extract<UiEvent, { type: 'message' }> => e.type === 'message' && e.messageId === id);
    await until(() => arrived(routine.messageId) !== undefined && arrived(urgent.messageId) !== undefined, 'both messages at Carol');
    // Both arrive and count as unread; only the urgent one raises an OS notification.
    expect(carol.app.notificationFor(arrived(routine.messageId)!)).toBeNull();
    expect(carol.app.notificationFor(arrived(urgent.messageId)!)).toMatchObject({ body: 'Urgent message in Rounds', urgent: true });
    expect(carol.app.notificationFor({ type: 'urgentReminder', conversationId: toCarol, messageId: urgent.messageId, reminder: 1 })).toMatchObject({ urgent: true });
    expect((await carol.call('conversations.list', {})).find((c) => c.peer === ids.alice)).toMatchObject({ unread: 5, unreadUrgent: 1 });
    // Available again: routine messages notify again.
    await carol.call('presence.set', { status: 'available' });
    expect(carol.app.notificationFor(arrived(routine.messageId)!)).toMatchObject({ body: 'New message in Rounds', urgent: false });
  });
});
