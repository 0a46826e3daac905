/**
 * Sentences for the relay's records of urgent messages (issue 19; server/escalation/EscalationService.ts writes
 * them): signed acknowledgements, and escalation ladders held, released and stopped. They name people and give
 * times in the reader's time zone; what was said is never in the log, only who, when and which message.
 */
import type { SentenceContext } from './describe';
import { where } from './relaySentences';
import { capitalise, count } from './words';

type Sentence = (c: SentenceContext) => string;

const who = (c: SentenceContext) => capitalise(c.facts.actor.label);
const at = (c: SentenceContext, key: string) => c.times.local(c.details.number(key) ?? 0);
const short = (id: string) => (id.length > 8 ? `${id.slice(0, 8)}…` : id);
/** "Dr. Lee (lee, clinician) and Dr. Patel (patel, clinician)" from space-separated user ids. */
function people(c: SentenceContext, key: string): string {
  const names = c.details.text(key).split(' ').filter(Boolean).map((id) => c.names.userLabel(id));
  if (names.length <= 1) return names[0] ?? 'no one recorded';
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''}`;
}
const senderOf = (c: SentenceContext) => (c.details.has('sender') ? `${c.names.userLabel(c.details.text('sender'))}'s` : 'an');
const message = (c: SentenceContext) => short(c.details.has('message') ? c.details.text('message') : c.facts.subject.raw);

/** A workstation's clock this far from the relay's is worth saying (a minute: clocks drift by seconds). */
const CLAIM_WORTH_SAYING_MS = 60_000;

function acknowledged(c: SentenceContext): string {
  const key = c.details.text('identityKey');
  const claimed = c.details.number('claimedAt');
  const received = c.details.number('acknowledgedAt');
  // Since issue 19's review, acknowledgedAt is when the relay received it; claimedAt what the workstation said.
  const when = received === null ? '' : ` at ${at(c, 'acknowledgedAt')}${claimed !== null && Math.abs(claimed - received) >= CLAIM_WORTH_SAYING_MS ? ` (the workstation said ${at(c, 'claimedAt')})` : ''}`;
  const covering = c.details.has('coveringFor') ? `, covering for ${c.names.userLabel(c.details.text('coveringFor'))},` : '';
  return `${who(c)} ${where(c.facts.actor)} acknowledged ${senderOf(c)} urgent message ${short(c.facts.subject.raw)}${covering}${when}`
    + `; the relay verified the signature${key ? ` with the workstation's identity key ${key.slice(0, 12)}…` : ''}`
    + `${c.details.flag('selfReported') ? '; self-reported: no escalation the relay held shows the message reached them' : ''}.`;
}

function held(c: SentenceContext): string {
  const rungs: string[] = [];
  for (let n = 1; n <= (c.details.number('rungs') ?? 0) && n <= 10; n++) rungs.push(`to ${people(c, `rung${n}To`)} at ${at(c, `rung${n}DueAt`)}`);
  return `${who(c)} ${where(c.facts.actor)} sent an urgent message ${message(c)} to ${people(c, 'recipients')} with an escalation the relay holds without being able to read it`
    + `${rungs.length > 0 ? `: unless acknowledged, ${rungs.join(', then ')}` : ''}.`;
}

function released(c: SentenceContext): string {
  const late = c.details.number('lateMs') ?? 0;
  return `Nobody acknowledged ${senderOf(c)} urgent message ${message(c)} in time: the relay released step ${c.details.number('rung') ?? '?'} of its escalation to ${people(c, 'recipients')}`
    + ` (due ${at(c, 'dueAt')}${late >= 2000 ? `, ${Math.round(late / 1000)} s late` : ''}; ${count(c.details.number('devices') ?? 0, 'workstation')}).`;
}

function cancelled(c: SentenceContext): string {
  const rungs = c.details.number('rungs') ?? 0;
  return `${who(c)}'s acknowledgement stopped the escalation of ${senderOf(c)} urgent message ${message(c)}${rungs > 0 ? `: ${count(rungs, 'step')} will not be released` : ' (every step had been released already)'}.`;
}

function purged(c: SentenceContext): string {
  return `The relay deleted, after the retention period, ${count(c.details.number('ladders') ?? 0, 'finished escalation')} and ${count(c.details.number('acknowledgements') ?? 0, 'recorded acknowledgement')}`
    + `${c.details.has('retentionDays') ? ` older than ${count(c.details.number('retentionDays') ?? 0, 'day')}` : ''} (this log keeps what happened to them).`;
}

export const URGENT_SENTENCES: Readonly<Record<string, Sentence>> = {
  'message.acknowledged': acknowledged,
  'escalation.held': held,
  'escalation.released': released,
  'escalation.cancelled': cancelled,
  'escalation.purged': purged,
};

