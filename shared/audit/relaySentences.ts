/**
 * One sentence per relay audit record type (server/audit/AuditRecord.ts). Each reads the record's actor,
 * subject and details as the relay writes them (the `type: '…'` sites in server/); a type not here gets
 * describe.ts's generic sentence. Reasons typed by people are quoted, never interpreted.
 */
import type { SentenceContext } from './describe';
import { capitalise, count, formatNumber, ordinal, tidy } from './words';
import type { AuditParty } from './people';
import { URGENT_SENTENCES } from './urgentSentences';
import { ROLE_SENTENCES } from './roleSentences';

type Sentence = (c: SentenceContext) => string;

/** Where an actor acted from: "at Ward 4 nurses' station", "from 10.0.0.7". */
export function where(actor: AuditParty): string {
  switch (actor.kind) {
    case 'workstation': return actor.workstation ? `at ${actor.workstation}` : '';
    case 'api': return `through the relay's API${actor.workstation ? ` from ${actor.workstation}` : ''}`;
    case 'anonymous': return actor.address ? `from ${actor.address}` : 'from an unknown address';
    case 'admin': return "on the relay's command line";
    default: return '';
  }
}

/** The parts that are not empty, with a space between (a loop: this runs for most records of an export). */
const join = (...parts: string[]) => {
  let out = '';
  for (const p of parts) if (p !== '') out = out === '' ? p : `${out} ${p}`;
  return out;
};
const quoted = (s: string) => `“${s}”`;
/** The person a record concerns: the subject, or the actor's own user when the subject is empty. */
const person = (c: SentenceContext) => (c.facts.subject.kind === 'none' ? c.facts.actor.label : c.facts.subject.label);
const who = (c: SentenceContext) => capitalise(c.facts.actor.label);
const until = (c: SentenceContext, key: string) => (c.details.number(key) === null ? '' : ` until ${c.times.local(c.details.number(key) ?? 0)}`);
const reason = (c: SentenceContext) => (c.details.has('reason') ? `; reason given: ${quoted(c.details.text('reason'))}` : '');

/** `reason: 'admin'` is an admin command's code, `'provisioning'` a directory source's: neither is words anyone typed. */
function deactivationReason(c: SentenceContext): string {
  const r = c.details.text('reason');
  if (r === 'admin') return '';
  if (r === 'provisioning') return ' (the hospital\'s directory lists the person as gone or disabled)';
  return reason(c);
}

/** The directory fields a provisioning record set: ": department “Ward 4”, contact cleared". */
function fieldList(c: SentenceContext): string {
  const fields = c.details.text('changed').split(',').filter((f) => f !== '' && f !== 'username');
  const parts = fields.map((f) => (c.details.text(f) === '' ? `${FIELD_WORDS[f] ?? f} cleared` : `${FIELD_WORDS[f] ?? f} ${quoted(c.details.text(f))}`));
  return parts.length > 0 ? `: ${parts.join(', ')}` : '';
}
const FIELD_WORDS: Readonly<Record<string, string>> = { displayName: 'name', department: 'department', jobTitle: 'job title', contact: 'contact' };

/** Why a sign-in failed, from the record's details. */
function failureCause(c: SentenceContext): string {
  const d = c.details;
  const consecutive = d.number('consecutive');
  const inARow = consecutive !== null && consecutive > 1 ? ` (${ordinal(consecutive)} in a row${d.has('device') ? ' at this workstation' : ''})` : '';
  if (d.has('factor')) return `wrong ${d.text('factor')}${inARow}`;
  switch (d.text('reason')) {
    case 'unknown user': return 'no account has that username';
    case 'account not enrolled yet': return 'the account has not completed enrollment';
    case 'account deactivated': return 'the account is deactivated (password and code were right)';
    case 'account locked': return 'sign-ins are locked after failed attempts (password and code were right)';
    case 'workstation locked': return 'sign-ins at this workstation are locked after failed attempts (password and code were right)';
    case 'device keys incomplete': return "the workstation's encryption keys were incomplete";
    case '': return d.text('step') === 'enrollment-totp' ? 'wrong one-time code' : d.text('step') === 'enrollment' ? 'wrong or expired enrollment code' : 'reason not recorded';
    default: return d.text('reason');
  }
}

