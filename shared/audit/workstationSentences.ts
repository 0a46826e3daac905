/**
 * One sentence per kind of workstation audit record (main/core/audit/LocalAudit.ts, the current names
 * and the legacy ones of version 0.1). The actor is the workstation's own user, the log's owner.
 */
import type { SentenceContext } from './describe';
import { capitalise, count, listPeople, tidy } from './words';

type Sentence = (c: SentenceContext) => string;

const owner = (c: SentenceContext) => capitalise(c.facts.actor.label);
const station = (c: SentenceContext) => (c.facts.actor.workstation ? ` at ${c.facts.actor.workstation}` : '');
/** ", covering for Dr. Lee": an acknowledgement made from the copy forwarded to the colleague covering (issue 19). */
const coveringFor = (c: SentenceContext) => (c.details.has('coveringFor') ? `, covering for ${c.names.userLabel(c.details.text('coveringFor'))}` : '');
const protection = (c: SentenceContext) => ({ os: " (profile key kept in the operating system's key store)", passphraseOnly: ' (profile key protected by the passphrase only)' } as Record<string, string>)[c.details.text('keyProtection')] ?? '';
const LOCK_REASONS: Readonly<Record<string, string>> = { inactivity: 'after inactivity', osLock: 'when the computer was locked', suspend: 'when the computer went to sleep', manual: 'by hand', quit: 'on quitting' };
const lockReason = (c: SentenceContext) => LOCK_REASONS[c.details.text('reason')] ?? (c.details.has('reason') ? `(${c.details.text('reason')})` : '');
const contact = (c: SentenceContext) => c.names.userLabel(c.details.text('user'));
const contactStation = (c: SentenceContext) => `“${c.names.workstationName(c.details.text('user'), c.details.number('device') ?? 0)}”`;
const shortId = (id: string) => (id.length > 8 ? `${id.slice(0, 8)}…` : id);
const ACK_REFUSALS: Readonly<Record<string, string>> = {
  NOT_FROM_ACKNOWLEDGER: 'it came from another workstation than the one named', SIGNATURE_INVALID: 'its signature is not that workstation\'s',
  UNKNOWN_MESSAGE: 'no such message here', WRONG_CONVERSATION: 'it names another conversation', WRONG_SENDER: 'it names another sender',
  NOT_URGENT: 'the message is not urgent', NOT_A_RECIPIENT: 'the message did not go to them', DUPLICATE: 'they had acknowledged it already',
};
const FORWARDING_REFUSALS: Readonly<Record<string, string>> = {
  UNSIGNED: 'the relay gave it without their signed statement', SIGNATURE_INVALID: 'its signature is not theirs, or not over this forwarding',
  SIGNED_LATER: 'it was signed at a time still to come',
};
/** A forward target as recorded ("user:<id>" or "role:<id>"), in words. */
function forwardTarget(c: SentenceContext): string {
  const [kind, id = ''] = c.details.text('to').split(':');
  return kind === 'user' ? c.names.userLabel(id) : `the on-call role ${shortId(id)}`;
}
const messages = (list: string) => list.split(/\s+/).filter((m) => m !== '').length;
/** An attachment record's size and type: never its name or content (there are none in the record). */
const attachmentFacts = (c: SentenceContext) => `${count(c.details.number('size') ?? 0, 'byte')}, ${c.details.text('type') || 'type unknown'}`;

const unlocked: Sentence = (c) => `${owner(c)} unlocked Rounds${station(c)}${protection(c)}.`;
const signedIn: Sentence = (c) => `${owner(c)} signed in to Rounds${station(c)}${protection(c)}.`;
const locked: Sentence = (c) => `Rounds locked${station(c)} ${lockReason(c)}.`;
const signedOut: Sentence = (c) => `${owner(c)} was signed out${station(c)}${c.details.has('reason') ? `: ${c.details.text('reason')}` : ''}.`;
const unlockFailed: Sentence = (c) => `Failed attempt to unlock Rounds${station(c)} (wrong passphrase).`;

const POLICY_WORDS: Readonly<Record<string, (v: string) => string>> = {
  maxInactivityMinutes: (v) => `lock after ${v} min of inactivity`,
  signOutAfterLockedHours: (v) => `sign out after ${v} h locked`,
  notificationPreviews: (v) => `notification previews ${v === 'true' ? 'on' : v === 'false' ? 'off' : v}`,
  contentProtection: (v) => `screen capture ${v === 'true' ? 'blocked' : v === 'false' ? 'allowed' : v}`,
  retentionDays: (v) => `messages kept ${v} days`,
  wipeAfterFailedUnlocks: (v) => `profile wiped after ${v} failed unlocks`,
};

