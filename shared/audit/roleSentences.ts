/**
 * Sentences for the relay's on-call role records (issue 19; server/roles/roleAudit.ts writes them): roles
 * created and changed, shifts added and removed, rotas imported, the scheduler permission. Times in the
 * reader's time zone, as every audit sentence gives them; role names are organisational data.
 */
import { STANDING_SHIFT_END } from '../wire/roles';
import type { SentenceContext } from './describe';
import { where } from './relaySentences';
import { capitalise, count } from './words';

type Sentence = (c: SentenceContext) => string;

const quoted = (s: string) => `“${s}”`;
const who = (c: SentenceContext) => capitalise(c.facts.actor.label);
const at = (c: SentenceContext, key: string) => c.times.local(c.details.number(key) ?? 0);
const SOURCE_WORDS: Readonly<Record<string, string>> = {
  app: 'entered in the app', cli: "entered on the relay's command line", csv: 'from a CSV rota', ics: 'from an iCalendar rota',
  scim: 'standing, as a member of a SCIM group mapped to the role', ldap: 'standing, as a member of a directory group mapped to the role',
};
/** The workstation a clinician acted at (an admin's label already says "relay command line"). */
const at_ = (c: SentenceContext) => (c.facts.actor.kind === 'workstation' ? ` ${where(c.facts.actor)}` : '');

/** "backup Dr. Lee" / "backup the role “Cardiology registrar”". */
function backup(c: SentenceContext): string {
  const b = c.details.text('backup');
  if (b.startsWith('user:')) return `backup ${c.names.userLabel(b.slice(5))}`;
  if (b.startsWith('role:')) return `backup the role ${quoted(b.slice(5))}`;
  return 'no backup';
}

function roleFields(c: SentenceContext): string {
  const changed = c.details.text('changed').split(',').filter(Boolean);
  const parts = changed.map((f) => {
    if (f === 'backup') return backup(c);
    if (f === 'timeZone') return `rota time zone ${c.details.text('timeZone')}`;
    if (f === 'department') return c.details.has('department') ? `department ${quoted(c.details.text('department'))}` : 'department cleared';
    if (f === 'name') return `name ${quoted(c.details.text('name'))}`;
    return f;
  });
  return parts.join(', ');
}

const span = (c: SentenceContext) => {
  const until = (c.details.number('endsAt') ?? 0) >= STANDING_SHIFT_END ? 'on' : `to ${at(c, 'endsAt')}`;
  return `from ${at(c, 'startsAt')} ${until} (${SOURCE_WORDS[c.details.text('source')] ?? c.details.text('source')})`;
};

export const ROLE_SENTENCES: Readonly<Record<string, Sentence>> = {
  'role.created': (c) => `${who(c)} created the on-call role ${quoted(c.details.text('name'))}${c.details.has('department') ? ` (${c.details.text('department')})` : ''}, its rota in ${c.details.text('timeZone')}, ${backup(c)}.`,
  'role.updated': (c) => `${who(c)} changed the on-call role ${quoted(c.details.text('name'))}: ${roleFields(c) || 'nothing'}.`,
  'shift.added': (c) => `${who(c)} put ${c.facts.subject.label} on the role ${quoted(c.details.text('role'))} ${span(c)}${at_(c)}.`,
  'shift.removed': (c) => `${who(c)} removed the shift of ${c.facts.subject.label} on the role ${quoted(c.details.text('role'))} ${span(c)}${at_(c)}.`,
  'schedule.imported': (c) => `${who(c)} imported ${c.details.text('source') === 'ics' ? 'an iCalendar' : 'a CSV'} rota for the role ${quoted(c.details.text('role'))} covering ${at(c, 'from')} to ${at(c, 'to')}: ${count(c.details.number('added') ?? 0, 'shift')} added, ${count(c.details.number('removed') ?? 0, 'earlier shift')} replaced.`,
  'shifts.vacated': (c) => {
    const removed = c.details.number('removed') ?? 0;
    const ended = c.details.number('ended') ?? 0;
    const roles = c.details.text('roles');
    const what = [removed > 0 ? `${count(removed, 'shift')} not yet begun removed` : '', ended > 0 ? `${count(ended, 'shift')} under way ended` : ''].filter(Boolean).join(' and ') || 'no shifts changed';
    return `${capitalise(c.facts.subject.label)}'s account was deactivated: ${what}${roles ? ` (on-call roles ${roles})` : ''}; those roles go to their backup where no one else holds them.`;
  },
  'scheduler.granted': (c) => `${who(c)} allowed ${c.facts.subject.label} to change on-call schedules in the app.`,
  'scheduler.revoked': (c) => `${who(c)} took away ${c.facts.subject.label}'s permission to change on-call schedules.`,
};
