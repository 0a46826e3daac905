import { lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundle } from '../../server/audit/bundleFiles';
import { unwrapWithPassphrase, wrapWithPassphrase, type WrappedKey } from '../../main/core/storage/DatabaseKey';
import { InProcessKeyProtector } from '../../main/core/storage/KeyProtector';
import { RelayProcess, addUser, nextTotp, rememberTotpSecret, removeDir, tempDataDir } from '../fixtures/relayProcess';
import { FAST_KDF, PASSPHRASE, PASSWORD, Workstation, until } from '../fixtures/workstation';

/*
 * A workstation's secrets at rest, through the UI contract with a real relay: the passphrase policy is the
 * core's (not only the form's), Settings and the audit log say how the profile key is kept, and nothing
 * the client writes is readable by another OS account.
 */
describe('a workstation at rest', () => {
  let relayDir: string;
  let relay: RelayProcess;
  const dirs: string[] = [];
  const workstation = (options: ConstructorParameters<typeof Workstation>[1] = {}) => {
    const dir = tempDataDir();
    dirs.push(dir);
    return new Workstation(dir, options);
  };

  beforeAll(async () => {
    relayDir = tempDataDir();
    relay = await RelayProcess.start(relayDir);
  }, 60_000);

  afterAll(async () => {
    await relay.stop();
    removeDir(relayDir);
    for (const d of dirs) removeDir(d);
  });

  it('refuses a weak workstation passphrase at enrollment with the rules it breaks, and keeps the enrollment open to try again', async () => {
    const harnessLike = workstation();
    const begin = await harnessLike.call('enroll.begin', { relayUrl: relay.url, username: 'pat', enrollmentCode: addUser(relayDir, 'pat', 'Dr. Pat Quinn') });
    rememberTotpSecret('pat', begin.totpSecret);
    const attempt = async (passphrase: string) => harnessLike.fails('enroll.complete', { enrollmentId: begin.enrollmentId, password: PASSWORD, passphrase, totpCode: '000000', deviceName: 'Ward 2' });
    expect(await attempt('1')).toMatchObject({ code: 'PASSPHRASE_POLICY', rules: ['tooShort'], issues: [expect.stringMatching(/at least 12 characters/)] });
    expect(await attempt('qwerty123456')).toMatchObject({ code: 'PASSPHRASE_POLICY', rules: ['common'] });
    expect(await attempt(PASSWORD)).toMatchObject({ code: 'PASSPHRASE_POLICY', rules: ['samePassword'] });
    // Nothing was made for the refused attempts; the same enrollment then completes.
    expect((await harnessLike.call('session.state', {})).phase).toBe('signedOut');
    await harnessLike.call('enroll.complete', { enrollmentId: begin.enrollmentId, password: PASSWORD, passphrase: PASSPHRASE, totpCode: await nextTotp('pat'), deviceName: 'Ward 2' });
    expect((await harnessLike.call('session.state', {})).phase).toBe('unlocked');
    // Adding a workstation is held to the same policy.
    const second = workstation();
    expect(await second.fails('account.addDevice', { relayUrl: relay.url, username: 'pat', password: PASSWORD, totpCode: '000000', passphrase: 'patpatpatpat', deviceName: 'Ward 3' })).toMatchObject({ code: 'PASSPHRASE_POLICY', rules: ['repeated'] });
    await harnessLike.app.close();
  }, 60_000);

  it('says in Settings and in the audit log whether the OS seals the profile key or only the passphrase protects it', async () => {
    const bare = workstation();
    const sealed = workstation({ profiles: { kdf: { memoryKiB: 8 * 1024, passes: 1, parallelism: 1 }, protector: new InProcessKeyProtector() } });
    await bare.enroll(relay.url, 'quinn', addUser(relayDir, 'quinn', 'Nurse Quinn Ade'));
    await sealed.enroll(relay.url, 'rosa', addUser(relayDir, 'rosa', 'Dr. Rosa Lind'));
    expect((await bare.call('settings.get', {})).keyProtection).toBe('passphraseOnly');
    expect((await sealed.call('settings.get', {})).keyProtection).toBe('os');
    await bare.call('session.lock', {});
    expect((await bare.call('settings.get', {})).keyProtection).toBeNull();
    await bare.unlock();
    const events = (w: Workstation) => w.call('audit.export', {}).then(({ path }) => new TextDecoder().decode(readBundle(path).get('events.jsonl')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; details: Record<string, unknown> }));
    const opened = (list: { type: string; details: Record<string, unknown> }[]) => list.filter((e) => e.type === 'session.signedIn' || e.type === 'session.unlocked').map((e) => e.details.keyProtection);
    expect(opened(await events(bare))).toEqual(['passphraseOnly', 'passphraseOnly']);
    expect(opened(await events(sealed))).toEqual(['os']);
    for (const w of [bare, sealed]) await w.app.close();
  }, 60_000);

  it('asks a clinician whose passphrase an earlier version accepted to change it, and changes it only with the current one and for one the policy accepts', async () => {
    const ward = workstation();
    await ward.enroll(relay.url, 'uma', addUser(relayDir, 'uma', 'Nurse Uma Diaz'));
    const state = await ward.call('session.lock', {});
    const profileId = state.phase === 'locked' ? state.profile.id : '';
    // What 0.1 allowed (its form asked for 8 characters; the core for none): the same key, wrapped under "uma12345".
    const registryPath = join(ward.dataDir, 'profiles.json');
    const registry = JSON.parse(readFileSync(registryPath, 'utf8')) as { profiles: Record<string, { wrappedKey: WrappedKey }> };
    const key = await unwrapWithPassphrase(registry.profiles[profileId]!.wrappedKey, PASSPHRASE, profileId);
    registry.profiles[profileId]!.wrappedKey = await wrapWithPassphrase(key, 'uma12345', profileId, FAST_KDF);
    writeFileSync(registryPath, JSON.stringify(registry));

    await ward.call('profile.unlock', { profileId, passphrase: 'uma12345' });
    expect((await ward.call('settings.get', {})).passphraseBelowPolicy).toBe(true);
    const change = (currentPassphrase: string, newPassphrase: string) => ward.app.invoke('profile.changePassphrase', { currentPassphrase, newPassphrase });
    expect(await change('not the passphrase 1', 'sunflower river ladder 88')).toMatchObject({ ok: false, error: { code: 'WRONG_PASSPHRASE' } });
    expect(await change('uma12345', 'uma12345uma12345')).toMatchObject({ ok: false, error: { code: 'PASSPHRASE_POLICY', rules: ['repeated'] } });
    expect(await change('uma12345', 'sunflower river ladder 88')).toEqual({ ok: true, value: {} });
    expect((await ward.call('settings.get', {})).passphraseBelowPolicy).toBe(false);
    const events = new TextDecoder().decode(readBundle((await ward.call('audit.export', {})).path).get('events.jsonl'));
    // Exports in one second (their names are to the second) each keep their own file.
    const paths = (await Promise.all([1, 2, 3].map(() => ward.call('audit.export', {})))).map(({ path }) => path);
    expect(new Set(paths).size).toBe(3);
    for (const path of paths) expect(readBundle(path).get('events.jsonl')?.length).toBeGreaterThan(0);
    expect(events).toContain('"type":"passphrase.belowPolicy"');
    expect(events).toContain('"type":"passphrase.changed"');
    await ward.call('session.lock', {});
    expect((await ward.fails('profile.unlock', { profileId, passphrase: 'uma12345' })).code).toBe('WRONG_PASSPHRASE');
    await ward.call('profile.unlock', { profileId, passphrase: 'sunflower river ladder 88' });
    expect((await ward.call('settings.get', {})).passphraseBelowPolicy).toBe(false);
    await ward.app.close();
  }, 60_000);

  it('leaves every file it writes 0600 and every directory 0700, after enrolling, messaging, exporting and locking', async () => {
    const [alice, bob] = [workstation(), workstation()];
    await alice.enroll(relay.url, 'sam', addUser(relayDir, 'sam', 'Dr. Sam Roe'));
    await bob.enroll(relay.url, 'tess', addUser(relayDir, 'tess', 'Nurse Tess Wu'));
    await until(async () => (await alice.online()) && (await bob.online()), 'both online');
    const tess = (await alice.call('directory.list', {})).find((c) => c.username === 'tess')!;
    const { conversationId } = await alice.call('conversations.openDirect', { userId: tess.userId });
    await alice.call('messages.send', { conversationId, text: 'Bed 4 needs a review' });
    await until(async () => (await bob.bodies(conversationId)).includes('Bed 4 needs a review'), 'delivery');
    await alice.call('settings.update', { lockTimeoutMinutes: 5 });
    await alice.call('audit.export', {});
    await alice.call('session.lock', {});
    for (const w of [alice, bob]) await w.app.close();
    for (const w of [alice, bob]) {
      const wrong: string[] = [];
      const walk = (path: string) => {
        const stat = lstatSync(path);
        const mode = stat.mode & 0o777;
        if (stat.isDirectory()) {
          if (mode !== 0o700) wrong.push(`${path} is a directory with mode ${mode.toString(8)}`);
          for (const name of readdirSync(path)) walk(join(path, name));
        } else if (mode !== 0o600) wrong.push(`${path} has mode ${mode.toString(8)}`);
      };
      walk(w.dataDir);
      expect(wrong).toEqual([]);
      expect(readdirSync(w.dataDir).sort()).toEqual(expect.arrayContaining(['preferences.json', 'profiles', 'profiles.json']));
    }
  }, 60_000);
});
