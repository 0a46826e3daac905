import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { createPortal } from 'react-dom';
import type { ContactIdentityView, ContactView, ConversationView, SettingsView } from '../../../shared/contract';
import type { ConversationId, UserId } from '../../../shared/ids';
import { useApi } from '../context';
import { ChangePassphrase } from './ChangePassphrase';
import { explain } from '../errors';
import { formatDuration, initials } from '../format';
import { Alert, Field } from './Field';
import { PeoplePicker } from './PeoplePicker';
import { Qr } from './Qr';
import { useModalFocus } from './useModalFocus';
import { RoleMatches } from './RoleParts';
import type { RoleSummary } from '../../../shared/wire/roles';
import { useAction } from '../useAction';

type Contacts = ReadonlyMap<string, ContactView>;

/**
 * A modal dialog: labelled, closes on Escape, keeps Tab inside, gives focus back when it closes. Drawn outside the
 * app root (a portal), which stays inert behind it while it is open (useModalFocus).
 */
export function Modal({ title, onClose, children, wide }: { title: string; onClose: () => void; children: ReactNode; wide?: boolean }) {
  const id = useId();
  const box = useRef<HTMLDivElement>(null);
  const onKeyDown = useModalFocus(box, onClose);
  return createPortal(
    <div className="overlay" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className={`dialog ${wide ? 'wide' : ''}`} role="dialog" aria-modal="true" aria-labelledby={id} ref={box} onKeyDown={onKeyDown}>
        <header className="dialog-header">
          <h2 id={id}>{title}</h2>
          <button type="button" className="ghost close" onClick={onClose} aria-label="Close">×</button>
        </header>
        <div className="dialog-body">{children}</div>
      </div>
    </div>,
    document.body,
  );
}

export function NewConversationDialog({ contacts, self, onClose, onPick, onPickRole }: { contacts: Contacts; self: UserId; onClose: () => void; onPick: (userId: UserId) => void; onPickRole: (role: RoleSummary) => void }) {
  return (
    <Modal title="New conversation" onClose={onClose}>
      <p className="muted">Pick a colleague to message directly, or an on-call role: a message to a role goes to whoever holds it when you send.</p>
      <PeoplePicker contacts={contacts} exclude={new Set([self])} selected={new Set()} onToggle={onPick} multiple={false} above={(query) => <RoleMatches query={query} onPick={onPickRole} />} />
    </Modal>
  );
}

export function NewCareTeamDialog({ contacts, self, onClose, onCreated }: { contacts: Contacts; self: UserId; onClose: () => void; onCreated: (id: ConversationId) => void }) {
  const api = useApi();
  const [title, setTitle] = useState('');
  const [members, setMembers] = useState<Set<UserId>>(new Set());
  const { busy, error, run } = useAction();
  const toggle = (userId: UserId) => setMembers((old) => {
    const next = new Set(old);
    if (!next.delete(userId)) next.add(userId);
    return next;
  });
  const create = () => void run(async () => onCreated((await api.call('careTeams.create', { title: title.trim(), members: [...members] })).conversationId));
  return (
    <Modal title="New care team" onClose={onClose} wide>
      {error && <Alert>{error}</Alert>}
      <Field label="Care team name" value={title} onChange={(e) => setTitle(e.target.value)} maxLength={100} placeholder="e.g. Ward 4, bed 12" hint="Everyone in the team sees this name. Avoid full patient names; use a bed or room." />
      <PeoplePicker contacts={contacts} exclude={new Set([self])} selected={members} onToggle={toggle} multiple />
      <div className="actions">
        <span className="muted">{members.size} selected</span>
        <button type="button" className="secondary" onClick={onClose}>Cancel</button>
        <button type="button" className="primary" disabled={busy || !title.trim() || members.size === 0} onClick={create}>{busy ? 'Creating…' : 'Create care team'}</button>
      </div>
    </Modal>
  );
}