function loginFailure(c: SentenceContext): string {
  const d = c.details;
  const { subject, actor } = c.facts;
  const named = d.has('username') ? `${quoted(d.text('username'))}` : '';
  const target = subject.kind !== 'none' ? subject.label : named ? `username ${named}` : '';
  const place = where(actor);
  if (d.text('reason') === 'emergency code') {
    const n = d.number('count');
    return `Wrong emergency access code for ${target || 'an unknown username'} ${place}${n !== null && n > 1 ? ` (${ordinal(n)} wrong code)` : ''}.`;
  }
  if (d.has('step')) return `Failed enrollment${target ? ` of ${target}` : ''} ${place}: ${failureCause(c)}.`;
  return `Failed sign-in${target ? ` for ${target}` : ''} ${place}: ${failureCause(c)}.`;
}

function accountLocked(c: SentenceContext): string {
  const d = c.details;
  const { subject } = c.facts;
  const lasting = d.has('until') ? until(c, 'until') : ' until an administrator unlocks them';
  if (subject.kind === 'workstation') {
    return `Sign-ins by ${subject.label} at ${subject.workstation ?? 'a workstation'} were stopped after ${count(d.number('consecutive') ?? 0, 'failed attempt')} in a row,${lasting}.`;
  }
  const failures = d.number('failures');
  const consecutive = d.number('consecutive');
  return `Sign-ins without an enrolled workstation were locked for ${subject.label} after ${count(failures ?? consecutive ?? 0, 'failed attempt')}${consecutive !== null && failures !== null ? ` (${consecutive} in a row)` : ''},${lasting}.`;
}

const REFUSAL_REASONS: Readonly<Record<string, string>> = {
  RECIPIENT_QUEUE_FULL: "the recipient's queue was full",
  SENDER_SHARE_FULL: "the sender's share of the recipient's queue was full",
  SEND_RATE_LIMITED: 'the sending rate limit was reached',
  DAILY_SEND_BUDGET: 'the daily sending budget was used up',
  KEY_FETCH_RATE_LIMITED: 'the key-fetch rate limit was reached',
  KEY_UPLOAD_RATE_LIMITED: 'the key-upload rate limit was reached',
  RELAY_STORAGE_FULL: "the relay's storage was nearly full",
};

/** bundle.refused, keys.refused, envelope.refused: one record per episode (started, ongoing, ended). */
function refusalEpisode(what: string): Sentence {
  return (c) => {
    const d = c.details;
    const cause = REFUSAL_REASONS[d.text('reason')] ?? (d.text('reason').toLowerCase().replace(/_/g, ' ') || 'a limit was reached');
    const to = c.facts.subject.kind === 'none' ? '' : ` concerning ${c.facts.subject.label}`;
    const requests = count(d.number('requests') ?? 0, 'request');
    const envelopes = d.has('envelopes') ? `, ${count(d.number('envelopes') ?? 0, 'message envelope')}` : '';
    const span = d.has('from') && d.has('to') ? ` between ${c.times.local(d.number('from') ?? 0)} and ${c.times.local(d.number('to') ?? 0)}` : '';
    switch (d.text('episode')) {
      case 'started': return `${capitalise(what)} from ${c.facts.actor.label}${to} refused: ${cause} (the start of a series).`;
      case 'ongoing': return `${capitalise(what)} from ${c.facts.actor.label}${to} still refused: ${cause}; ${requests}${envelopes} so far.`;
      case 'ended': return `Series of refused ${what} from ${c.facts.actor.label}${to} ended: ${cause}; ${requests}${envelopes}${span}.`;
      default: return `${capitalise(what)} from ${c.facts.actor.label}${to} refused: ${cause}.`;
    }
  };
}

function exported(c: SentenceContext): string {
  const d = c.details;
  const forUser = c.facts.subject.kind === 'none' ? '' : ` for ${c.facts.subject.label}`;
  const from = d.number('from');
  const to = d.number('to');
  const range = from !== null && to !== null ? ` ${rangeWords(c, from, to)}` : '';
  const size = d.has('treeSize') ? `; the log then held ${count(d.number('treeSize') ?? 0, 'record')}` : '';
  const broken = d.has('chainBrokenAt') ? `; exported although its hash chain is broken at record ${d.text('chainBrokenAt')}` : '';
  // `audit export --log`: an earlier log (one a restore ended) the database still holds.
  const earlier = d.has('log') ? ` of the earlier log ${d.text('log')} (from record ${d.text('firstSeq')}, ${count(d.number('logSize') ?? 0, 'record')})` : '';
  return `Audit log exported by ${c.facts.actor.label}${forUser}: ${count(d.number('records') ?? 0, 'record')}${earlier}${range}${size}${broken}.`;
}

