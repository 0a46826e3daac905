/**
 * report.html of an audit bundle, built as the records stream by: `add(record)` once per exported record,
 * then `render()`. Memory is bounded whatever the export's size: counts, per-day and per-person tallies
 * grow with the number of types, days and people, and the page keeps at most `timelineLimit` timeline
 * rows plus `flaggedLimit` flagged ones (it says so, and that events.csv has them all).
 *
 * The page answers "who did what, when, from which workstation": flagged events first, one timeline with
 * a filter per person and per type that works without scripts (CSS :target on anchors before the table),
 * a section per person, counts by type and per day, and what the signatures prove with the commands that
 * check them. Static HTML, inline CSS and SVG: no scripts, nothing from the network (its CSP says so).
 */
import { AuditDescriber, auditTypeLabel, type AuditFacts, type AuditLogOwner, type DescribedRecord } from './describe';
import { LocalTimes, validTime } from './localTimes';
import { AuditNames, type AuditDirectory } from './people';
import { CSP, STYLE, dayChart, escapeHtml as esc, verificationBlock } from './reportPage';
import { PeopleTallies, type PersonTally } from './reportPeople';
import { personSection } from './reportPerson';
import { capitalise, count, formatNumber } from './words';

export interface AuditReportVerification {
  /** SHA-256 fingerprint of the signer's raw Ed25519 public key, hex. */
  readonly signerFingerprint: string;
  readonly treeSize: number;
  /** The checkpoint's root hash, hex. */
  readonly rootHash: string;
  /** Seq of the log's first record: 1, unless the log was started again after a restore. */
  readonly firstSeq: number;
  readonly kind: 'relay' | 'workstation';
  /** A workstation bundle's user and workstation. */
  readonly workstation?: AuditLogOwner;
}

export interface AuditReportInput {
  readonly title: string;
  readonly origin: string;
  /** [from, to); from <= 0 is the start of the log, to >= 8.64e15 (or not finite) the time of export. `user`: a username. */
  readonly range: { readonly from: number; readonly to: number; readonly user: string | null };
  readonly directory: AuditDirectory;
  readonly generatedAt: number;
  /** Shown as a banner above everything (a bundle of a log whose hash chain is broken). */
  readonly warning?: string;
  /**
   * What the signatures cover. Needed to render; a streaming export that knows the tree only at the end
   * passes it to `render(verification)` instead.
   */
  readonly verification?: AuditReportVerification;
  /** A workstation bundle's user and workstation, when `verification` comes only at render. */
  readonly workstation?: AuditLogOwner;
  /** Timeline rows kept besides the flagged ones (default 2,000). */
  readonly timelineLimit?: number;
  /** Flagged rows kept (default 1,000). */
  readonly flaggedLimit?: number;
  /** The export's one describer, shared with its AuditCsv so that each record's facts are worked out once. */
  readonly describer?: AuditDescriber;
}

/** render() without the verification facts: the page must say what was verified, so it is not written without them. */
export class AuditReportIncomplete extends Error {
  readonly code = 'AUDIT_REPORT_INCOMPLETE';
  constructor() {
    super('the audit report needs the signer fingerprint, tree size and root hash: pass them as input.verification or to render()');
    this.name = 'AuditReportIncomplete';
  }
}

interface Row {
  readonly seq: number;
  readonly html: string;
  readonly flagged: boolean;
}

const OUTCOME_WORDS = { success: 'done', failure: 'failed', refused: 'refused', locked: 'locked', notice: 'noted' } as const;

export class AuditReport {
  readonly #input: AuditReportInput;
  readonly #times: LocalTimes;
  readonly #names: AuditNames;
  readonly #describer: AuditDescriber;
  readonly #people: PeopleTallies;
  readonly #types = new Map<string, { name: string; index: number; count: number; shown: number; flagged: number; failed: number }>();
  readonly #days = new Map<number, number>();
  readonly #rows: Row[] = [];
  readonly #flaggedRows: Row[] = [];
  readonly #timelineLimit: number;
  readonly #flaggedLimit: number;
  /** The day of the last record and its records since: a run of one day's records is counted in #days at once. */
  #day = Number.NaN;
  #dayCount = 0;
  #records = 0;
  #flagged = 0;
  #failed = 0;
  #refused = 0;
  #emergency = 0;
  #firstSeq = Infinity;
  #lastSeq = -Infinity;
  #firstAt = Infinity;
  #lastAt = -Infinity;