export function MembersPanel({ conversation, contacts, self, onClose, onChanged, onContact }: { conversation: ConversationView; contacts: Contacts; self: UserId; onClose: () => void; onChanged: () => void; onContact: (userId: UserId) => void }) {
  const api = useApi();
  const [title, setTitle] = useState(conversation.title);
  const [adding, setAdding] = useState<Set<UserId>>(new Set());
  const { busy, error, run } = useAction();
  const change = (work: () => Promise<unknown>) => void run(async () => {
    await work();
    onChanged();
  });
  const name = (u: string) => (u === self ? 'You' : contacts.get(u)?.displayName ?? 'Unknown');
  const editable = conversation.isMember;
  return (
    <Modal title="Care team members" onClose={onClose} wide>
      {error && <Alert>{error}</Alert>}
      {editable && (
        <form className="inline-form" onSubmit={(e) => { e.preventDefault(); change(() => api.call('careTeams.rename', { conversationId: conversation.id, title: title.trim() })); }}>
          <Field label="Care team name" value={title} onChange={(e) => setTitle(e.target.value)} maxLength={100} />
          <button type="submit" className="secondary" disabled={busy || !title.trim() || title.trim() === conversation.title}>Rename</button>
        </form>
      )}
      <h3>{conversation.members.length} members</h3>
      <ul className="members">
        {conversation.members.map((u) => (
          <li key={u}>
            <span className="avatar small" aria-hidden="true">{initials(contacts.get(u)?.displayName ?? name(u))}</span>
            <span className="person-name">{name(u)}</span>
            {u !== self && <button type="button" className="link small" onClick={() => onContact(u)}>Safety number</button>}
            {editable && <button type="button" className="danger small" disabled={busy} onClick={() => change(() => api.call('careTeams.removeMember', { conversationId: conversation.id, userId: u }))}>{u === self ? 'Leave' : `Remove ${name(u)}`}</button>}
          </li>
        ))}
      </ul>
      {editable && (
        <>
          <h3>Add members</h3>
          <PeoplePicker contacts={contacts} exclude={new Set(conversation.members)} selected={adding} multiple onToggle={(u) => setAdding((old) => {
            const next = new Set(old);
            if (!next.delete(u)) next.add(u);
            return next;
          })} />
          <div className="actions">
            <button type="button" className="primary" disabled={busy || adding.size === 0} onClick={() => change(async () => {
              await api.call('careTeams.addMembers', { conversationId: conversation.id, members: [...adding] });
              setAdding(new Set());
            })}>Add {adding.size > 0 ? adding.size : ''} to the team</button>
          </div>
        </>
      )}
    </Modal>
  );
}