/** "from the start of the log to 2026-12-02 14:05:00 GMT+1". */
export function rangeWords(c: Pick<SentenceContext, 'times'>, from: number, to: number): string {
  const start = from <= 0 ? 'from the start of the log' : `from ${c.times.local(from)}`;
  const end = to >= 8.64e15 || !Number.isFinite(to) ? 'to the time of export' : `to ${c.times.local(to)}`;
  return `${start} ${end}`;
}

/** audit.log_restored: the first record of a log started by a restore (shared/audit/restoreLink.ts). */
function logRestored(c: SentenceContext): string {
  const d = c.details;
  const taken = d.number('backupCreatedAt') === null ? '' : `, taken ${c.times.local(d.number('backupCreatedAt') ?? 0)}`;
  const backup = `${quoted(d.text('backupFile') || 'unnamed')}${taken}, holding ${count(d.number('backupRecords') ?? 0, 'record')}`;
  const from = d.number('lostFrom');
  const to = d.number('lostTo');
  const lost = from !== null && to !== null
    ? `Records ${formatNumber(from)} to ${formatNumber(to)} of the previous log, signed before, were lost.`
    : 'No record the previous log had signed was lost.';
  return `${who(c)} restored the relay from the backup ${backup}; this log continues ${d.text('previousLog') || 'the previous log'} under a new name. ${lost}`;
}

/** group.updated: "renamed to “ICU nurses”, 2 members added, 1 removed". */
function groupUpdated(c: SentenceContext): string {
  const d = c.details;
  const changed = d.text('changed').split(',');
  const parts = [
    ...(changed.includes('displayName') ? [`named it ${quoted(d.text('displayName'))}`] : []),
    ...(changed.includes('externalId') ? ['changed its external id'] : []),
    ...(d.has('addedCount') ? [`added ${count(d.number('addedCount') ?? 0, 'member')}`] : []),
    ...(d.has('removedCount') ? [`removed ${count(d.number('removedCount') ?? 0, 'member')}`] : []),
  ];
  return `${who(c)} changed the group ${quoted(d.text('displayName'))}: ${parts.join(', ') || 'no visible change'} (now ${count(d.number('memberCount') ?? 0, 'member')}).`;
}

/** scim.refused: requests without a valid SCIM token, by episode. */
function scimRefused(c: SentenceContext): string {
  const d = c.details;
  if (d.text('reason') === 'reactivation') {
    return `The SCIM token ${quoted(d.text('token'))} was refused the reactivation of an account another SCIM provider had deactivated (only that provider, or an administrator, may reactivate it).`;
  }
  if (d.text('reason') === 'deactivations') {
    return `Deactivations through the SCIM token ${quoted(d.text('token'))} were refused: it had deactivated ${formatNumber(d.number('limit') ?? 0)} accounts within an hour, as many as the relay allows (${d.text('episode') === 'started' ? 'the first refusal of an episode' : `${count(d.number('requests') ?? 1, 'request')} so far`}).`;
  }
  const why = ({ missing: 'no bearer token', unknown: 'an unknown token', revoked: `the revoked token ${quoted(d.text('token'))}` } as Record<string, string>)[d.text('reason')] ?? 'no valid token';
  const state = d.text('episode') === 'started' ? 'the first of an episode' : `${count(d.number('requests') ?? 1, 'request')} so far`;
  return `SCIM requests ${where(c.facts.actor)} with ${why} were refused (${state}).`;
}