  constructor(input: AuditReportInput) {
    this.#input = input;
    this.#describer = input.describer ?? new AuditDescriber(new AuditNames(input.directory), new LocalTimes(input.directory.timeZone), input.verification?.workstation ?? input.workstation);
    this.#names = this.#describer.names;
    this.#times = this.#describer.times;
    this.#people = new PeopleTallies(this.#names);
    this.#timelineLimit = Math.max(0, input.timelineLimit ?? 2_000);
    this.#flaggedLimit = Math.max(0, input.flaggedLimit ?? 1_000);
  }

  /** One exported record, in log order; `facts` from the shared describer's `facts(record)`, when the caller has them. */
  add(record: DescribedRecord, facts?: AuditFacts): void {
    const type = typeof record.type === 'string' ? record.type : String(record.type);
    const r = type === record.type ? record : { ...record, type };
    facts ??= this.#describer.facts(r);
    this.#records++;
    if (Number.isFinite(r.seq)) {
      this.#firstSeq = Math.min(this.#firstSeq, r.seq);
      this.#lastSeq = Math.max(this.#lastSeq, r.seq);
    }
    if (validTime(r.at)) {
      this.#firstAt = Math.min(this.#firstAt, r.at);
      this.#lastAt = Math.max(this.#lastAt, r.at);
      const day = this.#times.localDay(r.at);
      if (day !== this.#day) this.#countDay(day);
      this.#dayCount++;
    }
    let t = this.#types.get(type);
    if (!t) {
      t = { name: type, index: this.#types.size, count: 0, shown: 0, flagged: 0, failed: 0 };
      this.#types.set(type, t);
    }
    t.count++;
    if (facts.flagged) {
      t.flagged++;
      this.#flagged++;
    }
    if (facts.outcome === 'failure') {
      t.failed++;
      this.#failed++;
    }
    if (facts.outcome === 'refused') this.#refused++;
    if (type.startsWith('emergency.')) this.#emergency++;
    // The type's first-seen string: the tallies' maps then find it by identity, not by comparing its characters.
    const involved = this.#people.add(r, facts, t.name);
    const keep = facts.flagged ? this.#flaggedRows.length < this.#flaggedLimit : this.#rows.length < this.#timelineLimit;
    if (keep) {
      (facts.flagged ? this.#flaggedRows : this.#rows).push({ seq: r.seq, flagged: facts.flagged, html: this.#row(r, facts, involved, t.index) });
      t.shown++;
      for (const p of involved) p.shown++;
    }
  }

  #row(record: DescribedRecord, facts: AuditFacts, involved: readonly PersonTally[], typeIndex: number): string {
    const classes = [...involved.map((p) => `p${p.index}`), `t${typeIndex}`, ...(facts.flagged ? ['flagged'] : [])].join(' ');
    const { actor } = facts;
    const who = actor.kind === 'anonymous' ? 'not signed in' : actor.kind === 'none' ? '' : esc(actor.short || actor.label);
    const whoDetail = actor.username && actor.short !== actor.username ? `<br><span class="muted">${esc(actor.username)}</span>` : '';
    const place = actor.workstation ?? (actor.address ? `address ${actor.address}` : actor.kind === 'admin' ? 'relay command line' : '');
    return `<tr class="${classes}"><td class="seq">${esc(String(record.seq))}</td><td class="time">${esc(this.#times.utc(record.at))}${this.#times.zone === 'UTC' ? '' : `<span class="local">${esc(this.#times.local(record.at))}</span>`}</td>`
      + `<td>${who}${whoDetail}</td><td>${facts.flagged ? '<span class="flag">Flagged: </span>' : ''}${esc(this.#describer.sentence(record, facts))}</td>`
      + `<td>${esc(place)}</td><td><span class="badge o-${facts.outcome}">${OUTCOME_WORDS[facts.outcome]}</span></td></tr>`;
  }

  /** Counts the run of records of the last day into #days, and starts one of `day` (in #days from its first record, so in order). */
  #countDay(day: number): void {
    if (this.#dayCount > 0) this.#days.set(this.#day, (this.#days.get(this.#day) ?? 0) + this.#dayCount);
    this.#day = day;
    this.#dayCount = 0;
    if (!Number.isNaN(day) && !this.#days.has(day)) this.#days.set(day, 0);
  }

  /** The page, with `verification` (or the input's) saying what the signatures cover. */
  render(verification: AuditReportVerification | undefined = this.#input.verification): string {
    if (!verification) throw new AuditReportIncomplete();
    this.#countDay(Number.NaN);
    const input = this.#input;
    const v = verification.workstation || !input.workstation ? verification : { ...verification, workstation: input.workstation };
    const people = this.#people.all().filter((p) => p.events > 0).sort((a, b) => sortName(a).localeCompare(sortName(b)));
    const types = [...this.#types.entries()].sort(([a], [b]) => auditTypeLabel(a).localeCompare(auditTypeLabel(b)));
    const timeline = mergeBySeq(this.#rows, this.#flaggedRows);
    const range = this.#rangeWords();
    const seqSpan = this.#records === 0 ? '' : this.#firstSeq === this.#lastSeq ? `record ${formatNumber(this.#firstSeq)}` : `records ${formatNumber(this.#firstSeq)} to ${formatNumber(this.#lastSeq)}`;
    const activePeople = people.filter((p) => p.party.kind !== 'admin').length;
    const head = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<title>${esc(input.title)}</title>
<style>${STYLE}${filterRules(people, types.map(([, t]) => t.index))}</style></head><body>
<a class="skip" href="#timeline">Skip to the timeline</a>`;
    const identity = v.kind === 'workstation' && v.workstation
      ? `<p class="identity">Workstation <strong>“${esc(v.workstation.deviceName)}”</strong>, used by <strong>${esc(v.workstation.displayName || v.workstation.username)}</strong> (${esc(v.workstation.username)})</p>`
      : '';
    const header = `<header class="doc"><p class="kicker">${v.kind === 'relay' ? 'Relay audit log' : 'Workstation audit log'} · signed export</p>
<h1>${esc(input.title)}</h1>${identity}
<p class="identity">${esc(capitalise(range))}${input.range.user ? `, for ${esc(this.#userWords(input.range.user))}` : ''}</p>
<p class="muted">Exported ${esc(this.#times.utc(input.generatedAt))}${this.#times.zone === 'UTC' ? '' : ` (${esc(this.#times.local(input.generatedAt))})`} from log <code>${esc(input.origin)}</code>.</p></header>`;
    const warning = input.warning ? `<p class="alarm" role="alert">${esc(input.warning)}</p>` : '';
    const glance = `<dl class="glance" aria-label="At a glance">
<div><dt>Events in this export</dt><dd>${formatNumber(this.#records)}</dd></div>
<div class="${this.#flagged > 0 ? 'warn' : ''}"><dt>Flagged for review</dt><dd>${formatNumber(this.#flagged)}</dd></div>
<div class="${this.#failed > 0 ? 'warn' : ''}"><dt>Failed sign-ins</dt><dd>${formatNumber(this.#failed)}</dd></div>
<div><dt>Refused requests</dt><dd>${formatNumber(this.#refused)}</dd></div>
<div class="${this.#emergency > 0 ? 'warn' : ''}"><dt>Emergency access</dt><dd>${formatNumber(this.#emergency)}</dd></div>
<div><dt>People involved</dt><dd>${formatNumber(activePeople)}</dd></div></dl>`;
    const toc = `<nav class="toc" aria-label="Contents"><ol><li><a href="#verification">What was verified</a></li><li><a href="#flagged">Flagged events (${formatNumber(this.#flagged)})</a></li><li><a href="#timeline">Timeline</a></li><li><a href="#people">People (${formatNumber(people.length)})</a></li><li><a href="#types">Events by type</a></li><li><a href="#days">Events per day</a></li></ol></nav>`;
    const verified = `<section id="verification" class="keep" aria-labelledby="h-verification"><h2 id="h-verification">What was verified</h2>${verificationBlock({
      kind: v.kind, origin: input.origin, signerFingerprint: v.signerFingerprint, treeSize: v.treeSize, rootHash: v.rootHash, firstSeq: v.firstSeq,
      range: `${capitalise(range)}${input.range.user ? `, records concerning ${this.#userWords(input.range.user)}` : ''}`, records: this.#records, seqSpan, zone: this.#times.zone,
    })}</section>`;
    const tableHead = `<thead><tr><th scope="col">#</th><th scope="col">Time (${this.#times.zone === 'UTC' ? 'UTC' : `UTC / ${esc(this.#times.zone)}`})</th><th scope="col" class="who">Who</th><th scope="col" class="what">What happened</th><th scope="col" class="where">Where</th><th scope="col">Outcome</th></tr></thead>`;
    const flagged = `<section id="flagged" aria-labelledby="h-flagged"><h2 id="h-flagged">Flagged events</h2>
<p>Events the ${v.kind === 'relay' ? 'relay' : 'workstation'} flags for a compliance officer's attention: emergency access, lockouts, the start of a run of failed sign-ins, refused exports, unusual sending.</p>
${this.#flaggedRows.length === 0 ? '<p class="muted">None in this export.</p>' : `<table>${tableHead}<tbody>${this.#flaggedRows.map((r) => r.html).join('\n')}</tbody></table>`}
${this.#flagged > this.#flaggedRows.length ? `<p class="muted">The first ${formatNumber(this.#flaggedRows.length)} of ${formatNumber(this.#flagged)} flagged events are shown; events.csv lists them all (column <code>flagged</code> = yes).</p>` : ''}</section>`;
    const shown = timeline.length;
    const timelineSection = `<section id="timeline" aria-labelledby="h-timeline"><h2 id="h-timeline">Timeline</h2>
${people.map((p) => `<span class="filter-target" id="who-${p.index}"></span>`).join('')}${types.map(([, t]) => `<span class="filter-target" id="what-${t.index}"></span>`).join('')}
<p>${shown === this.#records ? `All ${count(this.#records, 'event')} of this export, oldest first.` : `${formatNumber(shown)} of the ${formatNumber(this.#records)} events of this export, oldest first: every flagged one${this.#flagged > this.#flaggedRows.length ? ` (up to ${formatNumber(this.#flaggedLimit)})` : ''} and the first ${formatNumber(this.#rows.length)} others. <strong>events.csv has every event</strong>, with the same columns; filter it by <code>actor_username</code>, <code>subject</code> or <code>type</code>.`} Times are in UTC${this.#times.zone === 'UTC' ? '' : `, with the local time (${esc(this.#times.zone)}) below`}.</p>
<div class="filters"><details><summary>Show one person's events</summary><ul>${people.map((p) => `<li><a href="#who-${p.index}">${esc(p.label)}</a> <span class="muted">(${formatNumber(p.events)})</span></li>`).join('')}</ul></details>
<details><summary>Show one type of event</summary><ul>${types.map(([type, t]) => `<li><a href="#what-${t.index}">${esc(auditTypeLabel(type))}</a> <span class="muted">(${formatNumber(t.count)})</span></li>`).join('')}</ul></details>
<p><a href="#timeline">Show all events</a></p></div>
<div class="filter-state" role="status">${people.map((p) => `<p class="fs fs-who-${p.index}">Showing only events involving <strong>${esc(p.label)}</strong>${shownOf(p.shown, p.events)}. <a href="#timeline">Show all</a> · <a href="#person-${p.index}">Summary of this person</a></p>`).join('')}${types.map(([type, t]) => `<p class="fs fs-what-${t.index}">Showing only <strong>${esc(auditTypeLabel(type))}</strong> events${shownOf(t.shown, t.count)}. <a href="#timeline">Show all</a></p>`).join('')}</div>
${shown === 0 ? '<p class="muted">No events in this range.</p>' : `<table>${tableHead}<tbody>${timeline.map((r) => r.html).join('\n')}</tbody></table>`}</section>`;
    const peopleSection = `<section id="people" aria-labelledby="h-people"><h2 id="h-people">People</h2>
<p>Everyone this export mentions, with what they did and what was done to their account${v.kind === 'relay' ? ' (messages are counted per receiving workstation, as the relay sees them; their content is never in the log)' : ''}.</p>
${people.length === 0 ? '<p class="muted">No one.</p>' : `<div class="people">${people.map((p) => personSection(p, this.#people, this.#names)).join('\n')}</div>`}</section>`;
    const typesSection = `<section id="types" aria-labelledby="h-types"><h2 id="h-types">Events by type</h2>
<table><thead><tr><th scope="col">Event</th><th scope="col">Recorded as</th><th scope="col" class="n">Count</th><th scope="col" class="n">Flagged</th><th scope="col" class="n">Failed</th></tr></thead><tbody>${types.map(([type, t]) => `<tr><th scope="row"><a href="#what-${t.index}">${esc(auditTypeLabel(type))}</a></th><td><code>${esc(type)}</code></td><td class="n">${formatNumber(t.count)}</td><td class="n">${t.flagged > 0 ? formatNumber(t.flagged) : ''}</td><td class="n">${t.failed > 0 ? formatNumber(t.failed) : ''}</td></tr>`).join('')}</tbody>
<tfoot><tr><th scope="row">All events</th><td></td><td class="n">${formatNumber(this.#records)}</td><td class="n">${formatNumber(this.#flagged)}</td><td class="n">${formatNumber(this.#failed)}</td></tr></tfoot></table></section>`;
    const chart = dayChart(this.#days, this.#times.zone);
    const daysSection = `<section id="days" class="keep" aria-labelledby="h-days"><h2 id="h-days">Events per day</h2>${chart ?? '<p class="muted">No events in this range.</p>'}</section>`;
    return `${head}
${header}
${warning}${glance}${toc}
${verified}
${flagged}
${timelineSection}
${peopleSection}
${typesSection}
${daysSection}
</body></html>
`;
  }

  #rangeWords(): string {
    const { from, to } = this.#input.range;
    const start = !validTime(from) || from <= 0 ? 'from the start of the log' : `from ${this.#times.local(from)}`;
    const end = !validTime(to) || to >= 8.64e15 ? `to the time of export (${this.#times.local(this.#input.generatedAt)})` : `to ${this.#times.local(to)}`;
    return `${start} ${end}`;
  }

  #userWords(username: string): string {
    const person = this.#input.directory.people.find((p) => p.username === username);
    return person ? this.#names.userLabel(person.userId) : username;
  }
}

/** How many of someone's (or a type's) events the bounded timeline holds, when not all. */
const shownOf = (shown: number, all: number) => (shown === all ? '' : `: ${formatNumber(shown)} of ${formatNumber(all)} in this timeline, all in events.csv`);

/** People by username (titles such as "Dr." make display names a poor order), administrators last. */
const sortName = (p: PersonTally) => `${p.party.kind === 'admin' ? '1' : '0'}${(p.party.username ?? p.party.short).toLowerCase()}`;

function mergeBySeq(a: readonly Row[], b: readonly Row[]): Row[] {
  const out: Row[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (y === undefined || (x !== undefined && x.seq <= y.seq)) {
      out.push(x as Row);
      i++;
    } else {
      out.push(y);
      j++;
    }
  }
  return out;
}

/** The timeline's filters: a targeted anchor hides the other rows and shows its note. Ids are indexes, never names. */
function filterRules(people: readonly PersonTally[], typeIndexes: readonly number[]): string {
  const rules = [
    ...people.map((p) => `#who-${p.index}:target~table tbody tr:not(.p${p.index}){display:none}#who-${p.index}:target~.filter-state .fs-who-${p.index}{display:block}`),
    ...typeIndexes.map((i) => `#what-${i}:target~table tbody tr:not(.t${i}){display:none}#what-${i}:target~.filter-state .fs-what-${i}{display:block}`),
  ];
  return rules.join('\n');
}