const SENTENCES: Readonly<Record<string, Sentence>> = {
  'session.unlocked': unlocked, unlock: unlocked,
  'session.signedIn': signedIn, signIn: signedIn,
  'session.locked': locked, lock: locked,
  'session.autoLocked': locked, autoLock: locked,
  'session.signedOut': signedOut, signOut: signedOut,
  'session.unlockFailed': unlockFailed, 'unlock.failed': unlockFailed,
  'profile.keySealed': (c) => (c.details.text('change') === 'clearCopyRemoved'
    ? "The unprotected copy of the profile key was removed; it is kept only in the operating system's key store."
    : c.details.text('change') === 'sealed' ? "The profile key was sealed in the operating system's key store." : `The profile key's protection changed (${c.details.text('change')}).`),
  'passphrase.changed': (c) => `${owner(c)} changed the passphrase${protection(c)}.`,
  'passphrase.belowPolicy': (c) => `${owner(c)}'s passphrase does not meet the policy (${c.details.text('rules').split(/\s+/).join(', ')}).`,
  'policy.loaded': (c) => {
    const rules = c.details.entries().map(([k, v]) => (Object.hasOwn(POLICY_WORDS, k) ? (POLICY_WORDS[k] ?? String)(v) : `${k} ${v}`));
    return `Organisation policy applied${rules.length > 0 ? `: ${rules.join('; ')}` : ''}.`;
  },
  'audit.exported': (c) => `${owner(c)} exported this workstation's audit log: ${count(c.details.number('records') ?? 0, 'record')}; the log then held ${count(c.details.number('treeSize') ?? 0, 'record')}.`,
  'audit.relayExported': (c) => `${owner(c)} exported the relay's audit log${c.details.has('user') ? ` for ${c.details.text('user')}` : ''}.`,
  'retention.deleted': (c) => `${capitalise(count(c.details.number('count') ?? 0, 'message'))} older than ${count(c.details.number('days') ?? 0, 'day')} deleted by the retention policy.`,
  'message.sent': (c) => `Message sent by ${c.facts.actor.label} to ${listPeople(c.facts.counterparties, c.facts.counterparties.find((p) => p.username === c.facts.actor.username)?.userId ?? null)}.`,
  'message.received': (c) => `Message from ${c.facts.counterparties[0]?.label ?? 'an unrecorded sender'} received by ${c.facts.actor.label}.`,
  'message.read': (c) => `${owner(c)} read ${count(messages(c.details.text('messages')), 'message')}.`,
  'message.rejected': (c) => `${capitalise(count(c.details.number('count') ?? 1, 'unreadable message'))} from ${c.facts.counterparties[0]?.label ?? 'an unknown sender'} could not be decrypted and ${(c.details.number('count') ?? 1) === 1 ? 'was' : 'were'} set aside.`,
  'careTeam.changed': (c) => `A care team's membership changed: now ${count(c.details.number('members') ?? 0, 'member')}.`,
  'contact.identityAcknowledged': (c) => `${owner(c)} acknowledged a new safety number of ${contact(c)} (${count(c.details.number('devices') ?? 0, 'workstation')}).`,
  'contact.verified': (c) => `${owner(c)} verified the safety number of ${contact(c)} for the workstation ${contactStation(c)}.`,
  'urgent.acknowledged': (c) => `${owner(c)} acknowledged ${c.names.userLabel(c.details.text('sender'))}'s urgent message ${shortId(c.details.text('message'))}${coveringFor(c)}${station(c)}, signed with the workstation's identity key.`,
  'acknowledgement.received': (c) => `${capitalise(c.names.party(c.details.text('acknowledger')).label)} acknowledged ${c.names.userLabel(c.details.text('sender'))}'s urgent message ${shortId(c.details.text('message'))}${coveringFor(c)}; ${c.details.has('unverified') ? `the signature could not be verified${station(c)} (no identity key for that workstation here): it is the word of ${c.names.party(c.details.text('passedOnBy')).label}, who passed it on` : `the signature was verified${station(c)}${c.details.has('passedOnBy') ? ` (passed on by ${c.names.party(c.details.text('passedOnBy')).label})` : ''}`}.`,
  'acknowledgement.refused': (c) => `An acknowledgement of message ${shortId(c.details.text('message'))} in the name of ${c.names.party(c.details.text('acknowledger')).label} was refused${station(c)}: ${ACK_REFUSALS[c.details.text('reason')] ?? c.details.text('reason')}.`,
  'forwarding.refused': (c) => `The relay said ${c.names.userLabel(c.details.text('user'))}'s messages also go to ${forwardTarget(c)}; this workstation sent them nothing extra${station(c)}: ${FORWARDING_REFUSALS[c.details.text('reason')] ?? c.details.text('reason')}.`,
  'contact.unverified': (c) => `${owner(c)} removed the verification of ${contact(c)} for the workstation ${contactStation(c)}.`,
  'attachment.sent': (c) => `${owner(c)} sent an attachment (${attachmentFacts(c)}).`,
  'attachment.fetched': (c) => `${owner(c)} fetched an attachment (${attachmentFacts(c)}).`,
  'attachment.saved': (c) => `${owner(c)} saved an attachment to disk (${attachmentFacts(c)}).`,
  'attachment.saveAttempted': (c) => `${owner(c)} began saving an attachment to disk (${attachmentFacts(c)}).`,
  'attachment.saveFailed': (c) => `Saving an attachment to disk failed at its ${c.details.text('step') || 'unknown'} step (${c.details.text('code') || 'no code'}); the copy was deleted (${attachmentFacts(c)}).`,
  'attachment.copied': (c) => `${owner(c)} copied an image attachment to the clipboard (${attachmentFacts(c)}).`,
};

/** The sentence for a workstation record, or null for a kind this version does not know. */
export function workstationSentence(c: SentenceContext): string | null {
  const sentence = Object.hasOwn(SENTENCES, c.record.type) ? SENTENCES[c.record.type] : undefined;
  return sentence ? tidy(sentence(c)) : null;
}
