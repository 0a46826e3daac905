/**
 * One person's part of report.html: sign-ins and where from, failures and lockouts, workstations enrolled
 * and revoked, messages sent and received with whom, exports, emergency access, and what else they did.
 */
import { auditTypeLabel } from './describe';
import { LocalTimes, validTime } from './localTimes';
import type { AuditNames } from './people';
import { escapeHtml as esc } from './reportPage';
import type { Counts, PeopleTallies, PersonTally } from './reportPeople';
import { count, formatNumber } from './words';

/** Counterparties named per line; the rest are summed. */
const NAMED = 8;

// A time no Date can hold (a damaged record's) is left out rather than thrown on.
const utcDay = (at: number) => (validTime(at) ? LocalTimes.dayLabel(Math.floor(at / 86_400_000)) : '');

function topList(counts: Counts, name: (key: string) => string): string {
  const sorted = counts.entries().sort(([, a], [, b]) => b - a);
  const named = sorted.slice(0, NAMED).map(([k, n]) => `${esc(name(k))} (${formatNumber(n)})`);
  const rest = sorted.slice(NAMED).reduce((sum, [, n]) => sum + n, 0);
  return `${named.join(', ')}${rest > 0 ? `, others (${formatNumber(rest)})` : ''}`;
}

export function personSection(p: PersonTally, tallies: PeopleTallies, names: AuditNames): string {
  const nameOf = (key: string) => (key === '…' ? 'others' : tallies.get(key)?.label ?? names.userLabel(key));
  const facts: [string, string][] = [];
  const add = (label: string, value: string) => facts.push([label, value]);
  if (p.signIns > 0) add('Sign-ins', `${formatNumber(p.signIns)}: ${topList(p.signInPlaces, (k) => k)}`);
  if (p.failedSignIns > 0) add('Failed sign-ins or unlocks', formatNumber(p.failedSignIns));
  if (p.lockouts > 0) add('Sign-ins locked', count(p.lockouts, 'time'));
  if (p.enrolled.length > 0) add('Workstations enrolled', p.enrolled.map((n) => `“${esc(n)}”`).join(', '));
  if (p.revoked.length > 0) add('Workstations revoked', p.revoked.map((n) => `“${esc(n)}”`).join(', '));
  if (p.sent > 0) add('Messages sent', `${formatNumber(p.sent)}${p.sentTo.size > 0 ? ` to ${topList(p.sentTo, nameOf)}` : ''}`);
  if (p.addressed > 0) add('Messages received', `${formatNumber(p.addressed)}${p.addressedFrom.size > 0 ? ` from ${topList(p.addressedFrom, nameOf)}` : ''}`);
  if (p.delivered > 0) add('Delivered to them', formatNumber(p.delivered));
  if (p.urgentSent > 0) add('Urgent messages sent', `${formatNumber(p.urgentSent)}${p.escalationsHeld > 0 ? `, ${formatNumber(p.escalationsHeld)} with an escalation` : ''}`);
  if (p.acknowledged > 0) add('Urgent messages they acknowledged', formatNumber(p.acknowledged));
  if (p.escalatedTo > 0) add('Escalations that reached them', formatNumber(p.escalatedTo));
  if (p.exports > 0) add('Audit exports', formatNumber(p.exports));
  if (p.emergencyIssued > 0 || p.emergencyUsed > 0) add('Emergency access', `<span class="flag">issued ${formatNumber(p.emergencyIssued)}, used ${formatNumber(p.emergencyUsed)}</span>`);
  if (p.flagged > 0) add('Flagged events involving them', `<span class="flag">${formatNumber(p.flagged)}</span>`);
  const actions = p.actions.entries().sort(([, a], [, b]) => b - a).map(([type, n]) => `${esc(auditTypeLabel(type))} (${formatNumber(n)})`);
  if (actions.length > 0) add(p.party.kind === 'admin' ? 'Actions' : 'Everything they did', actions.join(', '));
  const involved = p.involvedIn.entries().sort(([, a], [, b]) => b - a).map(([type, n]) => `${esc(auditTypeLabel(type))} (${formatNumber(n)})`);
  if (involved.length > 0) add('Involved in', involved.join(', '));
  const span = utcDay(p.firstAt) === utcDay(p.lastAt) ? utcDay(p.firstAt) : `${utcDay(p.firstAt)} to ${utcDay(p.lastAt)}`;
  const role = p.party.kind === 'admin' ? 'Administrator' : p.party.person ? '' : p.key.startsWith('owner:') ? "This workstation's user" : 'Not in the directory at export';
  return `<section class="person keep" id="person-${p.index}" aria-labelledby="h-person-${p.index}">
<h3 id="h-person-${p.index}">${esc(p.label)}</h3>
<p class="muted">${role ? `${esc(role)} · ` : ''}${count(p.events, 'event')} (UTC ${esc(span)})<span class="screen-only"> · <a href="#who-${p.index}">show them in the timeline</a></span></p>
<dl class="facts">${facts.map(([label, value]) => `<dt>${esc(label)}</dt><dd>${value}</dd>`).join('')}</dl></section>`;
}
