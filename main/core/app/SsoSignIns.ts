/**
 * Sign-in with the hospital's identity provider from the app (issue 18), the same for both doors: a PKCE pair,
 * the relay's begin, the browser to the provider and back (the door's part: SsoRedirectDoor), then the relay's
 * complete with the code, for a new workstation (a new profile under the passphrase chosen before leaving:
 * enrollment of a pending account or another workstation of it) or for this one again (the relay asked for it:
 * REAUTHENTICATION_REQUIRED). The code is redeemed as soon as the browser is back, before the provider's short
 * code lifetime runs out, which is why the passphrase is asked for first.
 *
 * One sign-in at a time: a new one cancels the one before. Its outcome is kept until the UI collects it with
 * `finish` (the harness page comes back as a new page load, and asks then).
 * Secrets: the PKCE verifier, the code and the passphrase live in this sign-in's closure only; never logged.
 */
import { randomUUID } from 'node:crypto';
import type { Scheduler } from '../Clock';
import { RoundsError } from '../errors';
import type { RedirectResult } from '../auth/LoopbackRedirect';
import { newPkcePair } from '../auth/pkce';
import type { SsoRedirectDoor } from '../auth/SsoRedirectDoor';
import { ssoSignInAgain, type SsoRedirectResponse } from '../messaging/Enrollment';
import { MessagingClient } from '../messaging/MessagingClient';
import { RelayClient, RelayRequestError } from '../messaging/RelayClient';
import type { RelayTrust } from '../messaging/RelayTrust';
import type { ProfileSessions } from './ProfileSessions';

/** How long an outcome nobody collected is kept. */
const OUTCOME_TTL_MS = 15 * 60_000;

export interface SsoSignInsOptions {
  /** The door's way to the provider and back; null: this door has none (every begin answers SSO_UNAVAILABLE). */
  readonly door: SsoRedirectDoor | null;
  readonly sessions: ProfileSessions;
  readonly relayTrust: RelayTrust | undefined;
  readonly scheduler: Scheduler;
  /** The relay URL to use for a requested one (the policy's, when it sets one). */
  readonly relayUrl: (requested: string) => string;
}

/** What the UI does next: wait while the system browser is out, or send the page to `authorizationUrl`. */
export interface SsoStarted {
  readonly signInId: string;
  readonly authorizationUrl: string;
  readonly opens: SsoRedirectDoor['opens'];
}

interface SignIn {
  readonly id: string;
  readonly cancel: () => void;
  readonly outcome: Promise<void>;
  /** The browser came back with the redirect (the core is completing the sign-in, or has). */
  returned: boolean;
  settledAt: number | null;
}

export class SsoSignIns {
  readonly #o: SsoSignInsOptions;
  #current: SignIn | undefined;

  constructor(options: SsoSignInsOptions) {
    this.#o = options;
  }

