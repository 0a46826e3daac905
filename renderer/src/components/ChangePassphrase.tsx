import { useState, type FormEvent } from 'react';
import { PASSPHRASE_MIN_LENGTH, passphraseProblems } from '../../../shared/passphrasePolicy';
import type { SettingsView } from '../../../shared/contract';
import { useApi } from '../context';
import { useAction } from '../useAction';
import { Alert, Field } from './Field';

const NO_COMMON = new Set<string>();

/** Settings' "Workstation passphrase": the current one, a new one (same live rules as at enrollment), confirmed. */
export function ChangePassphrase({ username, settings, onSettings }: { username: string; settings: SettingsView; onSettings: (s: SettingsView) => void }) {
  const api = useApi();
  const [open, setOpen] = useState(settings.passphraseBelowPolicy);
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [done, setDone] = useState(false);
  const { busy, error, run } = useAction();
  // The core has the last word (it also knows the common-password list and the pattern estimate).
  const issues = next ? passphraseProblems(next, { commonPasswords: NO_COMMON, personalWords: [username, 'rounds'] }).map((p) => p.message) : [];
  const ready = current.length > 0 && next.length > 0 && issues.length === 0 && confirm === next;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!ready) return;
    void run(async () => {
      await api.call('profile.changePassphrase', { currentPassphrase: current, newPassphrase: next });
      onSettings(await api.call('settings.get', {}));
      setDone(true);
      setOpen(false);
    }, () => setCurrent(''));
  };
  return (
    <>
      <h3>Workstation passphrase</h3>
      {settings.passphraseBelowPolicy && <div className="callout" role="note"><strong>Your passphrase does not meet your organisation's current rules.</strong> Please choose a new one.</div>}
      {done && !open && <p role="status" className="exported">Your passphrase was changed. Use the new one from now on.</p>}
      {!open ? (
        <div className="actions start"><button type="button" className="secondary" onClick={() => { setOpen(true); setDone(false); }}>Change passphrase</button></div>
      ) : (
        <form onSubmit={submit} className="form">
          {error && <Alert>{error}</Alert>}
          <Field label="Current passphrase" type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required />
          <Field label="New passphrase" type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} required
            hint={`At least ${PASSPHRASE_MIN_LENGTH} characters, not your account password; a few unrelated words work well.`}>
            {issues.length > 0 && <ul className="problems" aria-live="polite">{issues.map((p) => <li key={p}>{p}</li>)}</ul>}
          </Field>
          <Field label="Confirm new passphrase" type="password" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} required
            error={confirm.length > 0 && confirm !== next ? 'The two passphrases are not the same.' : null} />
          <div className="actions start">
            <button type="button" className="secondary" onClick={() => setOpen(false)}>Cancel</button>
            <button type="submit" className="primary" disabled={busy || !ready}>Change passphrase</button>
          </div>
        </form>
      )}
    </>
  );
}
