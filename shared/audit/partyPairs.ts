/**
 * Text worked out once per pair of parties: the sentence of a message record (and so its events.csv cell)
 * depends on its sender and recipient alone, and an export repeats the same pairs hundreds of thousands of
 * times. Bounded: past MAX_PAIRS pairs nothing more is kept (those records are described afresh, as before).
 */
import type { AuditParty } from './people';

/** Pairs kept per memo: a cell is ~120 characters, so a few megabytes at most. */
const MAX_PAIRS = 50_000;

export class PartyPairMemo {
  /** By the first party (parties are shared per id, so identity is the id), then the second (null: none). */
  readonly #byFirst = new WeakMap<AuditParty, Map<AuditParty | null, string>>();
  #size = 0;

  get(first: AuditParty, second: AuditParty | null): string | undefined {
    return this.#byFirst.get(first)?.get(second);
  }

  set(first: AuditParty, second: AuditParty | null, value: string): void {
    if (this.#size >= MAX_PAIRS) return;
    let bySecond = this.#byFirst.get(first);
    if (!bySecond) this.#byFirst.set(first, (bySecond = new Map()));
    bySecond.set(second, value);
    this.#size++;
  }
}

/** Record types whose sentence depends only on the actor and the one counterparty (relaySentences.ts). */
export type PairSentenceType = 'envelope.accepted' | 'envelope.delivered';

/** The type, when a relay record's sentence is a function of its actor and counterparty alone; else null. */
export function pairSentenceType(record: { readonly type: string; readonly actor?: unknown }, counterparties: readonly AuditParty[]): PairSentenceType | null {
  if (typeof record.actor !== 'string' || counterparties.length > 1) return null;
  return record.type === 'envelope.accepted' || record.type === 'envelope.delivered' ? record.type : null;
}