  /** The provider's name if the relay offers single sign-on (and this door can take part), else null. */
  async provider(requestedRelayUrl: string): Promise<string | null> {
    if (!this.#o.door) return null;
    try {
      return (await new RelayClient(this.#o.relayUrl(requestedRelayUrl), undefined, this.#o.relayTrust).ssoProvider()).providerName;
    } catch (error) {
      if (error instanceof RelayRequestError && error.code === 'NOT_FOUND') return null;
      throw error;
    }
  }

  /** This workstation as a new device of the account the person signs in as at the provider (a new profile under `passphrase`). */
  newWorkstation(requestedRelayUrl: string, passphrase: string, deviceName: string): Promise<SsoStarted> {
    this.#o.sessions.checkNewPassphrase(passphrase);
    const relayUrl = this.#o.relayUrl(requestedRelayUrl);
    return this.#begin(relayUrl, (response) => this.#o.sessions.addSsoDevice(relayUrl, passphrase, (profile, options) => MessagingClient.ssoLogin(profile, relayUrl, response, deviceName, options)));
  }

  /** The open profile's workstation signs in again at the provider (the relay asked for it). */
  signInAgain(): Promise<SsoStarted> {
    const open = this.#o.sessions.current;
    if (!open?.open) throw new RoundsError('PROFILE_LOCKED', 'unlock the profile first');
    return this.#begin(open.summary.relayUrl, (response) => this.#o.sessions.reauthenticate((profile, relayUrl, options) => ssoSignInAgain(profile, relayUrl, response, options)));
  }

  /**
   * A profile locked past the policy's sign-out period, of an account that signs in at the provider: the
   * passphrase opens it now (WRONG_PASSPHRASE and the rest as an unlock), the provider's sign-in renews the
   * workstation, then it opens. Its database closes again if the sign-in fails, is cancelled or times out.
   */
  async unlockAndSignIn(profileId: string, passphrase: string): Promise<SsoStarted> {
    if (!this.#o.door) throw new RoundsError('SSO_UNAVAILABLE', 'this version of Rounds cannot open a web browser for the sign-in');
    const unlocked = await this.#o.sessions.unlockForSsoSignIn(profileId, passphrase);
    try {
      return await this.#begin(unlocked.relayUrl, (response) => unlocked.signIn((profile, relayUrl, options) => ssoSignInAgain(profile, relayUrl, response, options)), unlocked.abandon);
    } catch (error) {
      unlocked.abandon();
      throw error;
    }
  }

  /**
   * Waits for the sign-in `signInId` (or the current one) to end: resolves when it succeeded (the session
   * state has changed), rejects with why it did not. False when there is none to wait for. `abandonIfAway`
   * (a page opened again without coming back from the provider: the person gave up there): a sign-in whose
   * browser has not come back is dropped quietly instead of waited for.
   */
  async finish(signInId?: string, options: { abandonIfAway?: boolean } = {}): Promise<boolean> {
    const current = this.#current;
    if (!current || (signInId !== undefined && current.id !== signInId)) return false;
    if (options.abandonIfAway && !current.returned) {
      this.#current = undefined;
      current.cancel();
      return false;
    }
    if (current.settledAt !== null && this.#o.scheduler.now() - current.settledAt > OUTCOME_TTL_MS) {
      this.#current = undefined;
      return false;
    }
    try {
      await current.outcome;
    } finally {
      // Collected: the outcome is told once.
      if (this.#current === current) this.#current = undefined;
    }
    return true;
  }

  /** The person gave up: the sign-in under way ends (SSO_CANCELLED for whoever waits on it). */
  cancel(): void {
    this.#current?.cancel();
  }

  /** `abandoned`: what to undo when the sign-in does not succeed (it runs once it has ended so). */
  async #begin(relayUrl: string, complete: (response: SsoRedirectResponse) => Promise<void>, abandoned?: () => void): Promise<SsoStarted> {
    const door = this.#o.door;
    if (!door) throw new RoundsError('SSO_UNAVAILABLE', 'this version of Rounds cannot open a web browser for the sign-in');
    this.cancel();
    const pkce = await newPkcePair();
    const way = await door.prepare();
    let begun;
    try {
      begun = await new RelayClient(relayUrl, undefined, this.#o.relayTrust).ssoBegin({ redirectUri: way.redirectUri, codeChallenge: pkce.challenge });
    } catch (error) {
      way.cancel();
      throw error;
    }
    const state = begun.state;
    // eslint-disable-next-line prefer-const -- the sign-in's record is made once its outcome exists
    let signIn: SignIn;
    const outcome = way.expect(state).then(async (result: RedirectResult) => {
      signIn.returned = true;
      if (result.kind === 'refused') throw new RoundsError('SSO_REFUSED', `the identity provider did not sign you in (${result.error})`);
      await complete({ state: result.state, code: result.code, codeVerifier: pkce.verifier, ...(result.iss ? { iss: result.iss } : {}) });
    });
    signIn = { id: randomUUID(), cancel: () => way.cancel(), outcome, returned: false, settledAt: null };
    outcome.then(() => undefined, () => abandoned?.()).finally(() => (signIn.settledAt = this.#o.scheduler.now()));
    this.#current = signIn;
    await way.open(begun.authorizationUrl);
    return { signInId: signIn.id, authorizationUrl: begun.authorizationUrl, opens: door.opens };
  }
}