function base64Bytes(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/**
 * A contact's devices with their safety numbers (digits and QR), verification and identity-change acknowledgement;
 * with `own`, the user's own other workstations (each has its own key: one signed in later is accepted here).
 */
export function ContactPanel({ userId, name, own = false, onClose }: { userId: UserId; name: string; own?: boolean; onClose: () => void }) {
  const api = useApi();
  const [identities, setIdentities] = useState<ContactIdentityView[] | null>(null);
  const { busy, error, setError, run } = useAction();
  const load = async () => setIdentities(await api.call('contacts.identities', { userId }));
  useEffect(() => {
    void api.call('contacts.identities', { userId }).then(setIdentities).catch((e: unknown) => setError(explain(e)));
  }, [api, userId]);
  const change = (work: () => Promise<unknown>) => void run(async () => {
    await work();
    await load();
  });
  const pending = identities?.filter((i) => i.changePending) ?? [];
  return (
    <Modal title={own ? 'Your workstations' : `Safety number with ${name}`} onClose={onClose} wide>
      {error && <Alert>{error}</Alert>}
      {own
        ? <p className="muted">Your messages are copied to each of your other workstations listed here. Each has its own safety number: to check one, open this list on that workstation and compare.</p>
        : <p className="muted">Compare these numbers with {name} in person, or scan their code. If they match, your conversation is private.</p>}
      {identities?.length === 0 && <p>{own ? 'You have no other workstation that this one has sent to.' : `You have not exchanged messages with ${name} yet, so there is no safety number to compare.`}</p>}
      {pending.length > 0 && (
        <div className="banner warning" role="alert">
          {own
            ? <div><strong>{pending.length === 1 ? 'A workstation was' : `${pending.length} workstations were`} signed in to your account since you last sent.</strong> Accept only if you signed in there yourself; otherwise tell IT now (your messages are copied to it once you accept).</div>
            : <div><strong>{name}’s safety number has changed</strong> on {pending.length} device{pending.length > 1 ? 's' : ''}. Check it, then accept it to continue sending.</div>}
          <button type="button" className="primary" disabled={busy} onClick={() => change(() => api.call('contacts.acknowledgeIdentityChange', { userId, safetyNumbersSeen: pending.map((p) => p.safetyNumber) }))}>{own ? 'It was me: accept' : 'Accept new safety number'}</button>
        </div>
      )}
      <ul className="devices">
        {identities?.map((i) => (
          <li key={i.address.deviceId} className="device">
            <Qr value={base64Bytes(i.scannable)} label={`QR code of the safety number for device ${i.address.deviceId}`} size={132} />
            <div>
              <h3>Workstation {i.address.deviceId} {i.verified && <span className="verified">Verified</span>} {i.changePending && <span className="changed">Changed</span>}</h3>
              <p className="safety-number" aria-label={`Safety number ${i.safetyNumber.match(/\d{5}/g)?.join(' ')}`}>
                {i.safetyNumber.match(/\d{5}/g)?.map((group, n) => <span key={n}>{group}</span>)}
              </p>
              <button type="button" className="secondary" disabled={busy} onClick={() => change(() => api.call('contacts.markVerified', { userId, deviceId: i.address.deviceId, verified: !i.verified }))}>
                {i.verified ? 'Clear verification' : 'Mark as verified'}
              </button>
            </div>
          </li>
        ))}
      </ul>
    </Modal>
  );
}

const TIMEOUTS = [1, 2, 5, 10, 15, 30, 60, 120, 240];

export function SettingsDialog({ settings, onSettings, compact, onCompact, onClose, compliance, username }: { settings: SettingsView; onSettings: (s: SettingsView) => void; compact: boolean; onCompact: (compact: boolean) => void; onClose: () => void; compliance: boolean; username: string }) {
  const api = useApi();
  const [devices, setDevices] = useState<{ deviceId: number; name: string; thisDevice: boolean }[] | null>(null);
  const [exported, setExported] = useState<string | null>(null);
  // One error display for the whole dialog; the exports run one at a time, each once however often it is clicked.
  const { busy: exporting, error, setError, run } = useAction();
  const exportOnce = (work: () => Promise<string>) => void run(async () => {
    setExported(null);
    setExported(await work());
  });
  useEffect(() => {
    void api.call('account.devices', {}).then(setDevices).catch(() => setDevices(null));
  }, [api]);
  const update = async (patch: { lockTimeoutMinutes?: number; notificationPreviews?: boolean }) => {
    try {
      onSettings(await api.call('settings.update', patch));
    } catch (e) {
      setError(explain(e));
    }
  };
  // Whole minutes up to the policy's limit (a policy below a minute leaves nothing to choose).
  const options = TIMEOUTS.filter((t) => t <= settings.maxLockTimeoutMinutes);
  const max = Math.floor(settings.maxLockTimeoutMinutes);
  if (max >= 1 && !options.includes(max)) options.push(max);
  return (
    <Modal title="Settings" onClose={onClose}>
      {error && <Alert>{error}</Alert>}
      <div className="field">
        <label htmlFor="lock-timeout">Lock after inactivity</label>
        <select id="lock-timeout" value={settings.lockTimeoutMinutes} disabled={options.length === 0} onChange={(e) => void update({ lockTimeoutMinutes: Number(e.target.value) })}>
          {!options.includes(settings.lockTimeoutMinutes) && <option value={settings.lockTimeoutMinutes}>{formatDuration(settings.lockTimeoutMinutes)} (set by your organisation)</option>}
          {options.map((t) => <option key={t} value={t}>{formatDuration(t)}</option>)}
        </select>
        <div className="hint">Your organisation allows at most {formatDuration(settings.maxLockTimeoutMinutes)}.</div>
      </div>
      <div className="field checkbox">
        <input id="compact" type="checkbox" checked={compact} onChange={(e) => onCompact(e.target.checked)} />
        <label htmlFor="compact">Compact message list</label>
        <div className="hint">One line per message, without bubbles: more of the conversation fits on the screen.</div>
      </div>
      <div className="field checkbox">
        <input id="previews" type="checkbox" checked={settings.notificationPreviews} disabled={!settings.notificationPreviewsAllowed} onChange={(e) => void update({ notificationPreviews: e.target.checked })} />
        <label htmlFor="previews">Show message previews in notifications</label>
        <div className="hint">{settings.notificationPreviewsAllowed ? 'Previews can show patient details on the screen to anyone nearby.' : 'Your organisation does not allow previews: notifications only say “New message in Rounds”.'}</div>
      </div>
      {settings.keyProtection === 'passphraseOnly' && (
        <div className="callout" role="note">
          <strong>Only your passphrase protects Rounds on this workstation.</strong> This computer has no operating-system key store
          (such as Windows' DPAPI, the macOS Keychain or a Linux keyring), so a copy of Rounds' files could be attacked by guessing
          the passphrase away from this computer. Use a long passphrase, and ask IT about a keyring for this workstation.
        </div>
      )}
      <ChangePassphrase username={username} settings={settings} onSettings={onSettings} />
      <h3>Audit log</h3>
      <p className="muted">A signed copy of this workstation's audit log (sign-ins, locks, messages sent and read; never their text) for your compliance officer.</p>
      <div className="actions start">
        <button type="button" className="secondary" disabled={exporting} onClick={() => exportOnce(async () => {
          const r = await api.call('audit.export', {});
          return `Saved ${r.records} records to ${r.path}`;
        })}>Export audit log</button>
      </div>
      {exported && <p role="status" className="exported">{exported}</p>}
      {compliance && <RelayAuditExport exporting={exporting} exportOnce={exportOnce} />}
      <h3>Workstations of this account</h3>
      <ul className="device-list">
        {devices === null ? <li className="muted">Not available while offline.</li> : devices.map((d) => <li key={d.deviceId}><strong>{d.name}</strong>{d.thisDevice ? ' (this workstation)' : ''}</li>)}
      </ul>
      <p className="muted">To remove a lost or old workstation, ask your administrator.</p>
    </Modal>
  );
}

const DAY = 86_400_000;
const isoDay = (at: number) => new Date(at).toISOString().slice(0, 10);

/** For the compliance role: the relay's signed audit log for a range of days, optionally one account's. */
function RelayAuditExport({ exporting, exportOnce }: { exporting: boolean; exportOnce: (work: () => Promise<string>) => void }) {
  const api = useApi();
  const [from, setFrom] = useState(isoDay(Date.now() - 30 * DAY));
  const [to, setTo] = useState(isoDay(Date.now()));
  const [username, setUsername] = useState('');
  const run = () => exportOnce(async () => {
    const result = await api.call('audit.exportRelay', { from: Date.parse(from), to: Date.parse(to) + DAY, ...(username.trim() ? { username: username.trim() } : {}) });
    return `Saved the relay's audit log (${Math.ceil(result.bytes / 1024)} KiB) to ${result.path}`;
  });
  return (
    <>
      <h3>Compliance: relay audit log</h3>
      <div className="inline-form">
        <Field label="From" type="date" value={from} onChange={(e) => setFrom(e.target.value)} />
        <Field label="To (inclusive)" type="date" value={to} onChange={(e) => setTo(e.target.value)} />
      </div>
      <Field label="Only this username (optional)" value={username} onChange={(e) => setUsername(e.target.value)} />
      <div className="actions start"><button type="button" className="secondary" disabled={exporting} onClick={run}>Export relay audit log</button></div>
    </>
  );
}
