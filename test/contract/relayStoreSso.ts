/**
 * The RelayStore contract (relayStoreContract.ts): single sign-on (issue 18). Sign-ins begun at the identity
 * provider are kept by their state for every instance, taken once (of two instances racing, one gets it),
 * and gone once expired; a completed sign-in links the account to the identity, activates a pending one, and
 * is refused where the account or the identity belongs to someone else.
 */
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import type { OidcPendingSignIn } from '../../server/auth/oidc/OidcRelyingParty';
import type { SsoLink } from '../../server/storage/RelayStore';
import { HOUR, NOW, audited, type ContractStores } from './relayStoreStores';

const ISSUER = 'https://login.hospital.example/tenant';
const MINUTE = 60_000;

/** A begun sign-in as OidcRelyingParty.begin makes it, at `createdAt` (a live one by the store's own clock). */
const pending = (createdAt = Date.now()): OidcPendingSignIn => ({
  state: randomBytes(32).toString('base64url'), nonce: randomBytes(32).toString('base64url'),
  redirectUri: 'http://127.0.0.1:49152/callback', codeChallenge: randomBytes(32).toString('base64url').slice(0, 43), createdAt,
});

const link = (subject: string, signedInAt = NOW): SsoLink => ({ issuer: ISSUER, subject, signedInAt });

export function relayStoreSso(t: ContractStores): void {
  it('keeps a begun sign-in for the other instance, hands it out once, and never after its time', async () => {
    const { store, other } = t;
    const begun = pending(NOW);
    await store.createPendingSso(begun, NOW + 10 * MINUTE);
    expect(await other.takePendingSso('no-such-state', NOW + MINUTE)).toBeUndefined();
    expect(await other.takePendingSso(begun.state, NOW + MINUTE)).toEqual(begun);
    // A replayed state (the app's redirect seen twice, or by someone else) finds nothing.
    expect(await store.takePendingSso(begun.state, NOW + MINUTE)).toBeUndefined();
    expect(await other.takePendingSso(begun.state, NOW + 2 * MINUTE)).toBeUndefined();

    const late = pending(NOW);
    await other.createPendingSso(late, NOW + 10 * MINUTE);
    expect(await store.takePendingSso(late.state, NOW + 10 * MINUTE)).toBeUndefined();
  });

  it('gives a begun sign-in to one of two instances taking it at once', async () => {
    for (let round = 0; round < 5; round++) {
      const begun = pending(NOW);
      await t.store.createPendingSso(begun, NOW + 10 * MINUTE);
      const taken = await Promise.all([t.store.takePendingSso(begun.state, NOW + 1), t.other.takePendingSso(begun.state, NOW + 1)]);
      expect(taken.filter((p) => p !== undefined)).toEqual([begun]);
    }
  });

  it('purges begun sign-ins past their time as others are begun', async () => {
    const { store, other } = t;
    const abandoned = pending(NOW);
    await store.createPendingSso(abandoned, NOW + 10 * MINUTE);
    // Begun after the first one's time: the first is gone, even for a take that claims an earlier time.
    await other.createPendingSso(pending(NOW + 11 * MINUTE), NOW + 21 * MINUTE);
    expect(await store.takePendingSso(abandoned.state, NOW + MINUTE)).toBeUndefined();
  });

  it('activates a pending account once when two instances record its first sign-ins at once', async () => {
    for (let round = 0; round < 3; round++) {
      const userId = await t.user({ status: 'pending' });
      const record = (i: number) => t.either(i).recordSsoSignIn(userId, link(`sub-race-${round}`, NOW + i), [], [audited('account.enrolled')(userId)]);
      expect((await Promise.all([record(0), record(1)])).sort()).toEqual(['activated', 'signedIn']);
      expect((await t.audit('account.enrolled')).filter(([, subject]) => subject === userId)).toHaveLength(1);
    }
  });

  it('links an account to its identity, activating a pending one once, and refuses what belongs to someone else', async () => {
    const { store, other } = t;
    const pendingUser = await t.user({ username: 'j.smith@hospital.example', status: 'pending' });
    const signedIn = [audited('login.success')(pendingUser)];
    const enrolled = [audited('account.enrolled')(pendingUser)];
    expect(await store.recordSsoSignIn(pendingUser, link('sub-jsmith'), signedIn, enrolled)).toBe('activated');
    expect(await other.userBySsoSubject(ISSUER, 'sub-jsmith')).toMatchObject({ id: pendingUser, status: 'active', lastActiveAt: NOW, sso: link('sub-jsmith') });
    expect(await other.recordSsoSignIn(pendingUser, link('sub-jsmith', NOW + HOUR), signedIn, enrolled)).toBe('signedIn');
    expect((await store.userById(pendingUser))?.sso).toEqual(link('sub-jsmith', NOW + HOUR));
    expect(await t.audit('login.success', 'account.enrolled')).toEqual([['login.success', pendingUser], ['account.enrolled', pendingUser], ['login.success', pendingUser]]);

    // Another account may not take this identity, nor this account another identity; nothing is recorded.
    const colleague = await t.user({ username: 'colleague' });
    expect(await store.recordSsoSignIn(colleague, link('sub-jsmith'), signedIn, enrolled)).toBe('refused');
    expect(await other.recordSsoSignIn(pendingUser, link('sub-someone-else'), signedIn, enrolled)).toBe('refused');
    expect(await store.userBySsoSubject(ISSUER, 'sub-someone-else')).toBeUndefined();
    expect(await store.userBySsoSubject('https://other-idp.example', 'sub-jsmith')).toBeUndefined();
    expect((await store.userById(colleague))?.sso).toBeNull();

    // A deactivated account stays deactivated.
    await store.deactivateUser(colleague, NOW + 1, []);
    expect(await other.recordSsoSignIn(colleague, link('sub-colleague'), signedIn, enrolled)).toBe('refused');
    expect(await store.userById(colleague)).toMatchObject({ status: 'deactivated', sso: null });
    expect(await t.audit('login.success', 'account.enrolled')).toHaveLength(3);
  });
}
