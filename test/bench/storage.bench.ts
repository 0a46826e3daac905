/**
 * Issue 4's storage benchmark: a 100,000-message history in the encrypted profile database (SQLCipher
 * with a raw key) next to the same schema and the same MessageStore code in plain SQLite (the same
 * binary without a key), in the same run. Goal: ours/plain at most 1.3.
 */
import Database from '@signalapp/sqlcipher';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConversationId, DeviceAddress, MessageId } from '../../shared/ids';
import { MessageStore } from '../../main/core/storage/MessageStore';
import { ProfileDatabase, type Params, type SqlRunner } from '../../main/core/storage/ProfileDatabase';
import { PROFILE_MIGRATIONS } from '../../main/core/storage/migrations';
import { median, type BenchRow } from './measure';

const SUITE = 'local storage (100k messages)';
const GOAL = '<= 1.3';
const COUNT = 100_000;
const WORDS = ['potassium', 'rounds', 'bed', 'labs', 'troponin', 'handover', 'stable', 'consult', 'pain', 'fluids', 'discharge', 'antibiotics', 'imaging', 'vitals', 'family'];

/** Plain SQLite with the profile schema: the baseline. */
class PlainDatabase implements SqlRunner {
  readonly db: Database;
  constructor(path: string) {
    this.db = new Database(path, { cacheStatements: true });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    const fresh = (this.db.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE name = 'messages'`).get() as { n: number }).n === 0;
    if (fresh) for (const m of PROFILE_MIGRATIONS) this.db.exec(m.up);
  }
  all<T>(sql: string, params?: Params): T[] { return this.db.prepare(sql).all(params) as T[]; }
  get<T>(sql: string, params?: Params): T | undefined { return this.db.prepare(sql).get(params) as T | undefined; }
  run(sql: string, params?: Params): number { return this.db.prepare(sql).run(params).changes; }
  transaction<T>(fn: () => T): T {
    this.db.exec('BEGIN');
    try { const r = fn(); this.db.exec('COMMIT'); return r; } catch (e) { this.db.exec('ROLLBACK'); throw e; }
  }
  close(): void { this.db.close(); }
}

function ms(fn: () => unknown): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function fill(store: MessageStore, runner: SqlRunner, conversations: ConversationId[]): void {
  const sender: DeviceAddress = { userId: '00000000-0000-4000-8000-000000000001' as never, deviceId: 1 as never };
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  runner.transaction(() => {
    for (let i = 0; i < COUNT; i++) {
      // Every 1,000th message mentions a rare word, so the search below has exactly 100 hits.
      const words = Array.from({ length: 12 }, () => WORDS[Math.floor(rand() * WORDS.length)]);
      if (i % 1000 === 0) words[5] = 'hyperkalaemia';
      const body = words.join(' ');
      store.insert({ id: `00000000-0000-4000-8000-${i.toString().padStart(12, '0')}` as MessageId, conversationId: conversations[i % conversations.length]!, sender, sentAt: 1_700_000_000_000 + Math.floor(i / 2), receivedAt: 0, body, replyTo: null, urgent: false });
    }
  });
}

interface Figures { insert: number; open: number; pageCold: number; pageWarm: number; deepCold: number; deepWarm: number; searchCold: number; searchWarm: number }

function measure(open: () => { runner: SqlRunner; close(): void }, dir: string, conversations: ConversationId[]): Figures {
  let handle = open();
  let store = new MessageStore(handle.runner);
  const insert = ms(() => fill(store, handle.runner, conversations));
  handle.close();
  const conversation = conversations[0]!;
  const pageBack = (s: MessageStore, pages: number) => {
    let page = s.page(conversation, 50);
    for (let i = 1; i < pages && page.length > 0; i++) page = s.page(conversation, 50, { sentAt: page.at(-1)!.sentAt, id: page.at(-1)!.id });
  };
  const cold = <T>(fn: (s: MessageStore) => T): number => {
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      handle = open();
      store = new MessageStore(handle.runner);
      samples.push(ms(() => fn(store)));
      handle.close();
    }
    return median(samples);
  };
  const openTime = median(Array.from({ length: 5 }, () => {
    const t = ms(() => { handle = open(); handle.runner.get('SELECT count(*) FROM messages WHERE rowid = 1'); });
    handle.close();
    return t;
  }));
  const figures: Figures = {
    insert, open: openTime,
    pageCold: cold((s) => s.page(conversation, 50)),
    deepCold: cold((s) => pageBack(s, 20)),
    searchCold: cold((s) => s.search('hyperkal', 100)),
    pageWarm: 0, deepWarm: 0, searchWarm: 0,
  };
  handle = open();
  store = new MessageStore(handle.runner);
  pageBack(store, 20);
  store.search('hyperkal', 100);
  figures.pageWarm = median(Array.from({ length: 50 }, () => ms(() => store.page(conversation, 50))));
  figures.deepWarm = median(Array.from({ length: 20 }, () => ms(() => pageBack(store, 20))));
  figures.searchWarm = median(Array.from({ length: 50 }, () => ms(() => store.search('hyperkal', 100))));
  handle.close();
  void dir;
  return figures;
}

export async function runStorageBench(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'rounds-storage-bench-'));
  try {
    const conversations = Array.from({ length: 20 }, (_, i) => `00000000-0000-4000-9000-${i.toString().padStart(12, '0')}` as ConversationId);
    const key = Buffer.alloc(32, 42);
    const ours = measure(() => {
      const db = new ProfileDatabase(join(dir, 'encrypted.db'), key);
      return { runner: db, close: () => db.close() };
    }, dir, conversations);
    const plain = measure(() => {
      const db = new PlainDatabase(join(dir, 'plain.db'));
      return { runner: db, close: () => db.close() };
    }, dir, conversations);
    const row = (name: string, o: number, p: number): BenchRow => ({ suite: SUITE, name, unit: 'ms', ours: o, bare: p, ratio: o / p, goal: GOAL });
    return [
      row('insert 100,000 messages (one transaction, with FTS)', ours.insert, plain.insert),
      row('open and first read', ours.open, plain.open),
      row('newest page of 50, cold', ours.pageCold, plain.pageCold),
      row('newest page of 50, warm', ours.pageWarm, plain.pageWarm),
      row('20 pages back, cold', ours.deepCold, plain.deepCold),
      row('20 pages back, warm', ours.deepWarm, plain.deepWarm),
      row('full-text search, 100 hits, cold', ours.searchCold, plain.searchCold),
      row('full-text search, 100 hits, warm', ours.searchWarm, plain.searchWarm),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
