import { useEffect, useState, type FormEvent } from 'react';
import type { ProfileView, SessionState } from '../../../shared/contract';
import { useApi } from '../context';
import { useAction } from '../useAction';
import { Alert, Field } from '../components/Field';
import { initials } from '../format';
import { collectSsoOutcome, runSsoSignIn, useSsoProvider } from './sso';

/**
 * The lock screen: the app's name, the user's own name, the passphrase and "Switch user"; nothing else
 * (no conversation, no message, no colleague's name) is in the page.
 */
export function LockScreen({ state }: { state: Extract<SessionState, { phase: 'locked' }> }) {
  const api = useApi();
  const [passphrase, setPassphrase] = useState('');
  const [password, setPassword] = useState('');
  const [totpCode, setTotpCode] = useState('');
  const { profile, signInRequired } = state;
  const { busy, error, run } = useAction(signInRequired ? 'signIn' : undefined);
  // An account that signs in at the hospital's identity provider does so again here (issue 18).
  const providerName = useSsoProvider(api, signInRequired ? profile.relayUrl : '', true);
  useEffect(() => {
    // A page back from the provider (the browser harness): how its sign-in ended.
    void run(() => collectSsoOutcome(api));
    // Once, when the screen opens (`run` is new on every render).
  }, [api]);

  /** The desktop app sent the person to the system browser: the screen waits for them to come back. */
  const [waitingForBrowser, setWaitingForBrowser] = useState(false);
  const ssoSignIn = () => void run(
    () => runSsoSignIn(api, () => api.call('sso.unlock', { profileId: profile.id, passphrase }), () => setWaitingForBrowser(true)).finally(() => setWaitingForBrowser(false)),
    () => setPassphrase(''),
  );

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    await run(
      () => (signInRequired ? api.call('profile.signIn', { profileId: profile.id, passphrase, password, totpCode }) : api.call('profile.unlock', { profileId: profile.id, passphrase })),
      () => setPassphrase(''),
    );
  };

  return (
    <div className="onboarding lock">
      <section className="card" aria-labelledby="lock-title">
        <header className="lock-header">
          <span className="brand">Rounds</span>
          <span className="lock-badge">Locked</span>
        </header>
        <div className="avatar large" aria-hidden="true">{initials(profile.displayName)}</div>
        <h1 id="lock-title" className="lock-name">{profile.displayName}</h1>
        <p className="muted lock-username">{profile.username}</p>
        <form className="form" onSubmit={(e) => void submit(e)}>
          {error && <Alert>{error}</Alert>}
          {signInRequired && <p className="muted">You were away for a long time. Sign in again to continue.</p>}
          <Field label="Passphrase" type="password" autoComplete="current-password" value={passphrase} onChange={(e) => setPassphrase(e.target.value)} required autoFocus />
          {waitingForBrowser && (
            <p className="sso-waiting" role="status">
              Finish signing in with {providerName} in your web browser.{' '}
              <button type="button" className="link" onClick={() => void api.call('sso.cancel', {})}>Cancel</button>
            </p>
          )}
          {signInRequired && providerName && (
            <div className="sso-choice">
              <button type="button" className="primary sso-button" disabled={busy || !passphrase} onClick={ssoSignIn}>Sign in with {providerName}</button>
              <p className="divider"><span>or with your Rounds password</span></p>
            </div>
          )}
          {signInRequired && (
            <>
              <Field label="Password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} required />
              <Field label="One-time code" inputMode="numeric" maxLength={6} value={totpCode} onChange={(e) => setTotpCode(e.target.value.replace(/\D/g, ''))} required />
            </>
          )}
          <div className="actions stacked">
            <button type="submit" className={signInRequired && providerName ? 'secondary' : 'primary'} disabled={busy || !passphrase}>{signInRequired ? 'Sign in' : 'Unlock'}</button>
            <button type="button" className="secondary" onClick={() => void api.call('profile.switch', {})}>Switch user</button>
          </div>
        </form>
      </section>
    </div>
  );
}

/** "Switch user": the clinicians who have a profile on this workstation (names only), or a new one. */
export function ProfileChooser({ profiles, onAdd }: { profiles: readonly ProfileView[]; onAdd: () => void }) {
  const api = useApi();
  const [chosen, setChosen] = useState<ProfileView | null>(null);
  const [passphrase, setPassphrase] = useState('');
  const { busy, error, setError, run } = useAction();

  const unlock = async (e: FormEvent) => {
    e.preventDefault();
    if (chosen) await run(() => api.call('profile.unlock', { profileId: chosen.id, passphrase }), () => setPassphrase(''));
  };

  return (
    <div className="onboarding lock">
      <section className="card" aria-labelledby="choose-title">
        <header className="lock-header"><span className="brand">Rounds</span></header>
        <h1 id="choose-title">Who is signing in?</h1>
        <ul className="profile-list">
          {profiles.map((p) => (
            <li key={p.id}>
              <button type="button" className={`profile ${chosen?.id === p.id ? 'selected' : ''}`} aria-pressed={chosen?.id === p.id} onClick={() => { setChosen(p); setError(null); }}>
                <span className="avatar" aria-hidden="true">{initials(p.displayName)}</span>
                <span>{p.displayName}</span>
              </button>
            </li>
          ))}
        </ul>
        {chosen && (
          <form className="form" onSubmit={(e) => void unlock(e)}>
            {error && <Alert>{error}</Alert>}
            <Field label="Passphrase" type="password" value={passphrase} onChange={(e) => setPassphrase(e.target.value)} required autoFocus />
            <div className="actions stacked"><button type="submit" className="primary" disabled={busy || !passphrase}>Unlock</button></div>
          </form>
        )}
        <p className="switch-mode"><button type="button" className="link" onClick={onAdd}>Set up another clinician on this workstation</button></p>
      </section>
    </div>
  );
}
