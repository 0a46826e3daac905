import { useEffect, useState, type FormEvent } from 'react';
import { CallError } from '../api';
import { PASSPHRASE_MIN_LENGTH, passphraseProblems } from '../../../shared/passphrasePolicy';
import { PASSWORD_MIN_LENGTH, passwordProblems } from '../../../shared/passwordPolicy';
import { useApi } from '../context';
import { useAction } from '../useAction';
import { Alert, Field } from '../components/Field';
import { Qr } from '../components/Qr';
import { collectSsoOutcome, runSsoSignIn, useSsoProvider } from './sso';

const NO_COMMON = new Set<string>();

/**
 * First run on this workstation: enroll with the code from the administrator, or add this workstation to an
 * existing account; where the relay offers it, both through the hospital's identity provider instead (issue 18):
 * a passphrase for this workstation first, then the provider's own sign-in page.
 */
export function Enroll({ policyRelayUrl, onCancel }: { policyRelayUrl: string | null; onCancel?: (() => void) | undefined }) {
  const api = useApi();
  const [mode, setMode] = useState<'enroll' | 'addDevice' | 'sso'>('enroll');
  const [relayUrl, setRelayUrl] = useState(policyRelayUrl ?? '');
  const [username, setUsername] = useState('');
  const [code, setCode] = useState('');
  const [begun, setBegun] = useState<{ enrollmentId: string; totpUri: string; totpSecret: string } | null>(null);
  const [password, setPassword] = useState('');
  const [passphrase, setPassphrase] = useState('');
  const [confirm, setConfirm] = useState('');
  const [deviceName, setDeviceName] = useState('Workstation');
  const [totpCode, setTotpCode] = useState('');
  const providerName = useSsoProvider(api, relayUrl, policyRelayUrl !== null);
  const { busy, error, run } = useAction(mode === 'addDevice' && providerName ? 'addDeviceWithSso' : mode !== 'enroll' ? undefined : begun ? 'enrollSecrets' : 'enrollCode');
  /** The desktop app sent the person to the system browser: the screen waits for them to come back. */
  const [waitingForBrowser, setWaitingForBrowser] = useState(false);
  /** A page back from the provider while the core finishes the sign-in (registers this workstation). */
  const [finishing, setFinishing] = useState(false);

  // A page back from the provider (the browser harness) collects how its sign-in ended; an error shows here.
  useEffect(() => {
    const shown = setTimeout(() => setFinishing(true), 250);
    void run(async () => {
      try {
        await collectSsoOutcome(api);
      } catch (e) {
        setMode('sso');
        throw e;
      } finally {
        clearTimeout(shown);
        setFinishing(false);
      }
    });
    // Once, when the screen opens (`run` is new on every render).
  }, [api]);

  const problems = password ? passwordProblems(password, { commonPasswords: NO_COMMON, contextWords: [username, 'rounds'] }) : [];
  const passphraseMismatch = confirm.length > 0 && confirm !== passphrase ? 'The two passphrases are not the same.' : null;
  // The same rules the core enforces (without its large list of common passwords, which it checks itself).
  const passphraseIssues = passphrase ? passphraseProblems(passphrase, { commonPasswords: NO_COMMON, personalWords: [username, 'rounds'], accountPassword: mode === 'enroll' ? password : undefined }).map((p) => p.message) : [];

  const begin = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => setBegun(await api.call('enroll.begin', { relayUrl: relayUrl.trim(), username: username.trim().toLowerCase(), enrollmentCode: code.trim() })));
  };

  const passphraseReady = passphrase.length > 0 && passphraseIssues.length === 0 && confirm === passphrase;
  const secretsReady = problems.length === 0 && password.length > 0 && passphrase.length > 0 && passphraseIssues.length === 0 && confirm === passphrase && /^\d{6}$/.test(totpCode);

  const complete = (e: FormEvent) => {
    e.preventDefault();
    if (!begun || !secretsReady) return;
    void run(() => api.call('enroll.complete', { enrollmentId: begun.enrollmentId, password, passphrase, totpCode, deviceName: deviceName.trim() || 'Workstation' }));
  };

  const addDevice = (e: FormEvent) => {
    e.preventDefault();
    if (!secretsReady) return;
    void run(async () => {
      try {
        await api.call('account.addDevice', { relayUrl: relayUrl.trim(), username: username.trim().toLowerCase(), password, totpCode, passphrase, deviceName: deviceName.trim() || 'Workstation' });
      } catch (failure) {
        // An account that signs in with the provider: over to its button, with the message saying why.
        if (failure instanceof CallError && failure.error.code === 'SSO_REQUIRED' && providerName) setMode('sso');
        throw failure;
      }
    });
  };

  const ssoSignIn = (e: FormEvent) => {
    e.preventDefault();
    if (!passphraseReady) return;
    void run(
      () => runSsoSignIn(api, () => api.call('sso.begin', { relayUrl: relayUrl.trim(), passphrase, deviceName: deviceName.trim() || 'Workstation' }), () => setWaitingForBrowser(true)).finally(() => setWaitingForBrowser(false)),
    );
  };

  const ssoButton = providerName && (
    <div className="sso-choice">
      <button type="button" className="primary sso-button" onClick={() => setMode('sso')}>Sign in with {providerName}</button>
      <p className="divider"><span>{mode === 'addDevice' ? 'or with your Rounds password' : 'or with an enrollment code'}</span></p>
    </div>
  );

  const passphraseFields = (
    <>
      <Field label="Passphrase" type="password" autoComplete="new-password" value={passphrase} onChange={(e) => setPassphrase(e.target.value)} required
        hint={`Opens Rounds on this workstation: at least ${PASSPHRASE_MIN_LENGTH} characters, not your account password. Only you know it.`}>
        {passphraseIssues.length > 0 && <ul className="problems" aria-live="polite">{passphraseIssues.map((p) => <li key={p}>{p}</li>)}</ul>}
      </Field>
      <Field label="Confirm passphrase" type="password" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} required error={passphraseMismatch} />
      <Field label="Workstation name" value={deviceName} onChange={(e) => setDeviceName(e.target.value)} maxLength={64} hint="Shown in your list of devices, e.g. “Ward 4 nurses' station”." />
    </>
  );
  const relayField = (
    <Field label="Relay URL" type="url" value={relayUrl} onChange={(e) => setRelayUrl(e.target.value)} readOnly={policyRelayUrl !== null} required
      hint={policyRelayUrl !== null ? 'Set by your organisation.' : 'The address of your organisation’s Rounds server.'} />
  );

  return (
    <div className="onboarding">
      <section className="card wide" aria-labelledby="enroll-title">
        <header className="card-header">
          <span className="brand-mark" aria-hidden="true">R</span>
          <div>
            <h1 id="enroll-title">{mode === 'addDevice' ? 'Add this workstation' : mode === 'sso' ? 'Set up Rounds on this workstation' : begun ? 'Set up your sign-in' : 'Welcome to Rounds'}</h1>
            <p className="muted">Secure messaging for your care team.</p>
          </div>
        </header>
        {error && <Alert>{error}</Alert>}
        {finishing && <p className="sso-waiting" role="status">Finishing your sign-in…</p>}

        {mode === 'enroll' && !begun && (
          <form onSubmit={begin} className="form">
            <p>{providerName ? 'Sign in with your organisation’s account, or enter the enrollment code your administrator gave you.' : 'Enter the enrollment code your administrator gave you.'}</p>
            {relayField}
            {ssoButton}
            <Field label="Username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required autoFocus />
            <Field label="Enrollment code" value={code} onChange={(e) => setCode(e.target.value)} required autoComplete="one-time-code" spellCheck={false} />
            <div className="actions">
              {onCancel && <button type="button" className="secondary" onClick={onCancel}>Back</button>}
              <button type="submit" className="primary" disabled={busy || !username || !code || !relayUrl}>Continue</button>
            </div>
            <p className="switch-mode">Already use Rounds on another workstation? <button type="button" className="link" onClick={() => setMode('addDevice')}>Sign in to add this workstation</button></p>
          </form>
        )}

        {mode === 'enroll' && begun && (
          <form onSubmit={complete} className="form two-column">
            <div className="column">
              <h2>1. Your authenticator app</h2>
              <p>Scan this code with your authenticator app (for example Microsoft or Google Authenticator), or type the key.</p>
              <Qr value={begun.totpUri} label="QR code for your authenticator app" />
              <p className="secret">Key: <code data-testid="totp-secret">{begun.totpSecret.match(/.{1,4}/g)?.join(' ')}</code></p>
            </div>
            <div className="column">
              <h2>2. Password and passphrase</h2>
              <Field label="Password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required
                hint={`Your account password: at least ${PASSWORD_MIN_LENGTH} characters; a few unrelated words work well.`}>
                {problems.length > 0 && <ul className="problems" aria-live="polite">{problems.map((p) => <li key={p}>{p}</li>)}</ul>}
              </Field>
              {passphraseFields}
              <Field label="One-time code" inputMode="numeric" autoComplete="one-time-code" pattern="\d{6}" maxLength={6} value={totpCode} onChange={(e) => setTotpCode(e.target.value.replace(/\D/g, ''))} required hint="The 6 digits your authenticator app shows now." />
              <div className="actions">
                <button type="submit" className="primary" disabled={busy || !secretsReady}>Finish enrollment</button>
              </div>
            </div>
          </form>
        )}

        {mode === 'addDevice' && (
          <form onSubmit={addDevice} className="form">
            {relayField}
            {ssoButton}
            <Field label="Username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required autoFocus />
            <Field label="Password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
            <Field label="One-time code" inputMode="numeric" autoComplete="one-time-code" maxLength={6} value={totpCode} onChange={(e) => setTotpCode(e.target.value.replace(/\D/g, ''))} required />
            {passphraseFields}
            <div className="actions">
              <button type="button" className="secondary" onClick={() => setMode('enroll')}>Back</button>
              <button type="submit" className="primary" disabled={busy || !secretsReady || !username || !relayUrl}>Sign in</button>
            </div>
          </form>
        )}
        {mode === 'sso' && (
          <form onSubmit={ssoSignIn} className="form" aria-busy={busy}>
            {policyRelayUrl === null && relayField}
            {waitingForBrowser ? (
              <>
                <p className="sso-waiting" role="status">Finish signing in with {providerName ?? 'your organisation'} in your web browser. Rounds continues here when you are done.</p>
                <div className="actions">
                  <button type="button" className="secondary" onClick={() => void api.call('sso.cancel', {})}>Cancel sign-in</button>
                </div>
              </>
            ) : (
              <>
                <p>First choose a passphrase for Rounds on this workstation. Then sign in with {providerName ?? 'your organisation’s account'} on the page that opens.</p>
                {passphraseFields}
                <div className="actions">
                  <button type="button" className="secondary" onClick={() => setMode('enroll')}>Back</button>
                  <button type="submit" className="primary" disabled={busy || !passphraseReady || !relayUrl || !providerName}>Continue to {providerName ?? 'sign-in'}</button>
                </div>
              </>
            )}
          </form>
        )}
      </section>
    </div>
  );
}