/** directory.synced: one directory sync run's counts, or the safety rule that stopped it (server/directory/LdapSync.ts). */
function directorySynced(c: SentenceContext): string {
  const d = c.details;
  const read = count(d.number('read') ?? 0, 'person', 'people');
  const stopped = d.text('stopped');
  if (stopped !== '') {
    const why = stopped === 'DIRECTORY_EMPTY_READ' ? 'it read nobody while accounts come from it (a wrong filter or base DN?)'
      : stopped === 'DIRECTORY_MASS_DEACTIVATION' ? 'it would have deactivated more accounts than the relay allows at once' : stopped;
    return `${who(c)} read ${read} and stopped without changing anything: ${why}.`;
  }
  const parts = [['created', 'created'], ['updated', 'updated'], ['deactivated', 'deactivated'], ['reactivated', 'reactivated'], ['unchanged', 'left unchanged'], ['refused', 'refused']]
    .filter(([key]) => (d.number(key ?? '') ?? 0) > 0).map(([key, words]) => `${formatNumber(d.number(key ?? '') ?? 0)} ${words ?? ''}`);
  const skipped = (d.number('skipped') ?? 0) > 0 ? `; ${count(d.number('skipped') ?? 0, 'entry', 'entries')} skipped` : '';
  return `${who(c)} read ${read}: accounts ${parts.length > 0 ? parts.join(', ') : 'none changed'}${skipped}.`;
}

/** presence.changed: "Dr. Lee set their status to Off shift until 18:00 at Ward 4, forwarding messages to Dr. Patel, with a note (…)". */
function presenceChanged(c: SentenceContext): string {
  const status = PRESENCE_WORDS[c.details.text('status')] ?? c.details.text('status');
  const forward = c.details.text('forwardTo');
  const target = forward.startsWith('user:') ? c.names.userLabel(forward.slice(5)) : forward.startsWith('role:') ? `the role ${forward.slice(5)}` : '';
  return `${join(`${capitalise(person(c))} set their status to ${status}${until(c, 'until')}`, where(c.facts.actor))}${target ? `, forwarding messages to ${target}` : ''}${c.details.flag('note') ? ', with a note (its words are not kept in the log)' : ''}.`;
}
const PRESENCE_WORDS: Readonly<Record<string, string>> = { available: 'Available', busy: 'Busy', inProcedure: 'In procedure', offShift: 'Off shift', doNotDisturb: 'Do not disturb' };

const fingerprint = (s: string) => (s.length > 16 ? `${s.slice(0, 16)}…` : s);

/** Why a blob went (BlobDeletion in server/storage/BlobStore.ts). */
const BLOB_DELETIONS: Readonly<Record<string, string>> = {
  retention: ' after the retention period', fetched: ': every workstation it was for had fetched it', abandoned: ': its upload was never finished',
  withdrawn: ': its sender withdrew it', digest: ': its bytes did not match their digest',
};

