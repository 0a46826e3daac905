/**
 * The report's per-person tallies: for each person (and each administrator account) what they did and
 * what was done to them, counted as records stream by. Bounded by the number of people and workstations,
 * never by the number of records.
 */
import type { AuditFacts, DescribedRecord } from './describe';
import { Details } from './describe';
import type { AuditNames, AuditParty } from './people';
import { capitalise } from './words';

/** Names kept per list (workstations enrolled, places signed in from): the counts say how many there were. */
const MAX_NAMES = 20;
/** Counterparties kept per person; further ones are counted together. */
const MAX_COUNTERPARTIES = 500;
/** Types kept per person (what they did, what they were involved in). */
const MAX_TYPES = 200;

/**
 * Counts per name (a place, a person's key, a type), in the order first counted; past `limit` names the
 * rest are counted together under '…'. A count is a box in the map, so counting again costs one lookup.
 */
export class Counts {
  readonly #boxes = new Map<string, { n: number }>();
  #lastKey = '';
  #lastBox: { n: number } | null = null;
  constructor(readonly limit: number) {}

  get size(): number {
    return this.#boxes.size;
  }

  add(key: string): void {
    // The name counted last is usually counted next (a person's actions are mostly one type, their messages go
    // to the same colleague's workstations): its box is kept at hand, and the map not searched.
    if (key === this.#lastKey && this.#lastBox !== null) {
      this.#lastBox.n++;
      return;
    }
    const box = this.#boxes.get(key);
    if (box !== undefined) {
      box.n++;
      this.#lastKey = key;
      this.#lastBox = box;
    }
    else if (this.#boxes.size < this.limit) this.#boxes.set(key, { n: 1 });
    else {
      const rest = this.#boxes.get('…');
      if (rest !== undefined) rest.n++;
      else this.#boxes.set('…', { n: 1 });
    }
  }

  /** [name, count] in the order first counted. */
  entries(): [string, number][] {
    return Array.from(this.#boxes, ([key, box]) => [key, box.n]);
  }
}

export class PersonTally {
  /** Records that involve the person (as actor, subject or the other side of a message). */
  events = 0;
  /** Of those, the ones the report's timeline shows. */
  shown = 0;
  flagged = 0;
  signIns = 0;
  readonly signInPlaces = new Counts(MAX_NAMES);
  failedSignIns = 0;
  lockouts = 0;
  readonly enrolled: string[] = [];
  readonly revoked: string[] = [];
  sent = 0;
  readonly sentTo = new Counts(MAX_COUNTERPARTIES);
  /** Messages addressed to the person (accepted by the relay for one of their workstations). */
  addressed = 0;
  readonly addressedFrom = new Counts(MAX_COUNTERPARTIES);
  delivered = 0;
  /** Urgent messages sent (issue 19): each send counted once, however many workstations it went to. */
  urgentSent = 0;
  /** The commit time of the last urgent envelope counted (the envelopes of one send share it). */
  lastUrgentAt = -1;
  /** Of those, the ones with an escalation ladder; acknowledgements the person signed; escalations that reached them. */
  escalationsHeld = 0;
  acknowledged = 0;
  escalatedTo = 0;
  exports = 0;
  emergencyIssued = 0;
  emergencyUsed = 0;
  /** What the person did as an actor, by type (administrators' actions, and everyone's). */
  readonly actions = new Counts(MAX_TYPES);
  /** Records that involve the person as subject or the other side, by type. */
  readonly involvedIn = new Counts(MAX_TYPES);
  firstAt = Infinity;
  lastAt = -Infinity;

  constructor(readonly key: string, readonly index: number, public party: AuditParty, public label: string) {}
}

const note = (list: string[], name: string) => {
  if (list.length < MAX_NAMES) list.push(name);
};

/** Whether the list names someone other than `actor` (a loop, not a closure per record). */
function someoneElse(others: readonly (PersonTally | null)[], actor: PersonTally): boolean {
  for (const o of others) if (o !== null && o !== actor) return true;
  return false;
}

/** The key a party is tallied under: a user id, or the administrator's account; null for no one in particular. */
export function personKey(p: AuditParty): string | null {
  if (p.userId !== null) return p.userId;
  if (p.kind === 'admin') return p.osAccount ? `admin:${p.osAccount}` : 'admin';
  if (p.kind === 'workstation' && p.username !== null) return `owner:${p.username}`;
  return null;
}

export class PeopleTallies {
  readonly #people = new Map<string, PersonTally>();

  constructor(private readonly names: AuditNames) {}

  get size(): number {
    return this.#people.size;
  }

  all(): PersonTally[] {
    return [...this.#people.values()];
  }

  get(key: string): PersonTally | undefined {
    return this.#people.get(key);
  }

  /** The person's tally, created on first sight; null for parties that are no one (the relay, an address). */
  of(p: AuditParty): PersonTally | null {
    const key = personKey(p);
    if (key === null) return null;
    let tally = this.#people.get(key);
    if (!tally) {
      tally = new PersonTally(key, this.#people.size, p, this.#label(p));
      this.#people.set(key, tally);
    } else if (tally.party.person === null && p.person !== null) {
      tally.party = p;
      tally.label = this.#label(p);
    }
    return tally;
  }

  /** The person, whichever way the record named them (at a workstation, through the API). */
  #label(p: AuditParty): string {
    return p.userId !== null ? this.names.userLabel(p.userId) : capitalise(p.label);
  }

  /**
   * Counts one record; returns the tallies of everyone it involves (for the timeline's per-person filter).
   * `type`: the record's type (the same string each time, when the caller has one, is found in the maps quicker).
   */
  add(record: DescribedRecord, facts: AuditFacts, type: string = record.type): readonly PersonTally[] {
    const actor = this.of(facts.actor);
    const subject = this.of(facts.subject);
    // Everyone once, in the order actor, subject, counterparties.
    const involved: PersonTally[] = [];
    if (actor) involved.push(actor);
    if (subject && subject !== actor) involved.push(subject);
    const parties = facts.counterparties;
    const others: (PersonTally | null)[] = [];
    for (const p of parties) {
      const t = this.of(p);
      others.push(t);
      if (t && !involved.includes(t)) involved.push(t);
    }
    for (const t of involved) {
      t.events++;
      if (facts.flagged) t.flagged++;
      if (record.at < t.firstAt) t.firstAt = record.at;
      if (record.at > t.lastAt) t.lastAt = record.at;
    }
    if (actor) actor.actions.add(type);
    for (const t of involved) if (t !== actor) t.involvedIn.add(type);
    const target = subject ?? actor;
    // Most records are messages: their cases first (a string compared with each case label costs a little).
    switch (record.type) {
      case 'envelope.accepted':
      case 'message.sent':
        // A copy for the sender's own other workstations is no message to anyone.
        if (actor && someoneElse(others, actor)) {
          actor.sent++;
          if (record.at !== actor.lastUrgentAt && (record.details as { urgent?: unknown } | undefined)?.urgent === true) {
            actor.urgentSent++;
            actor.lastUrgentAt = record.at;
          }
          for (const other of others) if (other && other !== actor) actor.sentTo.add(other.key);
        }
        for (const other of others) {
          if (!other || other === actor) continue;
          other.addressed++;
          if (actor) other.addressedFrom.add(actor.key);
        }
        break;
      case 'envelope.delivered':
        if (actor) actor.delivered++;
        break;
      case 'escalation.held':
        if (actor) actor.escalationsHeld++;
        break;
      case 'message.acknowledged':
        if (actor) actor.acknowledged++;
        break;
      case 'escalation.released':
        for (const id of new Details(record.details).text('recipients').split(' ')) {
          const t = id === '' ? null : this.of(this.names.party(id));
          if (t) t.escalatedTo++;
        }
        break;
      case 'login.success':
      case 'session.signedIn':
      case 'signIn':
      case 'session.unlocked':
      case 'unlock':
        if (target) {
          target.signIns++;
          target.signInPlaces.add(facts.actor.workstation ?? (new Details(record.details).flag('newDevice') ? 'a new workstation' : facts.actor.address ?? 'unknown'));
        }
        break;
      case 'login.failure':
      case 'session.unlockFailed':
      case 'unlock.failed':
        if (target) target.failedSignIns++;
        break;
      case 'account.locked':
        if (subject) subject.lockouts++;
        break;
      case 'device.enrolled':
        if (target) note(target.enrolled, new Details(record.details).text('name') || 'unnamed workstation');
        break;
      case 'device.revoked':
        if (subject) note(subject.revoked, facts.subject.workstation ?? 'a workstation');
        break;
      case 'message.received':
        if (actor) {
          actor.addressed++;
          for (const other of others) if (other && other !== actor) actor.addressedFrom.add(other.key);
        }
        break;
      case 'audit.exported':
      case 'audit.relayExported':
        if (actor) actor.exports++;
        break;
      case 'emergency.issued':
        if (subject) subject.emergencyIssued++;
        break;
      case 'emergency.used':
        if (subject) {
          subject.emergencyUsed++;
          subject.signIns++;
          subject.signInPlaces.add(`emergency access from ${facts.actor.address ?? 'an unknown address'}`);
        }
        break;
      default:
        break;
    }
    return involved;
  }
}