const SENTENCES: Readonly<Record<string, Sentence>> = {
  'account.created': (c) => (c.details.flag('newEnrollmentCode')
    ? `${who(c)} issued a new enrollment code for ${c.facts.subject.label}.`
    : c.facts.subject.person
      ? `${who(c)} created the account of ${c.facts.subject.label}.`
      : `${who(c)} created the account ${quoted(c.details.text('username'))}${c.details.has('role') ? ` with the role ${c.details.text('role')}` : ''}.`),
  // `reason: 'admin'` is the code an admin command's deactivation carries, not words anyone typed.
  'account.deactivated': (c) => `${who(c)} deactivated the account of ${c.facts.subject.label}${deactivationReason(c)}.`,
  'user.provisioned': (c) => `${who(c)} created the account ${quoted(c.details.text('username'))}${fieldList(c)}${c.details.text('status') === 'deactivated' ? ', deactivated (the directory lists the person as not active)' : ', to enroll'}.`,
  'user.updated': (c) => `${who(c)} changed the directory details of ${c.facts.subject.label}${fieldList(c)}${c.details.flag('adopted') ? '; the account is now kept by this source' : ''}.`,
  'user.deprovisioned': (c) => `${who(c)} removed ${c.facts.subject.label} from the directory; the account stays deactivated, kept for the audit trail.`,
  'group.provisioned': (c) => `${who(c)} created the group ${quoted(c.details.text('displayName'))} with ${count(c.details.number('memberCount') ?? 0, 'member')}.`,
  'group.updated': groupUpdated,
  'group.deleted': (c) => `${who(c)} deleted the group ${quoted(c.details.text('displayName'))}, which had ${count(c.details.number('memberCount') ?? 0, 'member')}.`,
  'scim.token_created': (c) => `${who(c)} created the SCIM token ${quoted(c.details.text('name'))} for an identity provider to provision accounts with.`,
  'scim.token_revoked': (c) => `${who(c)} revoked the SCIM token ${quoted(c.details.text('name'))}: requests with it are refused from now on.`,
  'scim.refused': scimRefused,
  'directory.synced': directorySynced,
  'account.inactive': (c) => `The relay deactivated the account of ${c.facts.subject.label}: ${c.details.text('reason') || 'unused for too long'}.`,
  'account.reactivated': (c) => `${who(c)} reactivated the account of ${c.facts.subject.label}.`,
  'account.sso_only': (c) => `${who(c)} ended password sign-in for ${c.facts.subject.label}: the account signs in with the organisation's identity provider from now on.`,
  'account.unlocked': (c) => (c.details.has('by')
    ? `The sign-in lock of ${c.facts.subject.label} was lifted by a sign-in${c.details.text('method') === 'sso' ? ' with the identity provider' : ''} ${where(c.facts.actor) || 'at an enrolled workstation'}.`
    : `${who(c)} lifted the sign-in lock of ${c.facts.subject.label}.`),
  'account.locked': accountLocked,
  'account.enrolled': (c) => `${capitalise(c.facts.subject.label)} completed enrollment ${where(c.facts.actor)}.`,
  'login.success': (c) => {
    const { actor } = c.facts;
    const device = c.details.number('device');
    const station = actor.kind === 'workstation' ? '' : c.details.flag('newDevice') ? 'on a new workstation' : device !== null && c.facts.subject.userId ? `at ${c.names.workstationName(c.facts.subject.userId, device)}` : '';
    return `${capitalise(person(c))} signed in ${join(station, where(actor))}.`;
  },
  'login.failure': loginFailure,
  'login.throttled': (c) => {
    const scope = ({ account: 'for this account', username: 'for this username', address: 'from this address', device: 'at this workstation', emergency: 'of emergency codes from this address' } as Record<string, string>)[c.details.text('scope')] ?? '';
    const target = c.facts.subject.kind === 'none' ? '' : ` for ${c.facts.subject.label}`;
    return `Sign-in attempts${target} ${where(c.facts.actor)} refused while paused after too many failures ${scope} (${count(c.details.number('count') ?? 1, 'refused attempt')}).`;
  },
  'credential.rejected': (c) => `The credential of ${c.facts.subject.label}'s workstation ${c.facts.subject.workstation ?? ''} was refused ${where(c.facts.actor)}: ${c.details.text('reason') || 'not valid'}${(c.details.number('count') ?? 1) > 1 ? ` (${ordinal(c.details.number('count') ?? 1)} time)` : ''}.`,
  'emergency.issued': (c) => `${who(c)} issued emergency access for ${c.facts.subject.label}${until(c, 'expiresAt')}${reason(c)}.`,
  'emergency.used': (c) => `${capitalise(c.facts.subject.label)} signed in with emergency access ${where(c.facts.actor)}${c.details.has('reason') ? ` (issued because: ${quoted(c.details.text('reason'))})` : ''}.`,
  'device.enrolled': (c) => `${capitalise(person(c))} enrolled the workstation ${quoted(c.details.text('name') || 'unnamed')} ${where(c.facts.actor)}${c.details.has('auditKey') ? ', with its own audit signing key' : ''}.`,
  'device.revoked': (c) => `${who(c)} revoked the workstation ${quoted(c.facts.subject.workstation ?? c.facts.subject.raw)} of ${c.facts.subject.label}.`,
  'keys.uploaded': (c) => `${who(c)} ${where(c.facts.actor)} uploaded encryption keys (${count(c.details.number('preKeys') ?? 0, 'one-time key')}).`,
  'bundle.fetched': (c) => `${who(c)} ${where(c.facts.actor)} fetched the encryption keys of ${c.facts.subject.label}'s workstation ${quoted(c.facts.subject.workstation ?? '')} to start a secure session.`,
  'bundle.refused': refusalEpisode('key fetches'),
  'keys.refused': refusalEpisode('key uploads'),
  'envelope.refused': refusalEpisode('messages'),
  'envelope.accepted': (c) => {
    const to = c.facts.counterparties[0];
    const kind = c.details.flag('urgent') ? 'Urgent message' : c.details.has('escalation') ? 'Escalated message' : 'Message';
    return `${kind} sent by ${c.facts.actor.label} ${where(c.facts.actor)} to ${to ? join(to.label, where(to)) : 'an unrecorded recipient'}.`;
  },
  'envelope.delivered': (c) => {
    const from = c.facts.counterparties[0];
    return `Message ${from ? `from ${from.label} ` : ''}delivered to ${c.facts.actor.label} ${where(c.facts.actor)}.`;
  },
  'envelope.expired': (c) => `${capitalise(count(c.details.number('count') ?? 0, 'undelivered message envelope'))} deleted by the relay after the retention period${c.details.has('retentionDays') ? ` of ${count(c.details.number('retentionDays') ?? 0, 'day')}` : ''}.`,
  'blob.stored': (c) => `${join(who(c), where(c.facts.actor))} uploaded an encrypted attachment of ${count(c.details.number('size') ?? 0, 'byte')}.`,
  'blob.fetched': (c) => `${join(who(c), where(c.facts.actor))} fetched an encrypted attachment of ${count(c.details.number('size') ?? 0, 'byte')}.`,
  'blob.readersAdded': (c) => `${join(who(c), where(c.facts.actor))} let ${count(c.details.number('readers') ?? 0, 'more colleague')} fetch an encrypted attachment.`,
  'blob.readersRemoved': (c) => `${capitalise(count(c.details.number('readers') ?? 0, 'colleague'))} of an escalation that was acknowledged before it reached them may no longer fetch an encrypted attachment.`,
  'blob.deleted': (c) => `An encrypted attachment of ${count(c.details.number('size') ?? 0, 'byte')} deleted by the relay${BLOB_DELETIONS[c.details.text('reason')] ?? ''}.`,
  'audit.exported': exported,
  'audit.export_refused': (c) => (c.details.has('log')
    ? `Audit export of the earlier log ${c.details.text('log')} by ${c.facts.actor.label} refused: ${c.details.text('reason') || 'no reason recorded'}.`
    : `Audit export by ${c.facts.actor.label} refused: the log's hash chain is broken at record ${c.details.text('chainBrokenAt') || '?'}${c.details.has('reason') ? ` (${c.details.text('reason')})` : ''}.`),
  'audit.log_restored': logRestored,
  'audit.tree_rebuilt': (c) => `${who(c)} rebuilt the relay's stored tree of the audit log from its records${(c.details.number('differing') ?? 0) > 0 ? `, although ${count(c.details.number('differing') ?? 0, 'record')} differed from it (first: ${c.details.text('first')})` : ''}.`,
  'presence.changed': presenceChanged,
  'audit.key_rotated': (c) => `${who(c)} replaced the audit signing key${c.details.has('retired') ? ` ${fingerprint(c.details.text('retired'))}` : ''}${c.details.has('current') ? ` with ${fingerprint(c.details.text('current'))}` : ''}${c.details.has('reason') ? ` (${c.details.text('reason')})` : ''}.`,
  // Looked up when used: urgentSentences.ts imports `where` from here.
  'message.acknowledged': (c) => URGENT_SENTENCES['message.acknowledged']?.(c) ?? '',
  'escalation.held': (c) => URGENT_SENTENCES['escalation.held']?.(c) ?? '',
  'escalation.released': (c) => URGENT_SENTENCES['escalation.released']?.(c) ?? '',
  'escalation.cancelled': (c) => URGENT_SENTENCES['escalation.cancelled']?.(c) ?? '',
  'escalation.purged': (c) => URGENT_SENTENCES['escalation.purged']?.(c) ?? '',
};

/** The sentence for a relay record, or null for a type this version does not know. */
export function relaySentence(c: SentenceContext): string | null {
  const sentence = Object.hasOwn(SENTENCES, c.record.type) ? SENTENCES[c.record.type] : Object.hasOwn(ROLE_SENTENCES, c.record.type) ? ROLE_SENTENCES[c.record.type] : undefined;
  return sentence ? tidy(sentence(c)) : null;
}
